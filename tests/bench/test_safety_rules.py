"""Every supervisor rule: a sample stream that trips it and one that must not (virtual time)."""

from __future__ import annotations

import dataclasses
import math
import random

import pytest

from bench.safety.checks import LINK_GIVE_UP_S, SensorDisagreementRule, SensorLossRule, StaleDataRule, StepBudgetRule
from bench.safety.rules import DtDtRule, HardLimitsRule, LimitRule, RunawayRule, StepContext, Trip
from bench.safety.shorts import (
    CellChamberDeltaRule,
    ChargeVoltageFallRule,
    CvCurrentRiseRule,
    RestSelfHeatingRule,
    RestVoltageDropRule,
    VoltageCollapseRule,
)
from bench.safety.supervisor import Supervisor, rules_for_protocol, step_timeout_s
from bench.sample import Sample
from bench.simulated.builtin_bench import cell_datasheet
from protocols.errors import ProtocolError
from protocols.loader import parse_protocol
from protocols.steps import Step

NAN = math.nan


def s(t: float, v: float = 3.7, i: float = 0.0, tc: float = 25.0, ta: float = 25.0, *, step_t: float | None = None,
      step_ah: float = 0.0) -> Sample:
    """A sample at test time ``t`` (s); the step started at 0 unless ``step_t`` says otherwise."""
    return Sample(t, v, i, tc, ta, 0, 1, 1, t if step_t is None else step_t, step_ah)


def run(rule, samples) -> Trip | None:
    """Feed the samples; the first trip (or None)."""
    for sample in samples:
        trip = rule.check(sample)
        if trip is not None:
            return trip
    return None


def ctx_for(kind: str, current_a: float = 0.0, **kw) -> StepContext:
    return StepContext(kind=kind, driven=kind in ("cc", "cv", "cp"), current_a=current_a, serial=1, **kw)


# -- hard limits ----------------------------------------------------------------------------------
def test_hard_limits_trip_on_each_bound_and_name_it():
    rule = HardLimitsRule(2.5, 4.25, 7.0, -20.0, 60.0)
    assert run(rule, [s(0, 4.2, 5.0, 59.0)]) is None
    assert run(rule, [s(1, 4.26)]).rule == "voltage_limit"
    assert run(HardLimitsRule(2.5, 4.25, 7.0, -20.0, 60.0), [s(1, 2.49)]).values["limit"] == 2.5
    assert run(HardLimitsRule(2.5, 4.25, 7.0, -20.0, 60.0), [s(1, i=-7.1)]).rule == "current_limit"
    trip = run(HardLimitsRule(2.5, 4.25, 7.0, -20.0, 60.0), [s(1, tc=60.5)])
    assert trip.rule == "temperature_limit" and trip.values["temperature_cell_c"] == 60.5


def test_hard_limits_persistence_and_nan():
    rule = HardLimitsRule(2.5, 4.25, 7.0, -20.0, 60.0, persistence_s=5.0)
    # 4 s over the limit, back, then 4 s again: never 5 s in a row
    stream = [s(t, 4.3) for t in range(0, 5)] + [s(5, 4.2)] + [s(t, 4.3) for t in range(6, 10)]
    assert run(rule, stream) is None
    assert run(rule, [s(10, 4.2)] + [s(t, 4.3) for t in range(11, 17)]).time_s == 16
    assert run(HardLimitsRule(2.5, 4.25, 7.0, -20.0, 60.0), [s(0, tc=NAN)]) is None  # sensor loss is its own rule


def test_single_limit_rule_still_works():
    rule = LimitRule("voltage_limit", "voltage_v", "V", 2.5, 4.25, persistence_s=1.0)
    assert run(rule, [s(0, 4.3)]) is None
    assert run(rule, [s(1, 4.3)]).rule == "voltage_limit"


# -- temperature rate and runaway ---------------------------------------------------------------------
def test_dtdt_trips_on_fast_rise_not_on_noise_or_slow_rise():
    rng = random.Random(3)
    slow = [s(t, tc=25 + 0.05 * t + rng.gauss(0, 0.05)) for t in range(600)]
    assert run(DtDtRule(0.25), slow) is None
    fast = [s(t, tc=25 + (0.5 * (t - 100) if t > 100 else 0) + rng.gauss(0, 0.05)) for t in range(200)]
    trip = run(DtDtRule(0.25), fast)
    assert trip.rule == "dtdt_limit" and 100 < trip.time_s <= 112


