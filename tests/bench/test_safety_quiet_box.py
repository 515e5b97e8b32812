"""The supervisor's quiet box (bench.safety.gate) never hides a trip.

Two claims, each tested directly:
1. the box contract: a sample inside the box a rule offers neither trips the rule nor changes its
   state (so skipping the rule on that sample changes nothing, then or later); tested on random
   samples drawn at and around the box's edges, for every rule that offers a box, and for the
   dT/dt rule's quiet path between its anchors;
2. the gated supervisor returns, sample for sample, the same trips as one that runs every rule on
   every sample: a limit crossed on the very sample after the box is armed, at a step change (a
   shorter timeout, a charge after a discharge in the cold), after a resume (a fresh supervisor
   mid-step), and on long random streams with crossings at random samples.
"""

from __future__ import annotations

import copy
import math
import random
from typing import Any

import pytest

from bench.safety.checks import SensorDisagreementRule, SensorLossRule, StepBudgetRule
from bench.safety.gate import FIELDS, QuietBox
from bench.safety.rules import DtDtRule, HardLimitsRule, StepContext
from bench.safety.supervisor import Supervisor
from bench.safety.window import OperatingWindowRule
from bench.sample import Sample
from bench.simulated.builtin_bench import cell_datasheet
from protocols.loader import parse_protocol

NAN = math.nan


def sample(t: float, v: float = 3.7, i: float = 0.0, tc: float = 25.0, ta: float = 25.0, *,
           step_t: float | None = None, step_ah: float = 0.0) -> Sample:
    return Sample(t, v, i, tc, ta, 0, 1, 1, t if step_t is None else step_t, step_ah)


def state_of(rule: Any) -> dict[str, Any]:
    """Every slot of the rule (and of the rules it holds) but the shared step context, copied."""
    names = [n for cls in type(rule).__mro__ for n in getattr(cls, "__slots__", ()) if n != "ctx"]
    values = {n: getattr(rule, n) for n in names if hasattr(rule, n)}
    return {n: state_of(v) if hasattr(type(v), "__slots__") and not isinstance(v, (int, float, str, tuple))
            else copy.deepcopy(v) for n, v in values.items()}


def near(low: float, high: float, rng: random.Random) -> float:
    """A value at, just inside, just outside or anywhere around [low, high]."""
    finite = [x for x in (low, high) if math.isfinite(x)]
    if not finite:
        return rng.uniform(-1e3, 1e3)
    edge = rng.choice(finite)
    return rng.choice([edge, math.nextafter(edge, math.inf), math.nextafter(edge, -math.inf),
                       edge + rng.uniform(-1e-6, 1e-6), edge + rng.uniform(-2.0, 2.0),
                       rng.uniform(min(finite) - 1.0, max(finite) + 1.0)])


def probe(box: dict[str, tuple[float, float]], base: Sample, rng: random.Random) -> Sample:
    """A random sample around ``box`` (fields the box leaves out keep ``base``'s values)."""
    values = list(base)
    for name, (low, high) in box.items():
        values[FIELDS[name]] = near(low, high, rng)
    if "time_s" not in box:
        values[0] = base.time_s + rng.uniform(0.0, 4e4)
    return Sample(*values)


def inside(box: dict[str, tuple[float, float]], s: Sample) -> bool:
    return all(low <= s[FIELDS[name]] <= high for name, (low, high) in box.items())


def cold_cell_window_rule(ctx: StepContext) -> OperatingWindowRule:
    protocol = parse_protocol("cell: {preset: nmc_21700}\nsteps: [Rest for 1 minute]\n", cell_defaults=cell_datasheet)
    return OperatingWindowRule(ctx, protocol.cell, 1.0)


def rules_with_boxes(ctx: StepContext) -> list[Any]:
    return [HardLimitsRule(2.5, 4.25, 7.0, -20.0, 60.0, persistence_s=2.0),
            HardLimitsRule(2.5, 4.25, 7.0, -20.0, 60.0),
            SensorLossRule(chamber=True), SensorLossRule(),
            cold_cell_window_rule(ctx),
            StepBudgetRule(ctx, 5.0, 1.2), StepBudgetRule(ctx, 5.0, 0.0),
            SensorDisagreementRule(5.0, settle_s=600.0)]


