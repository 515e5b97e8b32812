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
