"""The cell's operating window, enforced on every sample of a driven step.

A datasheet gives a charge window and a discharge window (minimum / maximum cell temperature)
and a maximum charge and discharge current (:class:`protocols.steps.CellSpec`). ``bench
validate`` refuses a step planned outside them (:func:`protocols.checks.check_window`); this rule
trips when the measured cell leaves them during a run: charging (current above
:data:`REST_CURRENT_A`) with the cell colder or hotter than its charge window, discharging outside
its discharge window, or a charging current above the cell's charge maximum. The temperature
bounds are widened by ``tolerance_k`` (thermocouple accuracy: a cell soaked at exactly its
minimum charge temperature reads a little below it); the current bound by 5 % (as the
protocol's hard current limit). A window the cell does not state is not enforced.
Units: °C, K, A (+ = charge).
"""

from __future__ import annotations

import math

from bench.safety.rules import REST_CURRENT_A, StepContext, Trip
from bench.sample import Sample
from protocols.steps import CellSpec


class OperatingWindowRule:
    """Trips ``operating_window`` when a driven step takes the cell outside its stated window."""

    __slots__ = ("name", "ctx", "c_low", "c_high", "d_low", "d_high", "i_charge_max")

    def __init__(self, ctx: StepContext, cell: CellSpec, tolerance_k: float = 1.0) -> None:
        self.name = "operating_window"
        self.ctx = ctx
        (c_low, c_high), (d_low, d_high) = cell.window_c(True), cell.window_c(False)
        self.c_low = -math.inf if c_low is None else c_low - tolerance_k
        self.c_high = math.inf if c_high is None else c_high + tolerance_k
        self.d_low = -math.inf if d_low is None else d_low - tolerance_k
        self.d_high = math.inf if d_high is None else d_high + tolerance_k
        self.i_charge_max = cell.charge_current_max_a * 1.05

    def applies(self, ctx: StepContext) -> bool:
        """Only steps that drive current (cc, cv, cp, pulse)."""
        return ctx.driven

    def quiet_box(self, sample: Sample) -> dict[str, tuple[float, float]] | None:
        """The window of what the cell is doing at ``sample`` (charging, discharging, resting) and
        the currents that keep it so: inside, nothing trips (bench.safety.gate)."""
        i = sample.current_a
        if i > REST_CURRENT_A:
            return {"current_a": (-REST_CURRENT_A, self.i_charge_max), "temperature_cell_c": (self.c_low, self.c_high)}
        if i < -REST_CURRENT_A:
            return {"current_a": (-math.inf, REST_CURRENT_A), "temperature_cell_c": (self.d_low, self.d_high)}
        if i == i:
            return {"current_a": (-REST_CURRENT_A, REST_CURRENT_A)}
        return None

    def check(self, sample: Sample) -> Trip | None:
        """Trip when the cell is outside the window of what it is doing."""
        i, t = sample.current_a, sample.temperature_cell_c
        if i > REST_CURRENT_A:
            if i > self.i_charge_max:
                return Trip(self.name, sample.time_s, f"charging at {i:.4g} A, above the cell's maximum charge "
                            f"current {self.i_charge_max / 1.05:g} A", {"current_a": i, "limit": self.i_charge_max})
            low, high, what = self.c_low, self.c_high, "charge"
        elif i < -REST_CURRENT_A:
            low, high, what = self.d_low, self.d_high, "discharge"
        else:
            return None
        if low <= t <= high or t != t:
            return None
        bound = low if t < low else high
        return Trip(self.name, sample.time_s,
                    f"cell at {t:.4g} °C while {what[:-1]}ing: outside the cell's {what} window "
                    f"({'below' if t < low else 'above'} {bound:g} °C incl. tolerance)",
                    {"temperature_cell_c": t, "limit": bound, "current_a": i})