def test_runaway_confirmation_follows_gb38031_c537():
    ctx = ctx_for("rest", voltage_start_v=4.2)

    def stream(rate, seconds, *, v=4.2, t_start=40.0):
        return [s(t, v, tc=t_start + rate * t) for t in range(seconds + 1)]

    # dT/dt 2 K/s with the cell above its max operating temperature: confirmed after > 3 s
    trip = run(RunawayRule(ctx, temperature_max_c=60.0), stream(2.0, 10, t_start=70.0))
    assert trip.rule == "thermal_runaway" and trip.values["held_s"] > 3.0 and trip.time_s == 4
    # the same rise below the max temperature and without a voltage drop: not confirmed
    assert run(RunawayRule(ctx, temperature_max_c=60.0), stream(2.0, 6, t_start=20.0)) is None
    # ... but with the voltage down by more than 25 %: confirmed
    assert run(RunawayRule(ctx, temperature_max_c=60.0), stream(2.0, 10, v=3.0, t_start=20.0)).rule == "thermal_runaway"
    # 0.9 K/s is below the criterion, however long
    assert run(RunawayRule(ctx, temperature_max_c=60.0), stream(0.9, 60, v=1.0, t_start=70.0)) is None
    # a 3 s burst is not "more than 3 s"
    burst = [s(t, 1.0, tc=70.0 + (2.0 * t if t <= 3 else 6.0)) for t in range(10)]
    assert run(RunawayRule(ctx, temperature_max_c=60.0), burst) is None


# -- internal-short signatures ------------------------------------------------------------------------
def test_voltage_collapse_at_rest_trips():
    ctx = ctx_for("rest")
    stream = [s(t, 4.1 - 1e-5 * t) for t in range(10)] + [s(10, 3.6)]
    trip = run(VoltageCollapseRule(ctx, 0.05), stream)
    assert trip.rule == "internal_short" and trip.values["drop_v"] == pytest.approx(0.5, abs=0.01)


def test_voltage_collapse_ignores_a_steepening_discharge_and_step_transients():
    ctx = ctx_for("cc", -5.0)
    # a discharge knee sampled every 10 s: each drop 1.5x the one before
    v, dv, knee = 3.2, -0.01, []
    for t in range(0, 120, 10):
        knee.append(s(t, v, -5.0))
        v, dv = v + dv, dv * 1.5
    assert run(VoltageCollapseRule(ctx, 0.05), knee) is None
    # the first two samples after a setpoint change carry the RC transient
    ctx.serial += 1
    assert run(VoltageCollapseRule(ctx, 0.05), [s(0, 3.6, -5.0), s(1, 3.45, -5.0)]) is None


def test_rest_voltage_drop_trips_after_settling_only():
    ctx = ctx_for("rest")
    relax = [s(t, 4.10 + 0.03 * math.exp(-t / 60.0)) for t in range(1800)]
    assert run(RestVoltageDropRule(ctx, 0.0005), relax) is None
    drain = [s(t, 4.10 - 0.001 * max(0, t - 600)) for t in range(700)]
    trip = run(RestVoltageDropRule(ctx, 0.0005), drain)
    assert trip.rule == "internal_short_rest" and 600 < trip.time_s < 640
    fast_start = [s(t, 4.1 - 0.002 * t) for t in range(100)]  # within the settling time
    assert run(RestVoltageDropRule(ctx, 0.0005), fast_start) is None


def test_cv_current_rise_trips_and_decay_does_not():
    ctx = ctx_for("cv")
    decay = [s(t, 4.2, 2.5 * math.exp(-t / 900.0)) for t in range(3600)]
    assert run(CvCurrentRiseRule(ctx, 0.1), decay) is None
    jump = [s(t, 4.2, 2.5 * math.exp(-t / 900.0) + (0.8 if t >= 1000 else 0.0)) for t in range(1100)]
    trip = run(CvCurrentRiseRule(ctx, 0.1), jump)
    assert trip.rule == "internal_short_cv" and trip.time_s == 1001