@pytest.mark.parametrize("index", range(8))
def test_inside_its_box_a_rule_neither_trips_nor_changes(index: int) -> None:
    rng = random.Random(1000 + index)
    ctx = StepContext(kind="cc", driven=True, current_a=-5.0, serial=1, timeout_s=3600.0)
    rule = rules_with_boxes(ctx)[index]
    base = sample(0.0, 3.7, -5.0, 25.0, 25.0)
    checked = 0
    for n in range(3000):
        rule.check(base)  # a sample every rule saw: the state the box is offered from
        box = rule.quiet_box(base)
        if box is not None:
            for _ in range(20):
                candidate = probe(box, base, rng)
                if not inside(box, candidate):
                    continue
                before = state_of(rule)
                assert rule.check(candidate) is None, (rule.name, box, candidate)
                assert state_of(rule) == before, (rule.name, box, candidate)
                checked += 1
        # the next base: a random walk that leaves the boxes now and then (and NaNs)
        base = sample(base.time_s + rng.choice([1.0, 1.0, 5.0, 700.0]),
                      base.voltage_v + rng.gauss(0, 0.3), rng.choice([-5.0, -0.005, 0.0, 2.0, 8.0, NAN]),
                      rng.choice([base.temperature_cell_c + rng.gauss(0, 3.0), NAN, 2000.0]),
                      rng.choice([base.temperature_chamber_c + rng.gauss(0, 1.5), NAN, 25.0]),
                      step_t=base.step_time_s + rng.choice([1.0, 2000.0]), step_ah=rng.uniform(-7.0, 7.0))
        if not base.temperature_cell_c == base.temperature_cell_c or abs(base.temperature_cell_c) > 200:
            base = base._replace(temperature_cell_c=rng.uniform(-30, 70)) if n % 3 else base
    assert checked > 250  # the claim was exercised, not vacuous


def test_dtdt_quiet_path_changes_nothing_the_full_check_would() -> None:
    """Between anchors and below the bound, the dT/dt rule's full judgement returns None and keeps
    its state: the quiet path (which skips it) is exact."""
    rng = random.Random(7)
    rule = DtDtRule(0.25)
    t, temp = 0.0, 25.0
    checked = 0
    for _ in range(5000):
        t += rng.choice([0.1, 1.0, 1.0, 2.0, 5.0, 7.0])
        temp += rng.choice([rng.gauss(0, 0.3), 3.0, -2.0, 0.0])
        rule.check(sample(t, tc=temp))
        quiet_s, quiet_c = rule._quiet_s, rule._quiet_c
        if not quiet_s == quiet_s:
            continue
        for _ in range(10):
            now = rng.choice([t, rng.uniform(t, quiet_s), math.nextafter(quiet_s, -math.inf), quiet_s])
            y = rng.choice([quiet_c, math.nextafter(quiet_c, -math.inf), quiet_c - rng.uniform(0, 5), quiet_c + 1e-7])
            if not (now < quiet_s and y <= quiet_c):
                continue
            before = state_of(rule)
            assert rule._judge(sample(now, tc=y)) is None
            assert state_of(rule) == before
            checked += 1
    assert checked > 1000


# -- the gated supervisor against one that runs every rule on every sample -----------------------
class NeverArmed(QuietBox):
    """A box that never arms: every rule runs on every sample (the supervisor before the box)."""

    def arm(self, rules: Any, sample: Sample) -> None:
        self.armed = False


PROTOCOL = """
cell: {preset: nmc_21700}
limits: {persistence_s: 2, ah_overrun_factor: 1.2, sensor_disagreement_k: 3}
steps: [Discharge at 1C for 1 hour, Rest for 10 minutes, Charge at 0.5C for 1 hour, Rest for 10 minutes]
"""


