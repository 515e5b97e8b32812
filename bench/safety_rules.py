"""The supervisor's rules: each looks at one sample (and its own memory of earlier ones).

A rule has a ``name`` and ``check(sample) -> Trip | None``; rules that need to know the step
read the shared :class:`StepContext` the supervisor updates at every step start. They run on
every sample, so they use plain floats, small ring buffers and no numpy (the whole set costs a
few microseconds per sample; ``bench perf`` measures it).

Units: seconds, volts, amps (+ = charge), °C, K/s. Every threshold comes from the protocol's
``limits:`` (see :class:`protocols.steps.Limits` and docs/safety.md); 0 disables a rule.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from bench.sample import Sample

#: Below this current magnitude (A) the cell counts as at rest.
REST_CURRENT_A = 0.01
#: Temperatures outside this range (°C) are not a reading (overload codes such as 9.9E37).
PLAUSIBLE_TEMPERATURE_C = (-100.0, 1500.0)


@dataclass(frozen=True)
class Trip:
    """A safety trip: which rule, when (test time, s), why, and the values that tripped it."""

    rule: str
    time_s: float
    message: str
    values: dict[str, float] = field(default_factory=dict)


class Rule(Protocol):
    """A safety rule: ``check`` returns a Trip when the sample violates it."""

    name: str

    def check(self, sample: Sample) -> Trip | None: ...


@dataclass(slots=True)
class StepContext:
    """What the rules know of the present step (updated by ``Supervisor.begin_step``).

    ``driven``: the cycler output is on (cc / cv / cp); ``current_a``: the CC setpoint (A, + =
    charge; 0 for other kinds); ``voltage_start_v``: the first sample's voltage in the step;
    ``timeout_s``: step time after which the step timeout rule trips (inf = none);
    ``period_s``: the step's sampling period; ``serial`` counts steps.
    """

    kind: str = "rest"
    text: str = ""
    start_s: float = 0.0
    driven: bool = False
    current_a: float = 0.0
    voltage_start_v: float = math.nan
    timeout_s: float = math.inf
    period_s: float = 1.0
    serial: int = 0
    #: False when this step and the one before leave the output off (rest after rest): nothing
    #: at the cell's terminals changed at the step boundary.
    output_changed: bool = True


class _Window:
    """The last ``span_s`` seconds of (time, value) pairs; slope between the oldest and newest."""

    __slots__ = ("span_s", "times", "values")

    def __init__(self, span_s: float) -> None:
        self.span_s = span_s
        self.times: deque[float] = deque()
        self.values: deque[float] = deque()

    def push(self, time_s: float, value: float) -> None:
        times, values = self.times, self.values
        times.append(time_s)
        values.append(value)
        limit = time_s - self.span_s
        while len(times) > 2 and times[1] <= limit:
            times.popleft()
            values.popleft()

    def clear(self) -> None:
        self.times.clear()
        self.values.clear()

    def slope(self, min_span_s: float) -> float | None:
        """(newest - oldest) / their time span, or None until the window spans ``min_span_s``."""
        times = self.times
        if len(times) < 2:
            return None
        span = times[-1] - times[0]
        if span < min_span_s:
            return None
        return (self.values[-1] - self.values[0]) / span


def _fmt(value: float) -> str:
    return f"{value:.4g}"


# -- hard limits ------------------------------------------------------------------------------
class LimitRule:
    """``attribute`` of the sample must stay within [low, high] (None = unbounded).

    ``persistence_s``: the violation must last that long before it trips (0 = at once).
    A NaN reading does not trip this rule (sensor loss is its own rule).
    """

    __slots__ = ("name", "attribute", "unit", "low", "high", "persistence_s", "_since")

    def __init__(self, name: str, attribute: str, unit: str, low: float | None, high: float | None,
                 persistence_s: float = 0.0) -> None:
        self.name = name
        self.attribute = attribute
        self.unit = unit
        self.low = -math.inf if low is None else low
        self.high = math.inf if high is None else high
        self.persistence_s = persistence_s
        self._since: float | None = None

    def check(self, sample: Sample) -> Trip | None:
        """Trip when the value has been out of bounds for ``persistence_s``."""
        value = getattr(sample, self.attribute)
        if self.low <= value <= self.high or value != value:
            self._since = None
            return None
        if self._since is None:
            self._since = sample.time_s
        if sample.time_s - self._since < self.persistence_s:
            return None
        above = value > self.high
        bound = self.high if above else self.low
        return Trip(self.name, sample.time_s,
                    f"{self.attribute} {_fmt(value)} {self.unit} {'above' if above else 'below'} "
                    f"limit {bound:g} {self.unit}",
                    {self.attribute: value, "limit": bound, "since_s": self._since})


class HardLimitsRule:
    """The protocol's hard limits in one pass: voltage, current, cell temperature (each with
    ``persistence_s``); trips as ``voltage_limit``, ``current_limit`` or ``temperature_limit``.

    Same semantics as three :class:`LimitRule` s, at a third of the cost per sample.
    """

    __slots__ = ("name", "v_low", "v_high", "i_max", "t_low", "t_high", "persistence_s", "_since")

    def __init__(self, v_low: float, v_high: float, i_max: float, t_low: float, t_high: float,
                 persistence_s: float = 0.0) -> None:
        self.name = "hard_limits"
        self.v_low, self.v_high, self.i_max = v_low, v_high, i_max
        self.t_low, self.t_high = t_low, t_high
        self.persistence_s = persistence_s
        self._since = [-1.0, -1.0, -1.0]

    def check(self, sample: Sample) -> Trip | None:
        """Trip when a value has been out of its bounds for ``persistence_s``."""
        v, i, t = sample.voltage_v, sample.current_a, sample.temperature_cell_c
        if self.v_low <= v <= self.v_high and -self.i_max <= i <= self.i_max and (
                self.t_low <= t <= self.t_high or t != t):
            since = self._since
            if since[0] >= 0 or since[1] >= 0 or since[2] >= 0:
                since[0] = since[1] = since[2] = -1.0
            return None
        return self._violation(sample, v, i, t)

    def _violation(self, sample: Sample, v: float, i: float, t: float) -> Trip | None:
        now = sample.time_s
        checks = (("voltage_limit", "voltage_v", "V", v, self.v_low, self.v_high),
                  ("current_limit", "current_a", "A", i, -self.i_max, self.i_max),
                  ("temperature_limit", "temperature_cell_c", "°C", t, self.t_low, self.t_high))
        found = None
        for n, (rule, attribute, unit, value, low, high) in enumerate(checks):
            if low <= value <= high or value != value:
                self._since[n] = -1.0
                continue
            if self._since[n] < 0:
                self._since[n] = now
            if found is None and now - self._since[n] >= self.persistence_s:
                above = value > high
                bound = high if above else low
                found = Trip(rule, now, f"{attribute} {_fmt(value)} {unit} {'above' if above else 'below'} "
                                        f"limit {bound:g} {unit}",
                             {attribute: value, "limit": bound, "since_s": self._since[n]})
        return found


# -- temperature rate and runaway --------------------------------------------------------------
class DtDtRule:
    """Cell temperature rising faster than ``max_k_per_s``, measured over half to one ``window_s``.

    Two anchors, refreshed every half window, give the rate without a per-sample buffer.
    """

    __slots__ = ("name", "max_k_per_s", "half_s", "_t_old", "_y_old", "_t_new", "_y_new")

    def __init__(self, max_k_per_s: float, window_s: float = 10.0) -> None:
        self.name = "dtdt_limit"
        self.max_k_per_s = max_k_per_s
        self.half_s = 0.5 * window_s
        self._t_old = self._t_new = math.nan
        self._y_old = self._y_new = math.nan

    def check(self, sample: Sample) -> Trip | None:
        """Trip when the rise rate passes the limit."""
        t = sample.temperature_cell_c
        if t != t:
            return None
        now = sample.time_s
        if not now - self._t_new < self.half_s:  # (also true while the anchors are NaN)
            if self._t_new != self._t_new:
                self._t_old, self._y_old = now, t
            else:
                self._t_old, self._y_old = self._t_new, self._y_new
            self._t_new, self._y_new = now, t
        span = now - self._t_old
        if span < self.half_s:
            return None
        rate = (t - self._y_old) / span
        if rate <= self.max_k_per_s:
            return None
        return Trip(self.name, now,
                    f"cell temperature rising {rate:.3g} K/s, limit {self.max_k_per_s:g} K/s",
                    {"dtdt_k_per_s": rate, "temperature_cell_c": t, "limit": self.max_k_per_s})


class RunawayRule:
    """GB 38031-2025 Annex C.5.3.7 thermal-runaway confirmation.

    Runaway is confirmed when (the voltage has dropped by more than ``voltage_drop`` of its
    initial value OR the temperature has reached the cell's maximum operating temperature) AND
    dT/dt >= ``dtdt_k_per_s`` has held for more than ``hold_s``. The initial voltage is the first
    voltage of the present step (for an abuse test: the voltage just before the trigger); dT/dt is
    measured between samples at least 1 s apart.
    """

    __slots__ = ("name", "ctx", "dtdt_k_per_s", "hold_s", "voltage_drop", "temperature_max_c",
                 "_t_a", "_y_a", "_t_b", "_y_b", "_since")

    def __init__(self, ctx: StepContext, *, temperature_max_c: float, dtdt_k_per_s: float = 1.0,
                 hold_s: float = 3.0, voltage_drop: float = 0.25) -> None:
        self.name = "thermal_runaway"
        self.ctx = ctx
        self.dtdt_k_per_s = dtdt_k_per_s
        self.hold_s = hold_s
        self.voltage_drop = voltage_drop
        self.temperature_max_c = temperature_max_c
        self._t_a = self._t_b = math.nan
        self._y_a = self._y_b = math.nan
        self._since: float | None = None

    def check(self, sample: Sample) -> Trip | None:
        """Trip when the confirmation criterion holds."""
        t = sample.temperature_cell_c
        if t != t:
            return None
        now = sample.time_s
        if not now - self._t_b < 1.0:  # the newest anchor is >= 1 s old (or unset): shift
            if self._t_b == self._t_b:
                self._t_a, self._y_a = self._t_b, self._y_b
            self._t_b, self._y_b = now, t
        span = now - self._t_a
        if not span >= 1.0 - 1e-9:
            return None
        rate = (t - self._y_a) / span
        if rate < self.dtdt_k_per_s:
            self._since = None
            return None
        if self._since is None:
            self._since = self._t_a
        held = now - self._since
        if held <= self.hold_s:
            return None
        v0 = self.ctx.voltage_start_v
        drop = (v0 - sample.voltage_v) / v0 if v0 == v0 and v0 > 0 else 0.0
        hot = t >= self.temperature_max_c
        if not (drop > self.voltage_drop or hot):
            return None
        return Trip(self.name, now,
                    f"thermal runaway confirmed (GB 38031 C.5.3.7): dT/dt {rate:.3g} K/s for {held:.1f} s, "
                    f"voltage drop {100 * drop:.0f} %, {t:.1f} °C",
                    {"dtdt_k_per_s": rate, "held_s": held, "voltage_drop": drop, "temperature_cell_c": t,
                     "voltage_v": sample.voltage_v, "voltage_initial_v": v0})


# -- internal-short signatures -------------------------------------------------------------------
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


class RestVoltageDropRule:
    """At rest (no current) after ``settle_s``, the voltage falling faster than ``max_v_per_s``.

    A healthy cell's rest voltage relaxes ever more slowly; a short drains it at a steady rate.
    The slope is taken over ``window_s``.
    """

    __slots__ = ("name", "ctx", "max_v_per_s", "settle_s", "window", "_serial", "_min_span")

    def __init__(self, ctx: StepContext, max_v_per_s: float, *, settle_s: float = 120.0,
                 window_s: float = 30.0) -> None:
        self.name = "internal_short_rest"
        self.ctx = ctx
        self.max_v_per_s = max_v_per_s
        self.settle_s = settle_s
        self.window = _Window(window_s)
        self._min_span = 0.5 * window_s
        self._serial = -1

    def applies(self, ctx: StepContext) -> bool:
        """Only while the output is off."""
        return not ctx.driven

    def check(self, sample: Sample) -> Trip | None:
        """Trip when the rest voltage falls too fast."""
        ctx = self.ctx
        if ctx.serial != self._serial:
            self._serial = ctx.serial
            self.window.clear()
        if ctx.driven or sample.step_time_s < self.settle_s or abs(sample.current_a) > REST_CURRENT_A:
            return None
        window = self.window
        window.push(sample.time_s, sample.voltage_v)
        rate = window.slope(self._min_span)
        if rate is None or rate >= -self.max_v_per_s:
            return None
        return Trip(self.name, sample.time_s,
                    f"voltage falling {1000 * -rate:.2f} mV/s at rest: internal short?",
                    {"dvdt_v_per_s": rate, "voltage_v": sample.voltage_v, "limit": -self.max_v_per_s})


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
    """During a constant-current charge the voltage only rises; falling ``fall_v`` below the step's
    maximum (for 2 samples) means charge is leaking away."""

    __slots__ = ("name", "ctx", "fall_v", "settle_s", "_serial", "_max", "_count")

    def __init__(self, ctx: StepContext, fall_v: float, *, settle_s: float = 30.0) -> None:
        self.name = "internal_short_charge"
        self.ctx = ctx
        self.fall_v = fall_v
        self.settle_s = settle_s
        self._serial = -1
        self._max = -math.inf
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
            self._count = 0
        if ctx.kind != "cc" or ctx.current_a <= 0.0 or sample.step_time_s < self.settle_s:
            return None
        v = sample.voltage_v
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


class RestSelfHeatingRule:
    """At rest after ``settle_s``: the cell warmer than the chamber air by ``delta_k`` and still
    warming (slope over ``window_s`` above ``rate_k_per_s``): heat is made inside the cell."""

    __slots__ = ("name", "ctx", "delta_k", "rate_k_per_s", "settle_s", "window", "_serial", "_min_span")

    def __init__(self, ctx: StepContext, delta_k: float, *, rate_k_per_s: float = 0.005,
                 settle_s: float = 120.0, window_s: float = 60.0) -> None:
        self.name = "internal_short_heating"
        self.ctx = ctx
        self.delta_k = delta_k
        self.rate_k_per_s = rate_k_per_s
        self.settle_s = settle_s
        self.window = _Window(window_s)
        self._min_span = 0.5 * window_s
        self._serial = -1

    def applies(self, ctx: StepContext) -> bool:
        """Only while the output is off."""
        return not ctx.driven

    def check(self, sample: Sample) -> Trip | None:
        """Trip when a resting cell heats itself."""
        ctx = self.ctx
        if ctx.serial != self._serial:
            self._serial = ctx.serial
            self.window.clear()
        t = sample.temperature_cell_c
        air = sample.temperature_chamber_c
        if ctx.driven or sample.step_time_s < self.settle_s or t != t or air != air:
            return None
        window = self.window
        window.push(sample.time_s, t)
        rate = window.slope(self._min_span)
        if rate is None or rate <= self.rate_k_per_s or t - air <= self.delta_k:
            return None
        return Trip(self.name, sample.time_s,
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


# -- counting and timing ---------------------------------------------------------------------------
class AhOverrunRule:
    """More charge moved in one step than ``factor`` times the rated capacity."""

    __slots__ = ("name", "limit_ah", "factor")

    def __init__(self, capacity_ah: float, factor: float) -> None:
        self.name = "ah_overrun"
        self.factor = factor
        self.limit_ah = capacity_ah * factor

    def check(self, sample: Sample) -> Trip | None:
        """Trip when |step Ah| passes the limit."""
        moved = abs(sample.step_ah)
        if moved <= self.limit_ah:
            return None
        return Trip(self.name, sample.time_s,
                    f"{moved:.3f} Ah moved in one step, more than {self.factor:g} x the rated capacity",
                    {"step_ah": sample.step_ah, "limit_ah": self.limit_ah})


class StepBudgetRule:
    """Ah overrun and step timeout in one pass (trips as ``ah_overrun`` or ``step_timeout``):
    see :class:`AhOverrunRule` and :class:`StepTimeoutRule`; ``factor`` 0 leaves Ah out."""

    __slots__ = ("name", "ctx", "ah", "timeout")

    def __init__(self, ctx: StepContext, capacity_ah: float, factor: float, *, timeout: bool = True) -> None:
        self.name = "step_budget"
        self.ctx = ctx
        self.ah = AhOverrunRule(capacity_ah, factor) if factor > 0 else None
        self.timeout = StepTimeoutRule(ctx) if timeout else None

    def check(self, sample: Sample) -> Trip | None:
        """Trip when the step moved too much charge or ran too long."""
        ah = self.ah
        if ah is not None and not -ah.limit_ah <= sample.step_ah <= ah.limit_ah:
            return ah.check(sample)
        if sample.step_time_s > self.ctx.timeout_s and self.timeout is not None:
            return self.timeout.check(sample)
        return None


class StepTimeoutRule:
    """A step running longer than its timeout (see :func:`step_timeout_s`)."""

    __slots__ = ("name", "ctx")

    def __init__(self, ctx: StepContext) -> None:
        self.name = "step_timeout"
        self.ctx = ctx

    def check(self, sample: Sample) -> Trip | None:
        """Trip when the step time passes the step's timeout."""
        limit = self.ctx.timeout_s
        if sample.step_time_s <= limit:
            return None
        return Trip(self.name, sample.time_s,
                    f"step '{self.ctx.text}' still running after {sample.step_time_s:.0f} s (timeout {limit:.0f} s)",
                    {"step_time_s": sample.step_time_s, "timeout_s": limit})


# -- sensors and data ------------------------------------------------------------------------------
class SensorLossRule:
    """A temperature reading missing (open thermocouple: NaN) or implausible for ``persistence_s``.

    The cell sensor is always required; the chamber-air sensor (``chamber=True``) only once it
    has given a valid reading, so a bench without an air sensor does not trip.
    """

    __slots__ = ("name", "persistence_s", "chamber", "_air_seen", "_since_cell", "_since_air")

    def __init__(self, persistence_s: float = 2.0, *, chamber: bool = False) -> None:
        self.name = "sensor_loss"
        self.persistence_s = persistence_s
        self.chamber = chamber
        self._air_seen = False
        self._since_cell: float | None = None
        self._since_air: float | None = None

    def check(self, sample: Sample) -> Trip | None:
        """Trip when a reading has been missing for ``persistence_s``."""
        low, high = PLAUSIBLE_TEMPERATURE_C
        t = sample.temperature_cell_c
        if low < t < high:
            self._since_cell = None
        else:
            if self._since_cell is None:
                self._since_cell = sample.time_s
            if sample.time_s - self._since_cell >= self.persistence_s:
                return Trip(self.name, sample.time_s, f"cell temperature sensor lost (reading {t!r})",
                            {"temperature_cell_c": t, "since_s": self._since_cell})
        if not self.chamber:
            return None
        air = sample.temperature_chamber_c
        if low < air < high:
            self._air_seen = True
            self._since_air = None
            return None
        if not self._air_seen:
            return None
        if self._since_air is None:
            self._since_air = sample.time_s
        if sample.time_s - self._since_air < self.persistence_s:
            return None
        return Trip(self.name, sample.time_s, f"chamber air temperature sensor lost (reading {air!r})",
                    {"temperature_chamber_c": air, "since_s": self._since_air})


class SensorDisagreementRule:
    """The cell reading colder than chamber air that has been steady (within ``steady_k``) for
    ``settle_s``: a cell cannot stay colder than its surroundings, so one sensor is wrong."""

    __slots__ = ("name", "max_k", "settle_s", "steady_k", "_ref", "_ref_since")

    def __init__(self, max_k: float, *, settle_s: float = 3 * 3600.0, steady_k: float = 1.0) -> None:
        self.name = "sensor_disagreement"
        self.max_k = max_k
        self.settle_s = settle_s
        self.steady_k = steady_k
        self._ref = math.nan
        self._ref_since = 0.0

    def check(self, sample: Sample) -> Trip | None:
        """Trip when the steady air and the cell disagree."""
        air = sample.temperature_chamber_c
        t = sample.temperature_cell_c
        if air != air or t != t:
            return None
        if not abs(air - self._ref) <= self.steady_k:
            self._ref = air
            self._ref_since = sample.time_s
            return None
        if sample.time_s - self._ref_since < self.settle_s or air - t <= self.max_k:
            return None
        return Trip(self.name, sample.time_s,
                    f"cell sensor reads {air - t:.1f} K below steady chamber air: a temperature sensor is wrong",
                    {"temperature_cell_c": t, "temperature_chamber_c": air, "limit": self.max_k})


class StaleDataRule:
    """Samples that stop being fresh: a gap longer than ``max_gap_s`` between two samples (or
    three step periods, at least 10 s, when 0), or a voltage frozen bit-identical for
    ``frozen_samples`` samples while the output drives the cell (a live reading under load
    always moves)."""

    __slots__ = ("name", "ctx", "max_gap_s", "frozen_samples", "_last_t", "_last_v", "_same", "_serial", "_limit")

    def __init__(self, ctx: StepContext, max_gap_s: float = 0.0, frozen_samples: int = 10) -> None:
        self.name = "stale_data"
        self.ctx = ctx
        self.max_gap_s = max_gap_s
        self.frozen_samples = frozen_samples
        self._last_t = math.nan
        self._last_v = math.nan
        self._same = 0
        self._serial = -1
        self._limit = math.inf

    def gap_limit_s(self) -> float:
        """The longest allowed gap between two samples now, s."""
        return self.max_gap_s if self.max_gap_s > 0 else max(3.0 * self.ctx.period_s, 10.0)

    def check(self, sample: Sample) -> Trip | None:
        """Trip on a long gap or a frozen reading."""
        if self._serial != self.ctx.serial:
            self._serial = self.ctx.serial
            self._limit = self.gap_limit_s()
        now, v = sample.time_s, sample.voltage_v
        gap = now - self._last_t
        self._last_t = now
        if gap > self._limit:
            return Trip(self.name, now, f"no fresh sample for {gap:.1f} s (limit {self._limit:g} s)",
                        {"gap_s": gap, "limit": self._limit})
        if v == self._last_v and self.ctx.driven and sample.current_a != 0.0:
            self._same += 1
            if self._same >= self.frozen_samples:
                return Trip(self.name, now, f"voltage reading frozen at {v!r} V for {self._same + 1} samples under load",
                            {"voltage_v": v, "samples": float(self._same + 1)})
        else:
            self._same = 0
        self._last_v = v
        return None
