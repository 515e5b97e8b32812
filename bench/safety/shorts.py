"""Internal-short signatures: what a shorted cell looks like in voltage, current and temperature.

A short (a dendrite, a particle, a nail) drains the cell through a parallel resistance: the
voltage steps down by R0 x I_short at once (hard shorts), sags at rest, rises back in current
during a CV hold, falls during a CC charge, and the resting cell warms itself. Each signature is
one rule; see :mod:`bench.safety.rules` for the rule interface and docs/safety.md for the
thresholds (``limits: short_*``). Units: s, V, A (+ = charge), °C.
"""

from __future__ import annotations

import math
from collections import deque

from bench.safety.rules import REST_CURRENT_A, StepContext, Trip
from bench.sample import Sample


class VoltageCollapseRule:
    """A voltage step down between two samples with the setpoint unchanged (a hard short).

    Compares the latest voltage change with the change before it, so the steady slope of a
    discharge (even at its knee) does not count; only samples of the same step are compared.
    """

    __slots__ = ("name", "ctx", "drop_v", "_serial", "_v1", "_v2")

    def __init__(self, ctx: StepContext, drop_v: float) -> None:
        self.name = "internal_short"
        self.ctx = ctx
        self.drop_v = drop_v
        self._serial = -1
        self._v1 = math.nan
        self._v2 = math.nan

    def applies(self, ctx: StepContext) -> bool:
        """Not in Replay steps: their setpoint changes at every breakpoint, so a voltage step
        between two samples is the load's, not a short's (hard limits, dT/dt and runaway stay on)."""
        return ctx.kind != "replay"

    def check(self, sample: Sample) -> Trip | None:
        """Trip on a sudden voltage drop of more than ``drop_v``."""
        v = sample.voltage_v
        if self._serial != self.ctx.serial:
            self._serial = self.ctx.serial
            if self.ctx.output_changed:
                self._v1 = self._v2 = math.nan
        v1, v2 = self._v1, self._v2
        self._v2, self._v1 = v1, v
        if v2 != v2:  # the first two samples of a step carry the setpoint change's transient
            return None
        step = v - v1
        trend = v1 - v2
        if trend > 0.0:
            trend = 0.0
        # A short's ohmic step is the same at any sampling rate; a steepening discharge curve
        # changes by more per sample the longer the period: allow twice the previous change.
        if step >= -self.drop_v or step - trend >= -(self.drop_v - 2.0 * trend):
            return None
        return Trip(self.name, sample.time_s,
                    f"voltage collapsed {1000 * (v1 - v):.0f} mV in one sample ({self.ctx.kind} step): internal short?",
                    {"voltage_v": v, "voltage_before_v": v1, "drop_v": v1 - v, "limit": self.drop_v})


class _RestWindowRule:
    """Shared by the rest rules: a sliding window of one reading over ``window_s``, cleared at
    each new step, filled only at rest (output off, no current) after ``settle_s`` of the step.

    The window keeps (time, value) pairs back to the newest one at least ``window_s`` old; its
    slope is (newest - oldest) / their time span, once that span is at least half the window.
    """

    __slots__ = ("name", "ctx", "settle_s", "span_s", "times", "values", "_serial", "_min_span")

    def __init__(self, name: str, ctx: StepContext, settle_s: float, window_s: float) -> None:
        self.name = name
        self.ctx = ctx
        self.settle_s = settle_s
        self.span_s = window_s
        self.times: deque[float] = deque()
        self.values: deque[float] = deque()
        self._min_span = 0.5 * window_s
        self._serial = -1

    def applies(self, ctx: StepContext) -> bool:
        """Only while the output is off."""
        return not ctx.driven

    def _rest_slope(self, sample: Sample, value: float) -> float | None:
        """Clear the window at a new step; at a settled rest sample add ``value`` and return the
        window's slope, per second (None: not resting, or the window is still too short)."""
        # Runs for every resting sample of two rules: the window is worked on in place, one call.
        ctx = self.ctx
        times, values = self.times, self.values
        if ctx.serial != self._serial:
            self._serial = ctx.serial
            times.clear()
            values.clear()
        if ctx.driven or sample.step_time_s < self.settle_s:
            return None
        time_s = sample.time_s
        times.append(time_s)
        values.append(value)
        # drop the oldest pair while the next one is old enough to start the window (keep two)
        limit = time_s - self.span_s
        size = len(times)
        while size > 2 and times[1] <= limit:
            times.popleft()
            values.popleft()
            size -= 1
        if size < 2:
            return None
        span = time_s - times[0]
        if span < self._min_span:
            return None
        return (value - values[0]) / span


