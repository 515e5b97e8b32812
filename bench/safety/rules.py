"""The supervisor's rules: each looks at one sample (and its own memory of earlier ones).

A rule has a ``name`` and ``check(sample) -> Trip | None``; rules that need to know the step
read the shared :class:`StepContext` the supervisor updates at every step start, and a rule with
an ``applies(ctx)`` method runs only in the steps it accepts. They run on every sample, so they
use plain floats, small ring buffers and no numpy (the whole set costs a few microseconds per
sample; ``bench perf`` measures it).

This module: the rule interface, hard limits, dT/dt and the GB 38031 runaway confirmation.
:mod:`bench.safety.shorts`: internal-short signatures. :mod:`bench.safety.checks`: Ah overrun,
step timeout, sensor loss and disagreement, stale data.

Units: seconds, volts, amps (+ = charge), °C, K/s. Every threshold comes from the protocol's
``limits:`` (see :class:`protocols.steps.Limits` and docs/safety.md); 0 disables a rule.
"""

from __future__ import annotations

import math
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
    #: Floor for the stale-data gap, test-time seconds. On a clock running N times the wall clock
    #: (``--speed N``) a 2 s wall-clock stall is N * 2 test seconds: the engine sets N * 2 here so a
    #: brief scheduling stall is not reported as stale data (the watchdog still covers hangs).
    min_gap_s: float = 0.0
    #: Longest time between two samples the engine plans in this run (adaptive acquisition in
    #: virtual time, bench/engine/adaptive.py), s; 0: every period.
    stride_s: float = 0.0
    #: The last sample the supervisor checked before this step started (None before the first):
    #: rules that judge a whole step read its last sample here at the next step start.
    last_sample: Sample | None = None


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

    __slots__ = ("name", "v_low", "v_high", "i_max", "i_min", "t_low", "t_high", "persistence_s", "_since",
                 "_pending")

    def __init__(self, v_low: float, v_high: float, i_max: float, t_low: float, t_high: float,
                 persistence_s: float = 0.0) -> None:
        self.name = "hard_limits"
        self.v_low, self.v_high, self.i_max, self.i_min = v_low, v_high, i_max, -i_max
        self.t_low, self.t_high = t_low, t_high
        self.persistence_s = persistence_s
        self._since = [-1.0, -1.0, -1.0]
        #: A value is out of bounds and its ``since`` is set (cleared at the next sample in bounds).
        self._pending = False

    def check(self, sample: Sample) -> Trip | None:
        """Trip when a value has been out of its bounds for ``persistence_s``."""
        v, i, t = sample.voltage_v, sample.current_a, sample.temperature_cell_c
        if self.v_low <= v <= self.v_high and self.i_min <= i <= self.i_max and (
                self.t_low <= t <= self.t_high or t != t):
            if self._pending:
                self._pending = False
                since = self._since
                since[0] = since[1] = since[2] = -1.0
            return None
        return self._violation(sample, v, i, t)

    def quiet_box(self, sample: Sample) -> dict[str, tuple[float, float]] | None:
        """Inside the limits (a NaN temperature runs the rule) nothing happens: no box while a
        violation's persistence is counting (bench.safety.gate)."""
        if self._pending:
            return None
        return {"voltage_v": (self.v_low, self.v_high), "current_a": (self.i_min, self.i_max),
                "temperature_cell_c": (self.t_low, self.t_high)}

    def _violation(self, sample: Sample, v: float, i: float, t: float) -> Trip | None:
        self._pending = True
        now = sample.time_s
        checks = (("voltage_limit", "voltage_v", "V", v, self.v_low, self.v_high),
                  ("current_limit", "current_a", "A", i, self.i_min, self.i_max),
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

    __slots__ = ("name", "max_k_per_s", "half_s", "_t_old", "_y_old", "_t_new", "_y_new", "_quiet_s", "_quiet_c")

    def __init__(self, max_k_per_s: float, window_s: float = 10.0) -> None:
        self.name = "dtdt_limit"
        self.max_k_per_s = max_k_per_s
        self.half_s = 0.5 * window_s
        self._t_old = self._t_new = math.nan
        self._y_old = self._y_new = math.nan
        #: Before this test time (s) the anchors stay, and up to ``_quiet_c`` (°C) the rate cannot
        #: pass the limit: a sample before and below both changes nothing (NaN: no such bound).
        self._quiet_s = self._quiet_c = math.nan

    def check(self, sample: Sample) -> Trip | None:
        """Trip when the rise rate passes the limit."""
        # Quiet: no anchor due and the cell not warmer than the old anchor plus the limit's rise
        # over the shortest span judged (half a window): the rate cannot pass the limit.
        if sample.time_s < self._quiet_s and sample.temperature_cell_c <= self._quiet_c:
            return None
        return self._judge(sample)

    def _judge(self, sample: Sample) -> Trip | None:
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
            # 1 µs / 1 µK inside the exact bounds: float rounding never takes the quiet path wrongly
            self._quiet_s = now + self.half_s - 1e-6
            self._quiet_c = self._y_old + self.max_k_per_s * self.half_s - 1e-6
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
            # (an unset newest anchor is NaN: the old one stays NaN, no rate until the next shift)
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
