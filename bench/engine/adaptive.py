"""Adaptive acquisition in virtual time: how far ahead the next sample of a step may be.

On the simulated bench with a virtual clock (accelerated CI runs) most of a cycle-life run is
smooth constant-current stretches and long rests where nothing changes from one sample to the
next. :class:`StridePlanner` lets the engine take the next sample several acquisition periods
ahead while the step is quiet, and falls back to the acquisition period

* near any threshold the step can meet (its end conditions, its step limits, the protocol's hard
  limits): the predicted distance at the present rate must stay above :data:`SAFETY` times the
  ground the stride covers; within a margin of a threshold at the larger of two rate estimates
  and less a noise allowance (:data:`NEAR`), within which every sample is taken;
* whenever a rate breaks: the latest sample lies off the straight line through the two before
  it by more than :data:`BREAK_MISS` tolerances (V, I, T), which is what a fault, a compliance
  transition or the knee of a curve looks like (a smaller miss, a smooth bend, shortens the
  stride in proportion);
* in steps whose logic runs per sample (pulses, replays, constant power, dT/dt end conditions,
  conditions that must hold for a time) and for the first samples of every step.

A stride is always a whole number of periods on the step's own grid (the fixed-step sample
times), so an end condition met at a grid sample ends the step at that very sample, and a
duration ends it exactly where the fixed-step run ends. The stride at most doubles from one
sample to the next and never exceeds :data:`MAX_STRIDE_S`, so the supervisor's windowed rules
(rest dV/dt, dT/dt, voltage collapse between two samples) see a change within a few periods.

Units: seconds, volts, amps, kelvin, ampere-hours.
"""

from __future__ import annotations

import math
from typing import Any

from bench.engine.counters import _StepState
from bench.sample import Sample
from protocols.steps import Limits, Protocol, Step

#: Longest time between two samples of a quiet step, s.
MAX_STRIDE_S = 120.0
#: Growth of the stride from one sample to the next (at most doubling).
GROWTH = 2.0
#: The predicted distance to a threshold at the present rate must be this many times the ground
#: covered by the stride.
SAFETY = 3.0
#: Within these distances of a threshold every sample is taken: V (50 times the voltage noise of
#: the simulated cycler), A (also 2 % of the
#: threshold), K, fraction of SOC, Ah (also 2 % of the target), Wh (also 2 %).
MARGIN_V = 0.01
MARGIN_A = 0.02
MARGIN_K = 0.5
MARGIN_SOC = 0.01
#: Within a margin the stride is still bounded by the distance to the threshold less this fraction
#: of the margin (the readings' noise allowance: 2.5 mV of the 10 mV, 5 mA + 0.5 % of the current
#: margin), at the larger of the last interval's rate and the last two intervals' toward it; the
#: period within that allowance. (Every sample within the whole margin, as before, took 20-26
#: samples of each CC charge's last 10 mV and each CV hold's last 25 mA in cycle_life.)
NEAR = 0.25
#: The latest sample may lie this far off the line through the two before it (rate unchanged): V,
#: A (plus 1 % of the current), K (ten times a thermocouple reading's noise: the test of three
#: readings is noisier than one).
TOLERANCE_V = 0.003
TOLERANCE_A = 0.005
TOLERANCE_K = 0.5
#: A sample that misses the line by more than this many tolerances (in V, I or T) is a break in a
#: rate (a fault, a compliance transition, the knee of a curve): the next sample is one period on.
#: Up to it, the miss is taken as a smooth bend (the OCV curve's curvature, a relaxation) and the
#: stride is shortened in proportion instead (a bend's miss grows with the square of the stride).
BREAK_MISS = 3.0
#: Samples taken at the acquisition period at the start of every step (rates need two intervals).
SETTLE_SAMPLES = 3
#: Longest time between two samples of a step with the output off (rest, soak), s. The rest rules
#: judge windows of the rest: the heat-balance rule block means over 120 s (at least 6 samples a
#: block here), the self-heating rule 3 rising samples in a row over 60 s windows, the plating
#: analysis fits dV/dt over windows of the relaxation after a charge (20 s is the rest sampling
#: the plating matrix validates; in 2-min strides it detected 7 of 10 plated charges).
REST_STRIDE_S = 20.0
#: A step's own logic that runs per sample keeps the period.
PER_SAMPLE_KINDS = ("pulse", "replay", "cp", "eis")


