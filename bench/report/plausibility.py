"""Values no cell test can produce, flagged in the report (a damaged or overwritten file, a
broken sensor): they are reported, never silently averaged into a metric.

Bounds are physical, not tuned to a bench: temperatures outside -100..1000 °C (no thermocouple
reading on a cell bench lies there); voltages below minus or above twice the cell's maximum
voltage; currents above ten times the protocol's current limit; test times that are not finite,
negative, or run backwards. Units: V, A, °C, s.
"""

from __future__ import annotations

import math

import numpy as np

from bench.analysis.numbers import positive_or_none
from bench.runfile.reader import RunFile

#: Plausible temperatures on a cell bench, °C (a thermocouple type K spans -200..1260 °C).
TEMPERATURE_RANGE_C = (-100.0, 1000.0)
#: A voltage is implausible beyond this multiple of the cell's maximum voltage (either sign).
VOLTAGE_FACTOR = 2.0
#: A current is implausible beyond this multiple of the protocol's current limit.
CURRENT_FACTOR = 10.0
#: At most this many rows are quoted per problem.
EXAMPLES = 3


def implausible_values(run: RunFile, samples: np.ndarray | None = None) -> list[str]:
    """One line per kind of implausible value in ``/samples`` and ``/steps``; empty when none."""
    attrs = run.attrs
    samples = run.samples if samples is None else samples
    names = set(samples.dtype.names or ())
    cell = attrs.get("cell") or {}
    limits = attrs.get("limits") or {}
    v_max = positive_or_none(cell.get("voltage_max_v")) or positive_or_none(limits.get("voltage_max_v")) or 5.0
    i_max = positive_or_none(limits.get("current_max_a")) or positive_or_none(cell.get("current_max_a"))
    low_t, high_t = TEMPERATURE_RANGE_C
    out: list[str] = []

    def flag(label: str, values: np.ndarray, bad: np.ndarray, bound: str) -> None:
        rows = np.flatnonzero(bad)
        if len(rows):
            quoted = ", ".join(f"{values[r]:.4g} at row {r}" for r in rows[:EXAMPLES])
            out.append(f"/samples {label}: {len(rows)} row(s) {bound} ({quoted}); the file may be damaged")

    for label in ("Surface Temperature T1 / degC", "Ambient Temperature / degC"):
        if label in names:
            t = samples[label].astype(float)
            flag(label, t, np.isinf(t) | (np.isfinite(t) & ((t < low_t) | (t > high_t))),
                 f"outside {low_t:g}..{high_t:g} °C")
    if "Voltage / V" in names:
        v = samples["Voltage / V"].astype(float)
        flag("Voltage / V", v, ~np.isfinite(v) | (np.abs(v) > VOLTAGE_FACTOR * v_max),
             f"beyond ±{VOLTAGE_FACTOR * v_max:g} V ({VOLTAGE_FACTOR:g} x the cell's {v_max:g} V)")
    if "Current / A" in names and i_max:
        i = samples["Current / A"].astype(float)
        flag("Current / A", i, ~np.isfinite(i) | (np.abs(i) > CURRENT_FACTOR * i_max),
             f"beyond ±{CURRENT_FACTOR * i_max:g} A ({CURRENT_FACTOR:g} x the {i_max:g} A limit)")
    if "Test Time / s" in names:
        t = samples["Test Time / s"].astype(float)
        flag("Test Time / s", t, ~np.isfinite(t) | (t < 0), "not finite or negative")
        if len(t) > 1:
            back = np.zeros(len(t), dtype=bool)
            back[1:] = t[1:] < t[:-1]
            flag("Test Time / s", t, back, "earlier than the row before")
    for step in run.steps:
        for key in ("temperature_max_c", "temperature_min_c"):
            value = step.get(key)
            if isinstance(value, float) and (math.isinf(value) or (math.isfinite(value) and not low_t <= value <= high_t)):
                out.append(f"/steps step {step.get('step_count')}: {key} = {value:.4g} outside "
                           f"{low_t:g}..{high_t:g} °C; the file may be damaged")
    return out

