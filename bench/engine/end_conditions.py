"""Step end conditions, evaluated on every sample: voltage, current, time, Ah, Wh, SOC,
cell temperature, dT/dt and "cell within N K of the chamber setpoint for T"."""

from __future__ import annotations

import math

from bench.engine.counters import _StepState
from bench.sample import Sample
from protocols.steps import EndCondition, Step

#: Voltage end conditions count as met within this margin, V (the instrument clamps exactly at
#: its limit, and measurement noise would otherwise keep the reading a hair below it).
VOLTAGE_TOLERANCE_V = 0.001
#: Window for the dT/dt estimate, s.
DTDT_WINDOW_S = 30.0


def end_reason(step: Step, sample: Sample, state: _StepState, chamber_setpoint_c: float | None) -> str:
    """Why the step ends at this sample ("" = it goes on): "time" or the condition as written."""
    if step.duration_s is not None and sample.step_time_s >= step.duration_s - 1e-9:
        return "time"
    for number, condition in enumerate(step.until):
        if condition_met(condition, sample, state, chamber_setpoint_c):
            if condition.hold_s > 0:
                since = state.held_since.setdefault(number, sample.time_s)
                if sample.time_s - since < condition.hold_s:
                    continue
            return condition.describe()
        if state.held_since:
            state.held_since.pop(number, None)
    return ""


def condition_met(condition: EndCondition, sample: Sample, state: _StepState, chamber_setpoint_c: float | None) -> bool:
    """Whether ``condition`` holds at ``sample`` (NaN readings never meet a condition)."""
    q, value = condition.quantity, condition.value
    if q == "voltage_v":
        measured = sample.voltage_v
        tol = VOLTAGE_TOLERANCE_V
        return measured >= value - tol if condition.op == ">=" else measured <= value + tol
    if q == "current_a":
        return sample.step_time_s > 0 and abs(sample.current_a) <= value
    if q == "capacity_ah":
        return abs(sample.step_ah) >= value
    if q == "energy_wh":
        return abs(sample.step_wh) >= value
    if q == "time_s":
        return sample.step_time_s >= value
    if q == "soc":
        return sample.soc >= value if condition.op == ">=" else sample.soc <= value
    if q == "temperature_c":
        t = sample.temperature_cell_c
        return t == t and (t >= value if condition.op == ">=" else t <= value)
    if q == "stable_within_k":
        t = sample.temperature_cell_c
        return chamber_setpoint_c is not None and t == t and abs(t - chamber_setpoint_c) <= value
    if q == "dtdt_k_per_s":
        temps = state.temps
        if len(temps) < 2 or temps[-1][0] - temps[0][0] < DTDT_WINDOW_S * 0.5:
            return False
        (t0, y0), (t1, y1) = temps[0], temps[-1]
        rate = (y1 - y0) / (t1 - t0)
        return rate >= value if condition.op == ">=" else rate <= value
    return False


def step_limit_violation(checks: tuple[tuple[str, str, float | None, float | None], ...],
                         sample: Sample) -> tuple[str, float, float] | None:
    """``(limit name, value, bound)`` of the first step limit ``sample`` exceeds, or None."""
    for name, attribute, low, high in checks:
        value = getattr(sample, attribute)
        if math.isnan(value):
            continue
        if high is not None and value > high:
            return name, value, high
        if low is not None and value < low:
            return name, value, low
    return None


#: A soak without a "within N K" condition counts as in band when the cell ends within this of
#: the chamber setpoint, K (the equilibrium a timed soak stands for; GB/T 31486's 2 K criterion
#: also used by bench.analysis.cold).
SOAK_BAND_K = 2.0


def soak_out_of_band(step: Step, sample: Sample, chamber_setpoint_c: float | None) -> dict[str, float] | None:
    """For a soak ending at ``sample``: the cell temperature, setpoint and band when the cell is
    outside the band (the step's ``within N K``, else :data:`SOAK_BAND_K`), else None. A soak
    whose cell temperature is unknown (NaN) counts as out of band: nothing shows it reached it."""
    if step.kind != "soak" or chamber_setpoint_c is None:
        return None
    band = next((c.value for c in step.until if c.quantity == "stable_within_k"), SOAK_BAND_K)
    cell = sample.temperature_cell_c
    if cell == cell and abs(cell - chamber_setpoint_c) <= band:
        return None
    return {"setpoint_c": chamber_setpoint_c, "cell_temperature_c": cell, "band_k": band,
            "chamber_air_c": sample.temperature_chamber_c}
