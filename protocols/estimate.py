"""A rough estimate of a protocol's duration and charge throughput, for ``bench validate``.

It walks the same plan as the engine (:mod:`protocols.plan`), sending each step an *estimated*
result instead of a measured one, so loop conditions and Python protocols see plausible values.
The model is deliberately simple and says so:

* the SOC starts at ``cell.initial_soc`` (0.5 when unknown) and moves with the charge;
* CC / CP: the charge to reach the end condition at the set current (power at the mean of the
  cell's voltage limits). A voltage end maps to an SOC on a straight OCV line between the cell's
  limits, shifted by 5 % per C of rate for polarization;
* CV: the current decays exponentially from the last CC current (1C if none) to the end current;
* rest and soak: their duration; a soak "until cell within ..." takes 1 h plus its hold time;
  a rest ended only by a temperature condition 1 h; both capped by "(at most ...)";
* pulse trains: their count; EIS: two periods per frequency plus 1 s each.

A loop with an ``until`` runs to its maximum unless the estimated values meet the condition.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from protocols.checks import InstrumentLimits
from protocols.plan import PlannedStep, StepResult
from protocols.planning import make_plan
from protocols.steps import CellSpec, Protocol, Step

#: Walks longer than this many steps stop (the estimate then covers only those steps).
MAX_STEPS = 100_000
POLARIZATION_SOC_PER_C = 0.05
UNKNOWN_CONDITION_S = 3600.0


@dataclass
class Estimate:
    """Estimated totals: seconds, Ah charged and discharged (magnitudes), steps executed."""

    duration_s: float = 0.0
    charge_ah: float = 0.0
    discharge_ah: float = 0.0
    steps: int = 0
    cycles: int = 0
    truncated: bool = False
    #: step index -> (estimated duration of its first execution, s; number of executions)
    per_step: dict[int, tuple[float, int]] = field(default_factory=dict)

    @property
    def throughput_ah(self) -> float:
        """Charge moved in either direction, Ah."""
        return self.charge_ah + self.discharge_ah


class _Model:
    """The SOC of the cell as the estimate runs, and the last constant current (A)."""

    def __init__(self, cell: CellSpec) -> None:
        self.cell = cell
        self.soc = 0.5 if math.isnan(cell.initial_soc) else cell.initial_soc
        self.last_current_a = cell.capacity_ah

    def voltage_soc(self, voltage_v: float, current_a: float) -> float:
        """SOC at which the terminal voltage reaches ``voltage_v`` under ``current_a``."""
        cell = self.cell
        ocv_soc = (voltage_v - cell.voltage_min_v) / (cell.voltage_max_v - cell.voltage_min_v)
        shift = POLARIZATION_SOC_PER_C * abs(current_a) / cell.capacity_ah
        return min(1.0, max(0.0, ocv_soc - shift if current_a > 0 else ocv_soc + shift))

    def step(self, step: Step) -> StepResult:
        """Estimated result of ``step``, advancing the model."""
        cell = self.cell
        duration = step.duration_s
        if step.kind in ("cc", "cp"):
            current = step.current_a if step.current_a is not None else \
                float(step.power_w or 0.0) / (0.5 * (cell.voltage_min_v + cell.voltage_max_v))
            return self._constant_current(step, current, duration)
        if step.kind == "cv":
            return self._hold(step, duration)
        if step.kind == "pulse" and step.pulse is not None:
            pulse = step.pulse
            ah = abs(pulse.current_a) * pulse.on_s * pulse.count / 3600.0
            return self._moved(pulse.count * pulse.period_s, ah if pulse.current_a > 0 else -ah)
        if step.kind == "replay" and step.replay is not None:
            mean = step.replay.mean()  # its mean current (power: at the mid voltage) as a constant current
            if step.replay.kind == "power":
                mean /= 0.5 * (cell.voltage_min_v + cell.voltage_max_v)
            if mean == 0 or not step.until:
                return self._moved(duration or 0.0, mean * (duration or 0.0) / 3600.0)
            return self._constant_current(step, mean, duration)
        if step.kind == "eis" and step.eis is not None:
            return self._moved(sum(2.0 / f + 1.0 for f in step.eis.frequencies_hz()), 0.0)
        seconds = duration
        stable = [c for c in step.until if c.quantity == "stable_within_k"]
        if stable:
            seconds = min(seconds or math.inf, UNKNOWN_CONDITION_S + stable[0].hold_s)
        elif step.until:
            seconds = min(seconds or math.inf, UNKNOWN_CONDITION_S)
        return self._moved(seconds or 0.0, 0.0)

    def _constant_current(self, step: Step, current_a: float, duration_s: float | None) -> StepResult:
        cell = self.cell
        if current_a == 0:
            return self._moved(duration_s or 0.0, 0.0)
        self.last_current_a = abs(current_a)
        sign = 1.0 if current_a > 0 else -1.0
        needed_ah = math.inf
        for condition in step.until:
            if condition.quantity == "voltage_v":
                target = self.voltage_soc(condition.value, current_a)
                needed_ah = min(needed_ah, max(0.0, (target - self.soc) * sign) * cell.capacity_ah)
            elif condition.quantity == "soc":
                needed_ah = min(needed_ah, max(0.0, (condition.value - self.soc) * sign) * cell.capacity_ah)
            elif condition.quantity == "capacity_ah":
                needed_ah = min(needed_ah, condition.value)
            elif condition.quantity == "energy_wh":
                needed_ah = min(needed_ah, condition.value / (0.5 * (cell.voltage_min_v + cell.voltage_max_v)))
        available = (1.0 - self.soc if sign > 0 else self.soc) * cell.capacity_ah
        needed_ah = min(needed_ah, available)
        seconds = needed_ah / abs(current_a) * 3600.0
        if duration_s is not None and duration_s < seconds:
            seconds = duration_s
        return self._moved(seconds, sign * abs(current_a) * seconds / 3600.0)

    def _hold(self, step: Step, duration_s: float | None) -> StepResult:
        cell = self.cell
        ends = [c.value for c in step.until if c.quantity == "current_a"]
        start_a = min(self.last_current_a, cell.current_max_a)
        end_a = min(min(ends) if ends else start_a / 20.0, start_a)
        going_up = (step.voltage_v or 0.0) >= cell.voltage_min_v + self.soc * (cell.voltage_max_v - cell.voltage_min_v)
        room_ah = (1.0 - self.soc if going_up else self.soc) * cell.capacity_ah
        tau_s = max(room_ah / max(start_a, 1e-9) * 3600.0, 60.0)
        seconds = tau_s * math.log(max(start_a / max(end_a, 1e-9), 1.0)) + 60.0
        if duration_s is not None:
            seconds = min(seconds, duration_s)
        moved = min(room_ah, start_a * tau_s / 3600.0 * (1.0 - math.exp(-seconds / tau_s)))
        return self._moved(seconds, moved if going_up else -moved)

    def _moved(self, seconds: float, net_ah: float) -> StepResult:
        self.soc = min(1.0, max(0.0, self.soc + net_ah / self.cell.capacity_ah))
        return StepResult("estimate", 0.0, seconds, charge_ah=max(net_ah, 0.0), discharge_ah=max(-net_ah, 0.0),
                          charge_wh=max(net_ah, 0.0) * self.cell.voltage_max_v,
                          discharge_wh=max(-net_ah, 0.0) * self.cell.voltage_min_v)


def dry_run(protocol: Protocol, *, instrument: InstrumentLimits | None = None,
            max_steps: int = MAX_STEPS) -> Iterator[tuple[PlannedStep, StepResult] | None]:
    """Walk ``protocol`` on estimated results: ``(planned step, estimated result)`` pairs, then
    None if the walk was stopped after ``max_steps``. Errors are ProtocolErrors with a place."""
    model = _Model(protocol.cell)
    plan, _ctx = make_plan(protocol, instrument=instrument, dry_run=True)
    elapsed = 0.0
    try:
        planned = next(plan)
        for _ in range(max_steps):
            guess = model.step(planned.step)
            seconds = guess.end_time_s
            result = StepResult("estimate", elapsed, elapsed + seconds, guess.charge_ah, guess.discharge_ah,
                                guess.charge_wh, guess.discharge_wh)
            elapsed += seconds
            yield planned, result
            planned = plan.send(result)
    except StopIteration:
        return
    plan.close()
    yield None


def estimate(protocol: Protocol, *, instrument: InstrumentLimits | None = None,
             max_steps: int = MAX_STEPS) -> Estimate:
    """Estimated duration, Ah and steps of ``protocol`` (see the module docstring)."""
    out = Estimate()
    for item in dry_run(protocol, instrument=instrument, max_steps=max_steps):
        if item is None:
            out.truncated = True
            break
        planned, result = item
        seconds = result.duration_s
        out.duration_s = result.end_time_s
        out.steps += 1
        out.cycles = max(out.cycles, planned.cycle)
        out.charge_ah += result.charge_ah
        out.discharge_ah += result.discharge_ah
        first, count = out.per_step.get(planned.step.index, (seconds, 0))
        out.per_step[planned.step.index] = (first, count + 1)
    return out