def test_charge_voltage_fall_trips_and_a_rising_charge_does_not():
    ctx = ctx_for("cc", 2.5)
    rng = random.Random(1)
    rising = [s(t, 3.6 + 0.0001 * t + rng.gauss(0, 0.0005), 2.5) for t in range(3000)]
    assert run(ChargeVoltageFallRule(ctx, 0.03), rising) is None
    falling = [s(t, 3.6 + 0.0001 * t - (0.05 if t >= 500 else 0.0), 2.5) for t in range(600)]
    assert run(ChargeVoltageFallRule(ctx, 0.03), falling).rule == "internal_short_charge"
    assert run(ChargeVoltageFallRule(ctx_for("cc", -2.5), 0.03), falling) is None  # a discharge may fall
    # A lower charge current after a higher one: the cell relaxes (80 mV over minutes), then charges on.
    relaxing = [s(t, 3.40 + 0.08 * math.exp(-t / 120.0) + 0.00005 * t, 1.15) for t in range(2400)]
    assert run(ChargeVoltageFallRule(ctx, 0.03), relaxing) is None


def test_rest_self_heating_trips_on_a_warming_resting_cell_only():
    ctx = ctx_for("rest")
    cooling = [s(t, tc=25 + 15 * math.exp(-t / 600.0)) for t in range(3600)]  # after a discharge
    assert run(RestSelfHeatingRule(ctx, 2.0), cooling) is None
    heating = [s(t, tc=25 + 0.02 * max(0, t - 300)) for t in range(600)]
    trip = run(RestSelfHeatingRule(ctx, 2.0), heating)
    assert trip.rule == "internal_short_heating" and trip.values["temperature_cell_c"] > 27.0


def test_rest_self_heating_ignores_one_noisy_reading():
    # a cell 5 K above the air cooling slowly, sampled every 10 s; one reading 0.4 K high (a noise
    # tail of the thermocouple) makes the 60 s slope 0.4 K/min for that one sample only
    ctx = ctx_for("rest", period_s=10.0)
    cooling = [s(t, tc=30 - 0.0005 * t + (0.4 if t == 600 else 0.0)) for t in range(0, 1200, 10)]
    assert run(RestSelfHeatingRule(ctx, 2.0), cooling) is None
    heating = [s(t, tc=30 + 0.01 * max(0, t - 600)) for t in range(0, 1200, 10)]  # 0.6 K/min from 600 s
    trip = run(RestSelfHeatingRule(ctx, 2.0), heating)
    assert trip is not None and 600 < trip.time_s <= 700


def test_cell_chamber_delta():
    assert run(CellChamberDeltaRule(10.0), [s(0, tc=34.0, ta=25.0)]) is None
    assert run(CellChamberDeltaRule(10.0), [s(0, tc=36.0, ta=25.0)]).rule == "cell_chamber_delta"
    assert run(CellChamberDeltaRule(10.0), [s(0, tc=NAN, ta=25.0)]) is None


# -- counting and timing ------------------------------------------------------------------------------
def test_ah_overrun_and_step_timeout():
    ctx = ctx_for("cc", 2.5, timeout_s=9000.0)
    rule = StepBudgetRule(ctx, 5.0, 1.2)
    assert run(rule, [s(t, step_ah=2.5 * t / 3600) for t in range(0, 8600, 10)]) is None
    trip = run(rule, [s(t, step_ah=2.5 * t / 3600) for t in range(8600, 9000, 10)])
    assert trip.rule == "ah_overrun" and trip.values["step_ah"] > 6.0 and trip.time_s == 8650
    trip = run(StepBudgetRule(ctx, 5.0, 1.2), [s(t) for t in range(8990, 9020, 10)])
    assert trip.rule == "step_timeout" and trip.time_s == 9010