def pair() -> tuple[Supervisor, Supervisor, Any]:
    protocol = parse_protocol(PROTOCOL, cell_defaults=cell_datasheet)
    gated, reference = Supervisor.for_protocol(protocol), Supervisor.for_protocol(protocol)
    reference._box = NeverArmed()
    return gated, reference, protocol


def same_trips(gated: Supervisor, reference: Supervisor, samples: list[Sample]) -> list[tuple[str, float]]:
    """Feed both; after a trip both are reset and go on. The trips (rule, time), asserted equal."""
    trips = []
    for s in samples:
        a, b = gated.check(s), reference.check(s)
        assert (a and (a.rule, a.time_s, a.message)) == (b and (b.rule, b.time_s, b.message)), s
        if a is not None:
            trips.append((a.rule, a.time_s))
            gated.reset("test", "go on")
            reference.reset("test", "go on")
    return trips


def test_a_limit_crossed_on_the_first_sample_after_the_box_is_armed_trips_there() -> None:
    gated, reference, protocol = pair()
    for sup in (gated, reference):
        sup.begin_step(protocol.steps[0], 0.0)
    first = sample(0.0, 3.9, -4.8, 25.0, 25.0, step_t=0.0)
    assert gated.check(first) is None and reference.check(first) is None
    assert gated._box.armed  # the step's first sample armed the box
    over = sample(1.0, 3.9, -4.8, 25.0, 25.0, step_t=1.0, step_ah=-7.0)  # past 1.2 x 5 Ah in one sample
    trip = gated.check(over)
    assert trip is not None and trip.rule == "ah_overrun" and trip.time_s == 1.0
    assert reference.check(over).rule == "ah_overrun"


@pytest.mark.parametrize(("field", "value", "rules"), [
    ("voltage_v", 1.5, {"voltage_limit"}), ("current_a", -9.0, {"current_limit"}),
    ("temperature_cell_c", 75.0, {"temperature_limit", "operating_window"}),
    ("temperature_cell_c", NAN, {"sensor_loss"}), ("temperature_chamber_c", 31.0, set()),
    ("step_time_s", 1e6, {"step_timeout"}),
])
def test_each_bounded_field_leaving_the_box_is_judged_on_that_sample(field: str, value: float,
                                                                     rules: set[str]) -> None:
    """Held out of bounds (persistence 2 s) from the sample after arming: the gated supervisor
    trips on the same sample as the reference."""
    gated, reference, protocol = pair()
    for sup in (gated, reference):
        sup.begin_step(protocol.steps[0], 0.0)
    samples = [sample(0.0, 3.9, -4.8, 25.0, 25.0, step_t=0.0)]
    for k in range(1, 8):
        s = sample(float(k), 3.9 - 0.001 * k, -4.8, 25.0 + 0.01 * k, 25.0, step_t=float(k), step_ah=-0.0013 * k)
        samples.append(s._replace(**{field: value}))
    trips = same_trips(gated, reference, samples)
    if rules:
        assert trips and trips[0][0] in rules


def test_a_step_change_re_examines_every_rule() -> None:
    """A charge in the cold after a discharge (the operating window of charging), then a step whose
    timeout is already over at its first sample: trips where the reference trips."""
    gated, reference, protocol = pair()
    discharge, rest, charge, _ = protocol.steps
    samples_by_step = [
        (discharge, 0.0, [sample(t, 3.6, -4.8, -5.0, -5.0, step_t=t, step_ah=-0.0013 * t) for t in range(0, 30)]),
        (charge, 30.0, [sample(30.0 + t, 3.6, 2.4, -5.0, -5.0, step_t=t, step_ah=0.0007 * t) for t in range(0, 5)]),
    ]
    trips = []
    for step, start, samples in samples_by_step:
        gated.begin_step(step, start)
        reference.begin_step(step, start)
        trips += same_trips(gated, reference, samples)
    assert trips and trips[0] == ("operating_window", 30.0)
    # a rest whose step time already exceeds the rest's 24 h timeout on its first sample
    for sup in (gated, reference):
        sup.begin_step(rest, 35.0)
    late = [sample(35.0 + t, 3.6, 0.0, -5.0, -5.0, step_t=10 * 24 * 3600.0 + t) for t in range(3)]
    assert same_trips(gated, reference, late)[0][0] == "step_timeout"