class RestVoltageDropRule(_RestWindowRule):
    """At rest (no current) after ``settle_s``, the voltage falling faster than ``max_v_per_s``
    and not slowing down.

    A healthy cell's rest voltage relaxes ever more slowly (a sum of decaying exponentials, or
    diffusion's ``t^-1/2``): its fall rate over the second half of the time since settling is
    below the rate over the first half, at any temperature, however slow the relaxation is in
    the cold. A short drains it at a steady rate (``V / R`` through ``dV/dQ``), or faster as the
    cell empties: the second half falls at least as fast as the first. The rate is taken over
    ``window_s``, the voltage must also have fallen by at least ``min_drop_v`` within the window
    (a reading with 10 mV resolution, e.g. a supply's own voltmeter, steps by one count during
    normal relaxation), and the two halves are compared once there are two windows since settling.
    """

    __slots__ = ("max_v_per_s", "min_drop_v", "_anchors", "_next_anchor_s")

    def __init__(self, ctx: StepContext, max_v_per_s: float, *, settle_s: float = 120.0,
                 window_s: float = 30.0, min_drop_v: float = 0.015) -> None:
        super().__init__("internal_short_rest", ctx, settle_s, window_s)
        self.max_v_per_s = max_v_per_s
        self.min_drop_v = min_drop_v
        #: (time s, voltage V) every ``window_s`` from the settled samples of the step.
        self._anchors: list[tuple[float, float]] = []
        self._next_anchor_s = -math.inf

    def applies(self, ctx: StepContext) -> bool:
        """At each step start: no anchors yet; only while the output is off."""
        self._anchors.clear()
        self._next_anchor_s = -math.inf
        return not ctx.driven

    def check(self, sample: Sample) -> Trip | None:
        """Trip when the rest voltage falls too fast without slowing down."""
        current = sample.current_a
        if current > REST_CURRENT_A or current < -REST_CURRENT_A:  # (a NaN current goes on, as with abs())
            return None
        rate = self._rest_slope(sample, sample.voltage_v)
        if rate is None:
            return None
        now = sample.time_s
        if now >= self._next_anchor_s:
            self._anchors.append((now, sample.voltage_v))
            self._next_anchor_s = now + self.span_s
        if rate >= -self.max_v_per_s:
            return None
        values = self.values
        if values[0] - values[-1] < self.min_drop_v:
            return None
        return self._not_relaxing(sample, rate)

    def _not_relaxing(self, sample: Sample, rate: float) -> Trip | None:
        """The fall is fast: trip unless it is slowing down (a relaxation)."""
        anchors = self._anchors
        t0, v0 = anchors[0]
        now, v = sample.time_s, sample.voltage_v
        if now - t0 < 2.0 * self.span_s:
            return None  # one window since settling: wait for the second to compare
        t_mid, v_mid = min(anchors, key=lambda a: abs(a[0] - 0.5 * (t0 + now)))
        first = (v_mid - v0) / (t_mid - t0)
        second = (v - v_mid) / (now - t_mid)
        if second > first:  # falling more slowly than before: a relaxation
            return None
        return Trip(self.name, sample.time_s,
                    f"voltage falling {1000 * -rate:.2f} mV/s at rest and not slowing down: internal short?",
                    {"dvdt_v_per_s": rate, "voltage_v": sample.voltage_v, "limit": -self.max_v_per_s,
                     "dvdt_first_half_v_per_s": first, "dvdt_second_half_v_per_s": second})


class CvCurrentRiseRule:
    """During a constant-voltage hold the current only decays; a rise means a parallel drain."""

    __slots__ = ("name", "ctx", "rise_a", "settle_s", "_serial", "_min", "_count")

    def __init__(self, ctx: StepContext, rise_a: float, *, settle_s: float = 60.0) -> None:
        self.name = "internal_short_cv"
        self.ctx = ctx
        self.rise_a = rise_a
        self.settle_s = settle_s
        self._serial = -1
        self._min = math.inf
        self._count = 0

    def applies(self, ctx: StepContext) -> bool:
        """Only in constant-voltage steps."""
        return ctx.kind == "cv"

    def check(self, sample: Sample) -> Trip | None:
        """Trip when |I| stays ``rise_a`` above its minimum in the step for 2 samples."""
        ctx = self.ctx
        if ctx.serial != self._serial:
            self._serial = ctx.serial
            self._min = math.inf
            self._count = 0
        if ctx.kind != "cv" or sample.step_time_s < self.settle_s:
            return None
        current = abs(sample.current_a)
        if current < self._min:
            self._min = current
        if current - self._min <= self.rise_a:
            self._count = 0
            return None
        self._count += 1
        if self._count < 2:
            return None
        return Trip(self.name, sample.time_s,
                    f"current rose {current - self._min:.3g} A during a constant-voltage hold: internal short?",
                    {"current_a": sample.current_a, "current_min_a": self._min, "limit": self.rise_a})