def test_step_timeout_estimates():
    protocol = parse_protocol("cell: {preset: nmc_21700}\nsteps: [Charge at 0.5C until 4.2 V, Hold at 4.2 V until C/20,"
                              " Rest for 1 hour, Rest until T < 30 °C]\n", cell_defaults=cell_datasheet)
    cc, cv, rest, until = protocol.steps
    limits, cell = protocol.limits, protocol.cell
    assert step_timeout_s(cc, cell, limits, 1.0) == pytest.approx(2 * 3600 * 1.5 + 600, rel=0.01)
    assert step_timeout_s(cv, cell, limits, 1.0) == 4 * 3600
    assert step_timeout_s(rest, cell, limits, 1.0) == 3600 + 10
    assert step_timeout_s(until, cell, limits, 1.0) == 24 * 3600
    off = dataclasses.replace(limits, step_timeout_factor=0.0)
    assert step_timeout_s(cc, cell, off, 1.0) == math.inf


# -- sensors and data -----------------------------------------------------------------------------------
def test_sensor_loss_cell_and_chamber():
    assert run(SensorLossRule(2.0), [s(0, tc=NAN), s(1, tc=25.0), s(2, tc=NAN), s(3, tc=NAN)]) is None
    trip = run(SensorLossRule(2.0), [s(t, tc=NAN) for t in range(3)])
    assert trip.rule == "sensor_loss" and trip.time_s == 2
    assert run(SensorLossRule(2.0), [s(t, tc=9.9e37) for t in range(3)]).rule == "sensor_loss"  # overload code
    # a bench without an air sensor never trips; a lost air sensor does
    assert run(SensorLossRule(2.0, chamber=True), [s(t, ta=NAN) for t in range(10)]) is None
    trip = run(SensorLossRule(2.0, chamber=True), [s(0)] + [s(t, ta=NAN) for t in range(1, 5)])
    assert trip is not None and "chamber" in trip.message


def test_sensor_disagreement():
    rule = SensorDisagreementRule(5.0, settle_s=3600.0)
    warming = [s(t, tc=-20 + 45 * (1 - math.exp(-t / 1200.0)), ta=25.0 if t > 300 else -20 + 0.15 * t)
               for t in range(0, 4 * 3600, 10)]
    assert run(rule, warming) is None
    wrong = [s(t, tc=17.0, ta=25.0) for t in range(0, 4000, 10)]
    trip = run(SensorDisagreementRule(5.0, settle_s=3600.0), wrong)
    assert trip.rule == "sensor_disagreement" and trip.time_s >= 3600


def test_stale_data_gap_and_frozen_reading():
    ctx = ctx_for("cc", -5.0, period_s=1.0)
    assert run(StaleDataRule(ctx), [s(t, 3.7 - 1e-4 * t, -5.0) for t in range(100)]) is None
    # a sample held back while a driver rides through a link fault (up to 16 s) is not stale ...
    assert run(StaleDataRule(ctx), [s(0), s(1), s(15)]) is None
    # ... one later than that ride-through and a period is
    trip = run(StaleDataRule(ctx), [s(0), s(1), s(20)])
    assert trip.rule == "stale_data" and trip.values["gap_s"] == 19 and trip.values["limit"] == LINK_GIVE_UP_S + 1.0
    trip = run(StaleDataRule(ctx, max_gap_s=10.0), [s(0), s(1), s(15)])  # a limit set in limits: wins
    assert trip.rule == "stale_data" and trip.values["gap_s"] == 14
    frozen = [s(t, 3.7, -5.0) for t in range(200)]
    trip = run(StaleDataRule(ctx, frozen_s=120.0), frozen)
    assert trip.rule == "stale_data" and trip.time_s == 120
    # a coarse voltmeter (10 mV) under load: V and I repeat, the thermocouples still move
    rng = random.Random(2)
    coarse = [s(t, 3.7, -5.0, tc=25 + rng.gauss(0, 0.05)) for t in range(600)]
    assert run(StaleDataRule(ctx), coarse) is None
    assert run(StaleDataRule(ctx, frozen_s=0.0), frozen) is None  # off
    assert run(StaleDataRule(ctx_for("rest")), [s(t, 3.7) for t in range(300)]) is None  # a resting cell may sit still


# -- the supervisor ---------------------------------------------------------------------------------------
PROTOCOL = """cell: {preset: nmc_21700}
limits: {dtdt_max_k_per_s: 0, short_rest_heating_k: 0, persistence_s: 2}
steps: [Discharge at 1C for 1 hour, Rest for 1 hour]
"""