def test_a_resumed_run_judges_its_first_samples_with_every_rule() -> None:
    """A resume builds a new supervisor mid-step: unarmed, its first sample runs every rule; a
    crossing on that sample and on the next one trips as in the reference."""
    for crossing_at in (0, 1):
        gated, reference, protocol = pair()
        for sup in (gated, reference):
            sup.begin_step(protocol.steps[2], 5000.0)
        samples = [sample(5000.0 + k, 4.1, 2.4, 30.0, 25.0, step_t=1200.0 + k) for k in range(4)]
        samples[crossing_at] = samples[crossing_at]._replace(current_a=12.0)
        samples[crossing_at + 1] = samples[crossing_at + 1]._replace(current_a=12.0)
        samples[crossing_at + 2] = samples[crossing_at + 2]._replace(current_a=12.0)
        trips = same_trips(gated, reference, samples)
        assert trips and trips[0][0] in ("operating_window", "current_limit")


@pytest.mark.parametrize("seed", range(4))
def test_random_streams_trip_the_same_samples_as_every_rule_on_every_sample(seed: int) -> None:
    rng = random.Random(seed)
    gated, reference, protocol = pair()
    t = 0.0
    total = []
    for n in range(12):
        step = protocol.steps[n % 4]
        for sup in (gated, reference):
            sup.begin_step(step, t)
        driven = step.kind == "cc"
        current = (step.current_a or 0.0) if driven else 0.0
        v, temp, air, ah = 3.7, 25.0, 25.0, 0.0
        samples = []
        for k in range(400):
            t += 1.0
            v += rng.gauss(0, 0.002)
            temp += rng.gauss(0, 0.02)
            air += rng.gauss(0, 0.01)
            ah += current / 3600.0
            s = sample(t, v, current + rng.gauss(0, 0.002), temp, air, step_t=float(k), step_ah=ah)
            if rng.random() < 0.02:  # an excursion: one field far out for a few samples
                field = rng.choice(["voltage_v", "current_a", "temperature_cell_c", "temperature_chamber_c",
                                    "step_ah"])
                s = s._replace(**{field: rng.choice([NAN, 1e3, -1e3, 4.3, 2.45, 61.0, -25.0, 9.0, 40.0])})
            samples.append(s)
        total += same_trips(gated, reference, samples)
    assert total  # excursions tripped (and where they did not, neither did the reference)


def test_the_box_skips_the_bound_rules_on_a_steady_stretch() -> None:
    """Not vacuous: on a quiet CC stretch the box holds after the first sample."""
    gated, _, protocol = pair()
    gated.begin_step(protocol.steps[0], 0.0)
    gated.check(sample(0.0, 3.9, -4.8, 25.0, 25.0, step_t=0.0))
    box = gated._box
    assert box.armed and len(box.always) < len(gated.active_rules)
    names = {r.name for r in gated.active_rules if r.check not in box.always}
    assert {"hard_limits", "sensor_loss", "operating_window", "step_budget", "sensor_disagreement"} <= names
    assert box.holds(sample(1.0, 3.899, -4.8, 25.01, 25.0, step_t=1.0, step_ah=-0.0013))


def test_a_rule_added_mid_step_runs_from_the_next_sample() -> None:
    """An abuse test's operator rule is added while the box is armed: it runs on the next sample."""
    from bench.safety.rules import Trip

    gated, _, protocol = pair()
    gated.begin_step(protocol.steps[0], 0.0)
    gated.check(sample(0.0, 3.9, -4.8, 25.0, 25.0, step_t=0.0))
    assert gated._box.armed

    class Always:
        name = "operator"

        def check(self, s: Sample) -> Trip:
            return Trip("operator_abort", s.time_s, "abort")

    gated.add_rule(Always())
    trip = gated.check(sample(1.0, 3.9, -4.8, 25.0, 25.0, step_t=1.0))
    assert trip is not None and trip.rule == "operator_abort" and trip.time_s == 1.0