class StridePlanner:
    """The time to the next acquisition of a step, a whole number of periods (see module doc).

    :meth:`begin` at each step start, :meth:`next_s` after each sample once the step goes on.
    """

    def __init__(self, limits: Limits, capacity_ah: float, max_stride_s: float = MAX_STRIDE_S) -> None:
        self.limits = limits
        self.capacity_ah = capacity_ah
        self.max_stride_s = max_stride_s
        self.period_s = 1.0
        self._fixed = True
        self._cap_s = max_stride_s
        self._count = 0
        self._last_stride = 0.0
        self._prev: tuple[float, float, float, float] = (math.nan,) * 4
        self._prev2: tuple[float, float, float, float] = (math.nan,) * 4
        self._v_thresholds: tuple[float, ...] = ()
        self._i_thresholds: tuple[float, ...] = ()
        self._t_thresholds: tuple[float, ...] = ()
        self._ah: tuple[float, ...] = ()
        self._wh: tuple[float, ...] = ()
        self._soc: tuple[float, ...] = ()
        self._stable_k: float | None = None
        self._duration_s = math.inf
        #: Largest voltage drop between two samples at the present rate, V: a third (SAFETY) of the
        #: collapse rule's step (bench/safety/shorts.py), a rise half of it. (A half for both
        #: before the electrolyte depletion law: its end-of-discharge collapse, 2C on lfp_26650,
        #: steepened from 0.21 to ~1.5 mV/s within one 118 s stride, a 98 mV drop the rule reads
        #: as a short; sampling phase decided whether a run saw it.)
        self._dv_max = math.inf
        #: Largest |dT/dt| at which the stride may grow, K/s (a fifth of the dT/dt rule's).
        self._dtdt_max = math.inf

    def begin(self, step: Step, period_s: float, per_sample_logic: bool = False) -> None:
        """A new step: thresholds from its end conditions, step limits and the protocol's limits."""
        self.period_s = period_s
        self._count = 0
        self._last_stride = period_s
        resting = step.kind in ("rest", "soak")
        self._cap_s = max(period_s, REST_STRIDE_S if resting else self.max_stride_s)
        self._prev = self._prev2 = (math.nan,) * 4
        limits = self.limits
        until = step.until
        self._fixed = (per_sample_logic or step.kind in PER_SAMPLE_KINDS or step.pulse is not None
                       or step.replay is not None
                       or any(c.quantity == "dtdt_k_per_s" or c.hold_s > 0 for c in until))
        volts = [limits.voltage_min_v, limits.voltage_max_v]
        amps = [limits.current_max_a]
        temps = [limits.temperature_min_c, limits.temperature_max_c]
        self._ah, self._wh, self._soc, self._stable_k = (), (), (), None
        duration = step.duration_s if step.duration_s is not None else math.inf
        for c in until:
            q = c.quantity
            if q == "voltage_v":
                volts.append(c.value)
            elif q == "current_a":
                amps.append(c.value)
            elif q == "temperature_c":
                temps.append(c.value)
            elif q == "capacity_ah":
                self._ah += (c.value,)
            elif q == "energy_wh":
                self._wh += (c.value,)
            elif q == "soc":
                self._soc += (c.value,)
            elif q == "time_s":
                duration = min(duration, c.value)
            elif q == "stable_within_k":
                self._stable_k = c.value
        if step.limits is not None:
            sl = step.limits
            volts += [v for v in (sl.voltage_min_v, sl.voltage_max_v) if v is not None]
            amps += [a for a in (sl.current_max_a,) if a is not None]
            temps += [t for t in (sl.temperature_min_c, sl.temperature_max_c) if t is not None]
        self._v_thresholds, self._i_thresholds, self._t_thresholds = tuple(volts), tuple(amps), tuple(temps)
        self._duration_s = duration
        self._dv_max = limits.short_collapse_v / SAFETY if limits.short_collapse_v > 0 else math.inf
        rates = [r for r in (limits.dtdt_max_k_per_s, limits.runaway_dtdt_k_per_s) if r > 0]
        self._dtdt_max = min(rates) / 5.0 if rates else math.inf

    def next_s(self, sample: Sample, state: _StepState, chamber_setpoint_c: float | None = None) -> float:
        """Seconds from this sample's deadline to the next: ``n`` periods, ``n >= 1``."""
        period = self.period_s
        now = (sample.time_s, sample.voltage_v, sample.current_a, sample.temperature_cell_c)
        prev, prev2 = self._prev, self._prev2
        self._prev2, self._prev = prev, now
        self._count += 1
        if self._fixed or self._count < SETTLE_SAMPLES or state.held_since:
            return self._take(period)
        return self._take(self._stride(now, prev, prev2, sample, state, chamber_setpoint_c))

    def _take(self, stride_s: float) -> float:
        self._last_stride = stride_s
        return stride_s

    def _stride(self, now: tuple[float, float, float, float], prev: tuple[float, float, float, float],
                prev2: tuple[float, float, float, float], sample: Sample, state: _StepState,
                chamber_setpoint_c: float | None) -> float:
        period = self.period_s
        t, v, i, temp = now
        t1, v1, i1, temp1 = prev
        dt = t - t1
        dt_prev = t1 - prev2[0]
        if not (dt > 0.0 and dt_prev > 0.0):
            return period
        # the rate-change test: each quantity's distance from the line through the two samples
        # before it, in tolerances (a NaN reading compares False: that quantity is skipped)
        ratio = dt / dt_prev
        miss = 0.0
        m = abs(v - v1 - (v1 - prev2[1]) * ratio) / TOLERANCE_V
        if m > miss:
            miss = m
        m = abs(i - i1 - (i1 - prev2[2]) * ratio) / (TOLERANCE_A + 0.01 * abs(i))
        if m > miss:
            miss = m
        m = abs(temp - temp1 - (temp1 - prev2[3]) * ratio) / TOLERANCE_K
        if m > miss:
            miss = m
        if miss > 1.0:
            if miss > BREAK_MISS:
                return period  # a break in a rate: a fault, a compliance transition, a knee
            # a smooth bend (the OCV curve's, a relaxation's): its miss grows with the square of
            # the stride, so a stride half as long times sqrt(1 / miss) keeps the next one inside
            # the tolerance; the period again only if that is not a whole period
            h = 0.5 * self._last_stride / math.sqrt(miss)
        else:
            h = GROWTH * self._last_stride
            if h > self._cap_s:
                h = self._cap_s
        dvdt = (v - v1) / dt
        dtdt = (temp - temp1) / dt if temp == temp and temp1 == temp1 else 0.0
        if abs(dtdt) > self._dtdt_max:
            return period
        span = t - prev2[0]
        h = _approach(h, v, dvdt, self._v_thresholds, MARGIN_V, 0.0, (v - prev2[1]) / span)
        didt, didt2 = (i - i1) / dt, (i - prev2[2]) / span
        if i < 0.0:
            didt, didt2 = -didt, -didt2
        h = _approach(h, abs(i), didt, self._i_thresholds, MARGIN_A, 0.02, didt2)
        if temp == temp:
            h = _approach(h, temp, dtdt, self._t_thresholds, MARGIN_K, 0.0)
            if self._stable_k is not None and chamber_setpoint_c is not None:
                band = self._stable_k
                h = _approach(h, temp, dtdt, (chamber_setpoint_c - band, chamber_setpoint_c + band), MARGIN_K, 0.0)
        if self._ah:
            rate = abs(i) / 3600.0
            h = _approach(h, abs(sample.step_ah), rate, self._ah, 0.0, 0.02, rate)
        if self._wh:
            rate = abs(i * v) / 3600.0
            h = _approach(h, abs(sample.step_wh), rate, self._wh, 0.0, 0.02, rate)
        if self._soc:
            rate = i / (3600.0 * self.capacity_ah)
            h = _approach(h, sample.soc, rate, self._soc, MARGIN_SOC, 0.0, rate)
        if dvdt != 0.0 and self._dv_max < math.inf:
            # falling: a third of the collapse rule's step at the present rate (SAFETY); rising
            # (the rule judges only drops): half of it, as before
            h = min(h, self._dv_max / -dvdt if dvdt < 0.0 else 1.5 * self._dv_max / dvdt)
        n = max(1, int(h / period + 1e-9))
        remaining = self._duration_s - sample.step_time_s
        if remaining < math.inf:  # land on the grid sample where the fixed-step run ends
            n = max(1, min(n, math.ceil(remaining / period - 1e-9)))
        return n * period