def test_supervisor_latches_until_reset_and_picks_rules_per_step():
    protocol = parse_protocol(PROTOCOL, cell_defaults=cell_datasheet)
    supervisor = Supervisor.for_protocol(protocol)
    names = {r.name for r in supervisor.rules}
    assert "dtdt_limit" not in names and "internal_short_heating" not in names  # 0 disables
    assert {"hard_limits", "thermal_runaway", "internal_short", "step_budget", "stale_data"} <= names
    discharge, rest = protocol.steps
    supervisor.begin_step(discharge, 0.0)
    assert "internal_short_rest" not in {r.name for r in supervisor.active_rules}
    supervisor.begin_step(rest, 3600.0)
    assert "internal_short_rest" in {r.name for r in supervisor.active_rules}
    assert supervisor.check(s(3600, 4.0, step_t=0)) is None
    assert supervisor.check(s(3601, 4.5, step_t=1)) is None  # persistence 2 s
    assert supervisor.check(s(3602, 4.5, step_t=2)) is None
    trip = supervisor.check(s(3603, 4.5, step_t=3))
    assert trip.rule == "voltage_limit" and supervisor.latched
    assert supervisor.check(s(3604, 4.6, step_t=4)) is None  # latched: no second trip
    supervisor.reset(operator="alice", reason="cell replaced")
    assert not supervisor.latched and supervisor.resets[0][1] == "alice"
    assert supervisor.check(s(3605, 4.6, step_t=5)).rule == "voltage_limit"


def test_external_trip_is_returned_once_by_the_next_check():
    supervisor = Supervisor([])
    supervisor.external_trip(Trip("watchdog", 5.0, "no sample"))
    assert supervisor.check(s(6)).rule == "watchdog"
    assert supervisor.check(s(7)) is None and supervisor.pending_trip() is None


def test_limits_keys_load_from_the_protocol_and_reject_negatives():
    protocol = parse_protocol("cell: {preset: nmc_21700}\nlimits: {dtdt_max_k_per_s: 0.5, ah_overrun_factor: 1.5,"
                              " watchdog_s: 3}\nsteps: [Rest for 1 minute]\n", cell_defaults=cell_datasheet)
    assert protocol.limits.dtdt_max_k_per_s == 0.5 and protocol.limits.watchdog_s == 3
    ctx = StepContext()
    rules = {r.name: r for r in rules_for_protocol(protocol, ctx)}
    assert rules["dtdt_limit"].max_k_per_s == 0.5 and rules["step_budget"].ah.factor == 1.5
    with pytest.raises(ProtocolError, match=r":2:.*limits.dtdt_max_k_per_s"):
        parse_protocol("cell: {preset: nmc_21700}\nlimits: {dtdt_max_k_per_s: -1}\nsteps: [Rest for 1 minute]\n",
                       file="neg.yaml", cell_defaults=cell_datasheet)


def test_begin_step_records_the_initial_voltage_and_timeout():
    protocol = parse_protocol(PROTOCOL, cell_defaults=cell_datasheet)
    supervisor = Supervisor.for_protocol(protocol)
    step: Step = protocol.steps[0]
    supervisor.begin_step(step, 100.0)
    supervisor.check(s(100, 4.05, -4.9, step_t=0))
    supervisor.check(s(101, 4.0, -4.9, step_t=1))
    assert supervisor.context.voltage_start_v == 4.05
    assert supervisor.context.timeout_s == 3600 + 10 and supervisor.context.driven


def test_rest_voltage_drop_ignores_one_count_of_a_coarse_voltmeter():
    # a supply reading with 10 mV resolution steps by one count while a healthy cell relaxes
    ctx = ctx_for("rest")
    relax = [s(t, round(4.195 - 0.012 * (1 - math.exp(-t / 400.0)), 2)) for t in range(900)]
    assert run(RestVoltageDropRule(ctx, 0.0005), relax) is None
    # a short draining 1 mV/s shows on the same coarse reading
    drain = [s(t, round(4.19 - 0.001 * max(0, t - 300), 2)) for t in range(420)]
    assert run(RestVoltageDropRule(ctx, 0.0005), drain).rule == "internal_short_rest"