class ChargeVoltageFallRule:
    """During a constant-current charge the voltage only rises once the cell has settled; falling
    ``fall_v`` below the step's maximum (for 2 samples) means charge is leaking away.

    "Settled": after ``settle_s`` *and* once the voltage has turned upward (risen ``fall_v / 2``
    above its lowest value in the step). A step that follows a higher current (a fast charge's
    next, lower stage; a top-up after a fast charge) starts with the cell relaxing: its voltage
    falls for minutes (the diffusion polarisation of the higher current decays) although nothing
    leaks. A leak during that relaxation is left to the per-cycle charge-balance rule."""

    __slots__ = ("name", "ctx", "fall_v", "settle_s", "_serial", "_max", "_min", "_armed", "_count")

    def __init__(self, ctx: StepContext, fall_v: float, *, settle_s: float = 30.0) -> None:
        self.name = "internal_short_charge"
        self.ctx = ctx
        self.fall_v = fall_v
        self.settle_s = settle_s
        self._serial = -1
        self._max = -math.inf
        self._min = math.inf
        self._armed = False
        self._count = 0

    def applies(self, ctx: StepContext) -> bool:
        """Only in constant-current charge steps."""
        return ctx.kind == "cc" and ctx.current_a > 0.0

    def check(self, sample: Sample) -> Trip | None:
        """Trip on a sustained voltage fall during a CC charge."""
        ctx = self.ctx
        if ctx.serial != self._serial:
            self._serial = ctx.serial
            self._max = -math.inf
            self._min = math.inf
            self._armed = False
            self._count = 0
        if ctx.kind != "cc" or ctx.current_a <= 0.0 or sample.step_time_s < self.settle_s:
            return None
        v = sample.voltage_v
        if not self._armed:
            if v < self._min:
                self._min = v
            if v - self._min < 0.5 * self.fall_v:
                return None
            self._armed = True
        if v > self._max:
            self._max = v
        if self._max - v <= self.fall_v:
            self._count = 0
            return None
        self._count += 1
        if self._count < 2:
            return None
        return Trip(self.name, sample.time_s,
                    f"voltage fell {1000 * (self._max - v):.0f} mV during a constant-current charge: internal short?",
                    {"voltage_v": v, "voltage_max_v": self._max, "limit": self.fall_v})


class RestSelfHeatingRule(_RestWindowRule):
    """At rest after ``settle_s``: the cell warmer than the chamber air by ``delta_k`` and still
    warming (slope over ``window_s`` above ``rate_k_per_s``) on ``confirm`` samples in a row: heat
    is made inside the cell.

    The slope comes from the window's two end samples, so one noisy reading at either end can
    push it over the rate (0.05 K of thermocouple noise gives a 60 s slope a standard deviation
    of 0.07 K/min: 0.3 K/min is 4 of them, reached about once in 1,000 clean cycles); a cell that
    heats itself keeps warming sample after sample, a noise spike does not.
    """

    __slots__ = ("delta_k", "rate_k_per_s", "confirm", "_run", "_last_s", "_seen_s")

    def __init__(self, ctx: StepContext, delta_k: float, *, rate_k_per_s: float = 0.005,
                 settle_s: float = 120.0, window_s: float = 60.0, confirm: int = 3) -> None:
        super().__init__("internal_short_heating", ctx, settle_s, window_s)
        self.delta_k = delta_k
        self.rate_k_per_s = rate_k_per_s
        self.confirm = confirm
        self._run = 0  # samples in a row that met the condition, the last at _last_s
        self._last_s = -math.inf
        self._seen_s = -math.inf  # the sample before the present one (any)

    def check(self, sample: Sample) -> Trip | None:
        """Trip when a resting cell heats itself."""
        t = sample.temperature_cell_c
        air = sample.temperature_chamber_c
        previous_s, self._seen_s = self._seen_s, sample.time_s
        if t != t or air != air:
            return None
        rate = self._rest_slope(sample, t)
        if rate is None or rate <= self.rate_k_per_s or t - air <= self.delta_k:
            return None
        return self._warming(sample, t, air, rate, previous_s)

    def _warming(self, sample: Sample, t: float, air: float, rate: float, previous_s: float) -> Trip | None:
        """The condition holds on this sample: trip on the ``confirm``-th in a row (the previous
        sample met it too, within 1.5 periods: the same whether samples come every period or in
        the longer strides of adaptive acquisition, bench/engine/adaptive.py)."""
        now = sample.time_s
        in_a_row = (self._last_s == previous_s and now - previous_s <= 1.5 * max(self.ctx.period_s, self.ctx.stride_s)
                    and self._serial == self.ctx.serial)
        self._run = self._run + 1 if in_a_row else 1
        self._last_s = now
        if self._run < self.confirm:
            return None
        return Trip(self.name, now,
                    f"cell {t - air:.1f} K above the chamber air and warming {rate * 60:.2f} K/min at rest: internal short?",
                    {"temperature_cell_c": t, "temperature_chamber_c": air, "dtdt_k_per_s": rate,
                     "limit": self.delta_k})


class CellChamberDeltaRule:
    """Cell warmer than the chamber air by more than ``max_k`` (any step)."""

    __slots__ = ("name", "max_k")

    def __init__(self, max_k: float) -> None:
        self.name = "cell_chamber_delta"
        self.max_k = max_k

    def check(self, sample: Sample) -> Trip | None:
        """Trip when the cell-to-air difference passes the limit."""
        delta = sample.temperature_cell_c - sample.temperature_chamber_c
        if not delta > self.max_k:
            return None
        return Trip(self.name, sample.time_s, f"cell {delta:.1f} K above the chamber air (limit {self.max_k:g} K)",
                    {"temperature_cell_c": sample.temperature_cell_c,
                     "temperature_chamber_c": sample.temperature_chamber_c, "limit": self.max_k})