def _approach(h: float, x: float, rate: float, thresholds: tuple[float, ...], margin: float,
              relative: float, rate2: float | None = None) -> float:
    """The stride ``h`` bounded so that ``x`` moving at ``rate`` covers at most 1/SAFETY of its
    distance to each threshold it moves toward.

    Within ``margin`` (plus ``relative`` of the threshold) of one, the rate must be trusted
    against the readings' noise: the larger of ``rate`` (the last interval's) and ``rate2`` (over
    the last two intervals) toward the threshold is taken, and the distance less a quarter of the
    margin (the noise allowance); within that allowance, or when neither rate moves toward the
    threshold, the period (0 here, floored by the caller)."""
    for threshold in thresholds:
        distance = threshold - x
        band = margin + relative * abs(threshold)
        if abs(distance) <= band:
            if rate2 is None:
                return 0.0
            toward = rate if (distance > 0.0) == (rate > 0.0) else 0.0
            if (distance > 0.0) == (rate2 > 0.0) and abs(rate2) > abs(toward):
                toward = rate2
            clear = abs(distance) - NEAR * band
            if toward == 0.0 or clear <= 0.0:
                return 0.0
            h = min(h, clear / (SAFETY * abs(toward)))
        elif rate != 0.0 and (distance > 0.0) == (rate > 0.0):
            h = min(h, distance / (SAFETY * rate))
    return h


def planner_for(protocol: Protocol, bench: Any, supervisor: Any) -> StridePlanner | None:
    """The stride planner of a run on a virtual clock (None on any other clock): the simulated
    world is told to take long physics steps where they are exact, and the stale-data rule to
    expect gaps up to two strides (the strides are the controller's own choice)."""
    if not getattr(bench.clock, "virtual", False):
        return None
    simulation = getattr(bench, "simulation", None)
    long_steps = getattr(simulation, "long_physics_steps", None)
    if long_steps is not None:
        long_steps(MAX_STRIDE_S)
    context = getattr(supervisor, "context", None)
    if context is not None:
        context.min_gap_s = max(context.min_gap_s, 2.0 * MAX_STRIDE_S)
        context.stride_s = REST_STRIDE_S  # the rest rules' "in a row" (bench/safety/shorts.py)
    return StridePlanner(protocol.limits, protocol.cell.capacity_ah)
