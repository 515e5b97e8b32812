"""The software safety supervisor: every sample is checked against rules, independent of steps.

Tier 2 of the bench's safety (tier 1 is the instruments' own protection, set before any output
is enabled). The engine calls :meth:`Supervisor.begin_step` at each step start and
:meth:`Supervisor.check` with every sample; the first trip latches until an operator resets it,
and the safe-state sequence (:mod:`bench.safety.safe_state`) follows. A watchdog thread
(:mod:`bench.safety.watchdog`) fed by every checked sample trips when samples stop arriving.

The rules live in :mod:`bench.safety.rules`, :mod:`bench.safety.shorts` and
:mod:`bench.safety.checks`; :func:`rules_for_protocol` builds the set every run has from the
protocol's ``limits:`` and ``cell:``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from itertools import repeat
from operator import call
from typing import TYPE_CHECKING

from bench.safety.checks import (
    SensorDisagreementRule,
    SensorLossRule,
    StaleDataRule,
    StepBudgetRule,
)
from bench.safety.gate import QuietBox
from bench.safety.last_stretch import LastStretchJudge, LastStretchRule
from bench.safety.rules import (
    DtDtRule,
    HardLimitsRule,
    LimitRule,
    Rule,
    RunawayRule,
    StepContext,
    Trip,
)
from bench.safety.shorts import (
    CellChamberDeltaRule,
    ChargeVoltageFallRule,
    CvCurrentRiseRule,
    RestSelfHeatingRule,
    RestVoltageDropRule,
    VoltageCollapseRule,
)
from bench.safety.soft_shorts import ChargeBalanceRule, RestHeatBalanceRule
from bench.safety.window import OperatingWindowRule
from bench.sample import Sample
from protocols.steps import CellSpec, Limits, Protocol, Step

if TYPE_CHECKING:
    from bench.safety.watchdog import Watchdog

logger = logging.getLogger(__name__)

__all__ = ["Supervisor", "Trip", "Rule", "LimitRule", "SensorLossRule", "StepContext",
           "rules_from_limits", "rules_for_protocol", "step_timeout_s"]

#: Automatic step timeouts: a Hold (CV) may take this long, s, times ``step_timeout_factor``/1.5.
CV_TIMEOUT_S = 4 * 3600.0
#: ... a Rest or Soak ended only by a condition.
REST_TIMEOUT_S = 24 * 3600.0
#: Extra time allowed on top of an estimated duration, s.
TIMEOUT_MARGIN_S = 600.0


def step_timeout_s(step: Step, cell: CellSpec, limits: Limits, period_s: float) -> float:
    """Step time (s) after which the step-timeout rule trips; ``inf`` when disabled.

    A step with a duration is ended by the engine: it times out a few periods after it.
    A step ended only by conditions gets an estimate times ``limits.step_timeout_factor``:
    charge / discharge: the time to move the full capacity at the set current (power: at the
    cell's minimum voltage) plus 10 min; hold: 4 h x factor / 1.5; rest / soak: 24 h.
    ``limits.step_timeout_s`` > 0 replaces the estimate.
    """
    factor = limits.step_timeout_factor
    if factor <= 0:
        return math.inf
    if step.duration_s is not None:
        return step.duration_s + max(3.0 * period_s, 10.0)
    if limits.step_timeout_s > 0:
        return limits.step_timeout_s
    if step.kind == "cc" and step.current_a:
        return 3600.0 * cell.capacity_ah / abs(step.current_a) * factor + TIMEOUT_MARGIN_S
    if step.kind == "cp" and step.power_w:
        current = abs(step.power_w) / max(cell.voltage_min_v, 0.5)
        return 3600.0 * cell.capacity_ah / current * factor + TIMEOUT_MARGIN_S
    if step.kind == "replay" and step.replay is not None and step.replay.mean() < 0:
        mean = -step.replay.mean()
        current = mean if step.replay.kind == "current" else mean / max(cell.voltage_min_v, 0.5)
        return 3600.0 * cell.capacity_ah / current * factor + TIMEOUT_MARGIN_S
    if step.kind == "cv":
        return CV_TIMEOUT_S * factor / 1.5
    return REST_TIMEOUT_S * factor / 1.5


def rules_from_limits(limits: Limits) -> list[Rule]:
    """The hard-limit rules: voltage, current, cell temperature (with ``persistence_s``), sensor loss."""
    return [
        HardLimitsRule(limits.voltage_min_v, limits.voltage_max_v, limits.current_max_a,
                       limits.temperature_min_c, limits.temperature_max_c, limits.persistence_s),
        SensorLossRule(chamber=True),
    ]


def rules_for_protocol(protocol: Protocol, ctx: StepContext) -> list[Rule]:
    """Every rule a run has, configured from ``protocol.limits`` and ``protocol.cell``.

    A threshold of 0 leaves its rule out. Rules with an ``applies(ctx)`` method run only in the
    steps it accepts (the supervisor picks them at each step start).
    """
    limits, cell = protocol.limits, protocol.cell
    rules: list[Rule] = rules_from_limits(limits)
    rules.append(StaleDataRule(ctx, limits.stale_data_s, limits.stale_frozen_s))
    if limits.dtdt_max_k_per_s > 0:
        rules.append(DtDtRule(limits.dtdt_max_k_per_s))
    if limits.runaway_dtdt_k_per_s > 0:
        rules.append(RunawayRule(ctx, temperature_max_c=cell.temperature_max_c,
                                 dtdt_k_per_s=limits.runaway_dtdt_k_per_s, hold_s=limits.runaway_hold_s,
                                 voltage_drop=limits.runaway_voltage_drop))
    if limits.short_collapse_v > 0:
        rules.append(VoltageCollapseRule(ctx, limits.short_collapse_v))
    if limits.short_rest_dvdt_v_per_s > 0:
        rules.append(RestVoltageDropRule(ctx, limits.short_rest_dvdt_v_per_s))
    if limits.short_cv_rise_c > 0:
        rules.append(CvCurrentRiseRule(ctx, limits.short_cv_rise_c * cell.capacity_ah))
    if limits.short_charge_fall_v > 0:
        rules.append(ChargeVoltageFallRule(ctx, limits.short_charge_fall_v))
    if limits.short_rest_heating_k > 0:
        rules.append(RestSelfHeatingRule(ctx, limits.short_rest_heating_k))
        rules.append(RestHeatBalanceRule(ctx, limits.short_rest_heating_k))
    if limits.short_charge_balance > 0:
        rules.append(ChargeBalanceRule(ctx, limits.short_charge_balance, voltage_min_v=cell.voltage_min_v,
                                       voltage_max_v=cell.voltage_max_v, full_current_a=0.1 * cell.capacity_ah,
                                       delta_k=limits.short_rest_heating_k or 2.0,
                                       tolerance_k=limits.window_tolerance_k or 1.0))
    if limits.cell_chamber_delta_max_k > 0:
        rules.append(CellChamberDeltaRule(limits.cell_chamber_delta_max_k))
    if limits.ah_overrun_factor > 0 or limits.step_timeout_factor > 0:
        rules.append(StepBudgetRule(ctx, cell.capacity_ah, limits.ah_overrun_factor,
                                    timeout=limits.step_timeout_factor > 0))
    if limits.sensor_disagreement_k > 0:
        rules.append(SensorDisagreementRule(limits.sensor_disagreement_k))
    rules.append(OperatingWindowRule(ctx, cell, limits.window_tolerance_k))
    rules.append(LastStretchRule(LastStretchJudge(limits.short_rest_heating_k or 2.0,
                                                  tolerance_k=limits.window_tolerance_k or 1.0)))
    return rules


class Supervisor:
    """Checks each sample against every rule; the first trip latches until :meth:`reset`.

    A trip raised outside the sample path (the watchdog thread) is handed in with
    :meth:`external_trip` and returned by the next :meth:`check` or :meth:`pending_trip`.
    """

    def __init__(self, rules: list[Rule], *, context: StepContext | None = None,
                 protocol: Protocol | None = None) -> None:
        self.rules = rules
        #: The rules that apply to the present step (all of them until the first step starts).
        self.active_rules: list[Rule] = list(rules)
        #: The bound ``check`` of each active rule, in order.
        self._checks = [r.check for r in self.active_rules]
        self.context = context or StepContext()
        self.protocol = protocol
        self.tripped: Trip | None = None
        self.watchdog: Watchdog | None = None
        self.resets: list[tuple[float, str, str]] = []
        self._external: Trip | None = None
        self._lock = threading.Lock()
        self._first_of_step = True
        self._last_sample: Sample | None = None
        #: Which rules provably cannot trip on a sample (bench.safety.gate): armed after a
        #: sample every rule checked, disarmed at each step start and when a rule is added.
        self._box = QuietBox()

    @classmethod
    def for_limits(cls, limits: Limits) -> Supervisor:
        """A supervisor with only the hard-limit rules of ``limits``."""
        return cls(rules_from_limits(limits))

    @classmethod
    def for_protocol(cls, protocol: Protocol) -> Supervisor:
        """A supervisor with every rule of :func:`rules_for_protocol`."""
        ctx = StepContext(period_s=protocol.period_s)
        return cls(rules_for_protocol(protocol, ctx), context=ctx, protocol=protocol)

    @property
    def latched(self) -> bool:
        """True from the first trip until an operator reset."""
        return self.tripped is not None

    def begin_step(self, step: Step, time_s: float) -> None:
        """Tell the rules a new step starts at test time ``time_s`` (s)."""
        ctx = self.context
        ctx.serial += 1
        was_driven = ctx.driven
        ctx.kind = step.kind
        ctx.text = step.text
        ctx.start_s = time_s
        ctx.driven = step.kind in ("cc", "cv", "cp", "pulse", "replay")
        ctx.output_changed = was_driven or ctx.driven or ctx.serial == 1
        ctx.current_a = float(step.current_a or 0.0) if step.kind == "cc" else 0.0
        ctx.voltage_start_v = math.nan
        ctx.last_sample = self._last_sample
        period = step.period_s or (self.protocol.period_s if self.protocol else ctx.period_s)
        ctx.period_s = period
        if self.protocol is not None:
            ctx.timeout_s = step_timeout_s(step, self.protocol.cell, self.protocol.limits, period)
        if self.watchdog is not None:
            self.watchdog.set_period(period)
            self.watchdog.feed()
        self.active_rules = [r for r in self.rules if (applies := getattr(r, "applies", None)) is None or applies(ctx)]
        self._checks = [r.check for r in self.active_rules]  # bound once per step: check() runs per sample
        self._box.disarm()  # the step's first sample goes through every rule, then the box is armed
        self._first_of_step = True

    def add_rule(self, rule: Rule) -> None:
        """Add a rule now (it runs from the next sample on)."""
        self.rules.append(rule)
        self.active_rules.append(rule)
        self._checks.append(rule.check)
        self._box.disarm()

    def check(self, sample: Sample) -> Trip | None:
        """Return a new trip (once), or None. Rules keep running after a trip (no new trips)."""
        watchdog = self.watchdog
        if watchdog is not None:
            watchdog.feed()
        self._last_sample = sample
        # The active rules run in order (rules keep state); map() calls them without a
        # Python-level loop per rule. The first trip (rules return a Trip or None) is the one.
        # Inside the armed quiet box only the rules without a box run: the others cannot trip
        # on this sample (bench.safety.gate); outside it all run and the box is armed again.
        box = self._box
        if box.armed:  # (never on a step's first sample: begin_step disarms it)
            if self._external is None:
                values = box.get(sample)
                if all(box.above(values)) and all(box.below(values)):
                    results = list(map(call, box.always, repeat(sample)))
                    if not any(results):
                        return None
                    return self._latch(results)
        elif self._first_of_step:
            self.context.voltage_start_v = sample.voltage_v
            self._first_of_step = False
        if self._external is not None and self.tripped is None:
            return self._take_external()
        results = list(map(call, self._checks, repeat(sample)))
        box.arm(self.active_rules, sample)
        if not any(results):
            return None
        return self._latch(results)

    def _latch(self, results: list[Trip | None]) -> Trip | None:
        """The first trip of ``results`` (one is there), latched; None when one is latched already."""
        found: Trip = next(filter(None, results))
        if self.tripped is None:
            self.tripped = found
            return found
        return None

    def external_trip(self, trip: Trip) -> None:
        """Hand in a trip found outside the sample path (thread-safe)."""
        with self._lock:
            if self._external is None:
                self._external = trip

    def pending_trip(self) -> Trip | None:
        """A trip handed in by :meth:`external_trip` and not yet returned (latches it), else None."""
        if self._external is None or self.tripped is not None:
            return None
        return self._take_external()

    def _take_external(self) -> Trip:
        with self._lock:
            trip = self._external
            assert trip is not None
            self.tripped = trip
            return trip

    def reset(self, operator: str = "", reason: str = "") -> None:
        """Explicit operator reset of the latched alarm (recorded with who and why)."""
        if self.tripped is not None:
            logger.warning("safety alarm %s reset by %s: %s", self.tripped.rule, operator or "?", reason)
            self.resets.append((time.time(), operator, reason))
        self.tripped = None
        with self._lock:
            self._external = None
