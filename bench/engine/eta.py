"""Estimated remaining test time for the progress bar, from the protocol and the readings so far.

Cheap by design (the engine reports progress every ~200 samples): the present step's remaining
time comes from how close its end conditions are, the later steps' from a nominal model walked
once per step change. Heuristics, stated where used:

* a state of charge (SOC) is tracked by counting the reported current (A·s / 3600 / capacity),
  started from the first voltage placed linearly between the cell's minimum and maximum
  voltage, and anchored at 1 after a hold at the maximum voltage and at 0 after a discharge to
  the minimum voltage (as the engine does);
* CC / CP until a voltage: the charge to full (or empty) at the step's current; with a
  voltage below the maximum the SOC target is its linear position between the limits. Once
  the step has run ``SLOPE_AFTER_S``, the voltage's present slope extrapolated to the end
  voltage also counts (the smaller wins; it alone once the charge count has run out): it
  catches the knee at the end of a discharge that a cell with less than its rated capacity
  reaches early, and a charge that started lower than the first voltage suggested;
* CV until a current: exponential taper I(t) = I0·exp(-t/τ); τ is measured from the readings
  once the current has fallen, else ``CV_TAU_S``;
* rest / soak "until stable": ``SETTLE_S``; every other open-ended condition: ``UNKNOWN_STEP_S``;
* ``for`` / ``(at most ...)`` durations cap every estimate;
* pulse and EIS steps: the pulse train's length; an EIS sweep ``EIS_S``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Nominal time constant of a CV taper, s, until one is measured.
CV_TAU_S = 1800.0
#: Nominal settling time of a soak or rest ended by a temperature condition, s.
SETTLE_S = 3600.0
#: Guess for a step whose end the model cannot predict, s.
UNKNOWN_STEP_S = 1800.0
#: Nominal length of an impedance sweep, s.
EIS_S = 600.0
#: A CC/CP step's voltage slope is extrapolated once the step has run this long, s.
SLOPE_AFTER_S = 600.0


@dataclass
class Eta:
    """What the progress bar shows: seconds, None when unknown."""

    remaining_s: float | None
    step_remaining_s: float | None
    total_s: float | None  # elapsed + remaining

    @property
    def fraction(self) -> float | None:
        """Elapsed share of the estimated total, 0..1."""
        if self.total_s is None or self.remaining_s is None or self.total_s <= 0:
            return None
        return max(0.0, min(1.0, 1.0 - self.remaining_s / self.total_s))


def _linear_soc(voltage_v: float, cell: Any) -> float:
    span = cell.voltage_max_v - cell.voltage_min_v
    if not math.isfinite(voltage_v) or span <= 0:
        return 0.5
    return max(0.0, min(1.0, (voltage_v - cell.voltage_min_v) / span))


def _step_current_a(step: Any, cell: Any, voltage_v: float) -> float:
    if getattr(step, "current_a", None):
        return float(step.current_a)
    if getattr(step, "power_w", None):
        return float(step.power_w) / max(voltage_v if math.isfinite(voltage_v) else cell.voltage_max_v, 0.1)
    return 0.0


def step_duration_s(step: Any, cell: Any, soc: float, *, current_a: float | None = None,
                    voltage_v: float = math.nan, cv_tau_s: float = CV_TAU_S) -> tuple[float, float]:
    """Nominal duration (s) of ``step`` started at ``soc``, and the SOC after it.

    ``current_a``: the present current if the step is under way (for CV tapers: the present
    current rather than the CC current before the hold).
    """
    kind = step.kind
    duration = step.duration_s if step.duration_s is not None else math.inf
    capacity_as = cell.capacity_ah * 3600.0
    estimate = math.inf
    soc_after = soc
    if kind in ("cc", "cp"):
        current = current_a if current_a else _step_current_a(step, cell, voltage_v)
        for cond in step.until:
            if not current:
                break
            if cond.quantity == "voltage_v":
                target = 1.0 if cond.value >= cell.voltage_max_v - 0.01 else 0.0 if (
                    cond.value <= cell.voltage_min_v + 0.01) else _linear_soc(cond.value, cell)
                if (target - soc) * current > 0:
                    estimate = min(estimate, (target - soc) * capacity_as / current)
                else:
                    estimate = min(estimate, 0.0)
            elif cond.quantity == "capacity_ah":
                estimate = min(estimate, cond.value * 3600.0 / abs(current))
            elif cond.quantity == "energy_wh":
                estimate = min(estimate, cond.value * 3600.0 / abs(current * cell.voltage_max_v * 0.9))
            elif cond.quantity == "soc":
                if (cond.value - soc) * current > 0:
                    estimate = min(estimate, (cond.value - soc) * capacity_as / current)
                else:
                    estimate = min(estimate, 0.0)
            elif cond.quantity == "time_s":
                estimate = min(estimate, cond.value)
        if not step.until and math.isinf(duration):
            estimate = UNKNOWN_STEP_S
        if math.isinf(estimate) and math.isinf(duration):
            estimate = UNKNOWN_STEP_S
        seconds = min(estimate, duration)
        soc_after = max(0.0, min(1.0, soc + current * seconds / capacity_as)) if math.isfinite(seconds) else soc
        return seconds, soc_after
    if kind == "cv":
        start = abs(current_a) if current_a else 0.5 * cell.capacity_ah
        for cond in step.until:
            if cond.quantity == "current_a" and cond.value > 0:
                estimate = min(estimate, cv_tau_s * math.log(max(start / cond.value, 1.0)))
            elif cond.quantity == "time_s":
                estimate = min(estimate, cond.value)
        if math.isinf(estimate) and math.isinf(duration):
            estimate = UNKNOWN_STEP_S
        seconds = min(estimate, duration)
        if (step.voltage_v or 0.0) >= cell.voltage_max_v - 0.01 and math.isinf(duration):
            soc_after = 1.0
        return seconds, soc_after
    if kind == "pulse" and getattr(step, "pulse", None) is not None:
        pulse = step.pulse
        seconds = min(pulse.count * pulse.period_s, duration)
        return seconds, max(0.0, min(1.0, soc + pulse.current_a * pulse.on_s * pulse.count / capacity_as))
    if kind == "eis":
        return min(EIS_S, duration), soc
    # rest, soak and anything new: the duration, or a settling guess for open-ended conditions
    for cond in step.until:
        if cond.quantity == "time_s":
            estimate = min(estimate, cond.value)
        else:
            estimate = min(estimate, SETTLE_S)
    if math.isinf(estimate) and math.isinf(duration):
        estimate = UNKNOWN_STEP_S
    return min(estimate, duration), soc


def _extrapolate(step: Any, voltage_v: float, slope_v_per_s: float) -> float:
    """Seconds until the voltage reaches the step's end voltage at the present slope (inf if never)."""
    best = math.inf
    for cond in step.until:
        if cond.quantity != "voltage_v" or not math.isfinite(voltage_v):
            continue
        gap = cond.value - voltage_v
        if gap * slope_v_per_s > 0:
            best = min(best, gap / slope_v_per_s)
    return best


