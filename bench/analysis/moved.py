"""Charge moved along a stretch of ``/samples`` rows, from the engine's counters, not the rows.

The engine integrates Ah at the acquisition rate (every sample the supervisor checked) and writes
the running sums into every row: ``Charging Capacity / Ah`` and ``Discharging Capacity / Ah``
(magnitudes within the cycle, reset at each cycle start). A trapezoid over the rows gives the
same charge only when every sample is a row; a run recorded by change (``sampling: record_when``,
:mod:`bench.engine.recording`) keeps a row a minute on a smooth CC stretch, and a trapezoid there
misses the current's changes between rows. Differences of the counters are exact at any density.
Units: Ah, signed (+ = into the cell).
"""

from __future__ import annotations

import numpy as np

CYCLE = "Cycle Count / 1"
CHARGE_AH, DISCHARGE_AH = "Charging Capacity / Ah", "Discharging Capacity / Ah"


def moved_ah(rows: np.ndarray) -> np.ndarray:
    """Net charge (Ah, + = into the cell) moved from the first of ``rows`` to each row (0 at the
    first): consecutive rows of a run, possibly spanning steps and cycles (the per-cycle counters
    restart at a cycle's first row, so the count carries on from the previous cycle's last row
    plus what the first row of the new cycle counted)."""
    if len(rows) == 0:
        return np.zeros(0)
    net = np.asarray(rows[CHARGE_AH], dtype=float) - np.asarray(rows[DISCHARGE_AH], dtype=float)
    cycle = np.asarray(rows[CYCLE])
    restarts = np.flatnonzero(cycle[1:] != cycle[:-1]) + 1
    if restarts.size:  # carry each cycle's end count into the next cycle's rows
        carry = np.zeros(net.size)
        carry[restarts] = net[restarts - 1]
        net = net + np.cumsum(carry)
    return net - net[0]


def extreme_c(rows: np.ndarray, steps: list[dict], highest: bool) -> float:
    """The highest (``highest``) or lowest cell temperature, °C, of ``rows`` and of ``steps``
    (``/steps`` rows: their ``temperature_max_c`` / ``temperature_min_c`` are kept by the engine
    from every acquired sample, so a peak between two rows recorded by change still counts);
    NaN when neither has a reading."""
    cell = np.asarray(rows["Surface Temperature T1 / degC"], dtype=float) if len(rows) else np.zeros(0)
    key = "temperature_max_c" if highest else "temperature_min_c"
    values = np.concatenate((cell, np.array([float(s[key]) for s in steps], dtype=float)))
    values = values[np.isfinite(values)]
    if not values.size:
        return float("nan")
    return float(values.max() if highest else values.min())


def time_mean(time_s: np.ndarray, values: np.ndarray) -> float:
    """Time-weighted mean of ``values`` sampled at ``time_s`` (trapezoid / duration; rows may be
    unevenly spaced, as recorded by change); the plain mean when the rows span no time; NaN when
    no value is finite."""
    t = np.asarray(time_s, dtype=float)
    x = np.asarray(values, dtype=float)
    ok = np.isfinite(t) & np.isfinite(x)
    t, x = t[ok], x[ok]
    if not x.size:
        return float("nan")
    span = float(t[-1] - t[0])
    if x.size < 2 or span <= 0:
        return float(x.mean())
    return float(np.sum(0.5 * (x[1:] + x[:-1]) * np.diff(t)) / span)