class EtaEstimator:
    """Remaining test time of a run, updated from the engine's progress reports."""

    def __init__(self, steps: Sequence[Any], cell: Any) -> None:
        self.steps = list(steps)
        self.cell = cell
        self.soc: float | None = None
        initial = getattr(cell, "initial_soc", math.nan)
        if initial is not None and math.isfinite(initial):
            self.soc = float(initial)
        self._step_number = 0  # as reported (the engine's step count)
        self._index = -1  # position of the present step in ``steps`` (-1: unknown)
        self._step_start_s = 0.0
        self._last_t: float | None = None
        self._last_i = 0.0
        self._later_s: float | None = None
        self._tau_s = CV_TAU_S
        self._taper: tuple[float, float] | None = None  # (time, |I|) at the start of a CV step
        self._last_v: float | None = None  # previous voltage reading in this step

    @classmethod
    def for_protocol(cls, protocol: Any) -> EtaEstimator:
        """From a protocol's unrolled steps (loops with an early ``until`` run to their count)."""
        try:
            # A loop repeated a million times would unroll to millions of entries: no ETA then.
            total = protocol.step_total() if hasattr(protocol, "step_total") else 0
            steps = [step for step, _cycle in protocol.flat_steps()] if total <= 100_000 else []
        except Exception:  # noqa: BLE001 - a generator protocol has no fixed list
            steps = []
        return cls(steps, protocol.cell)

    def update(self, p: Any) -> Eta:
        """Take one progress report (``step_number`` 1-based, ``test_time_s``, V, A); O(1) except
        on a step change (O(steps left))."""
        t, current, voltage = p.test_time_s, p.current_a, p.voltage_v
        if self.soc is None:
            self.soc = _linear_soc(voltage, self.cell) if math.isfinite(voltage) else 0.5
        elif self._last_t is not None and t > self._last_t:
            dt = t - self._last_t
            self.soc += 0.5 * (current + self._last_i) * dt / (self.cell.capacity_ah * 3600.0)
            self.soc = max(0.0, min(1.0, self.soc))
        if p.step_number != self._step_number:
            self._step_changed(p.step_number, p.step_text, t)
        step = self._step()
        if step is not None and step.kind == "cv" and abs(current) > 0:
            self._measure_taper(t, abs(current))
        previous_t, previous_v = self._last_t, self._last_v
        self._last_t, self._last_i, self._last_v = t, current, voltage
        if step is None:
            return Eta(None, None, None)
        elapsed_in_step = t - self._step_start_s
        est, _ = step_duration_s(step, self.cell, self.soc, current_a=current or None, voltage_v=voltage,
                                 cv_tau_s=self._tau_s)
        if (step.kind in ("cc", "cp") and elapsed_in_step >= SLOPE_AFTER_S and previous_t is not None
                and previous_v is not None and t > previous_t):
            slope_est = _extrapolate(step, voltage, (voltage - previous_v) / (t - previous_t))
            # the charge count said "done" but the voltage is not there yet: trust the voltage
            est = slope_est if est <= 0.0 and math.isfinite(slope_est) else min(est, slope_est)
        if step.kind in ("rest", "soak", "eis", "pulse") or (step.kind == "cc" and not step.until):
            est = max(0.0, est - elapsed_in_step)  # fixed-length: the model gives the whole step
        elif step.duration_s is not None:
            est = min(est, max(0.0, step.duration_s - elapsed_in_step))
        later = self._later_s
        if later is None:
            return Eta(None, est, None)
        remaining = est + later
        return Eta(remaining, est, t + remaining)

    def _step(self) -> Any:
        return self.steps[self._index] if 0 <= self._index < len(self.steps) else None

    def _locate(self, number: int, text: str) -> int:
        """The present step's position: the next one in order, else the next with the same text
        (a loop that ended early skips its remaining repetitions), else by the step count."""
        guess = self._index + 1 if self._index >= 0 else number - 1
        for index in range(max(guess, 0), len(self.steps)):
            if self.steps[index].text == text:
                return index
        return number - 1 if 0 < number <= len(self.steps) else -1

    def _step_changed(self, number: int, text: str, t: float) -> None:
        previous = self._step()
        if previous is not None and self.soc is not None:
            cell = self.cell
            if previous.kind == "cv" and (previous.voltage_v or 0) >= cell.voltage_max_v - 0.01:
                self.soc = 1.0
            elif previous.kind == "cc" and (previous.current_a or 0) < 0 and any(
                    c.quantity == "voltage_v" and c.value <= cell.voltage_min_v + 0.01 for c in previous.until):
                self.soc = 0.0
        self._step_number = number
        self._index = self._locate(number, text)
        # reports come every few hundred samples, so the step began between the previous report
        # and this one: take the middle (the first step of a run began at 0)
        if self._last_t is not None:
            self._step_start_s = 0.5 * (self._last_t + t)
        else:
            self._step_start_s = 0.0 if number == 1 else t
        self._taper = None
        self._last_v = None
        self._later_s = self._walk_later()

    def _walk_later(self) -> float | None:
        """Nominal duration of every step after the present one."""
        step = self._step()
        if step is None:
            return None
        soc = self.soc if self.soc is not None else 0.5
        _, soc = step_duration_s(step, self.cell, soc, cv_tau_s=self._tau_s)
        total = 0.0
        for later in self.steps[self._index + 1:]:
            seconds, soc = step_duration_s(later, self.cell, soc, cv_tau_s=self._tau_s)
            total += seconds
        return total

    def _measure_taper(self, t: float, current: float) -> None:
        if self._taper is None:
            self._taper = (t, current)
            return
        t0, i0 = self._taper
        if t - t0 > 60.0 and current < 0.9 * i0:
            self._tau_s = max(60.0, (t - t0) / math.log(i0 / current))
