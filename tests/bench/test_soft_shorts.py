"""Soft internal shorts (5-50 Ω): the rest heat balance and the per-cycle charge balance, on
synthetic sample streams (each rule: one stream that trips it, one that must not), and the three
runs of issue 18 that exited 0 PASS with a 20 Ω short (virtual time)."""

from __future__ import annotations

import json
import math
import random

import pytest

from bench.cli import main
from bench.safety.rules import StepContext
from bench.safety.soft_shorts import ChargeBalanceRule, RestHeatBalanceRule, decay_asymptote
from bench.sample import Sample


def test_the_decay_extrapolation_finds_where_a_first_order_decay_ends_whatever_its_time_constant():
    for tau_s in (300.0, 1300.0, 5000.0):
        for end in (0.0, 8.0):
            y = [end + 10.0 * math.exp(-k * 240.0 / tau_s) for k in range(3)]
            expected = end if math.exp(-240.0 / tau_s) <= 0.95 else None
            if expected is not None:
                assert decay_asymptote(*y) == pytest.approx(expected, abs=1e-9)
    assert decay_asymptote(5.0, 5.0, 5.0) == 5.0  # not decaying: it stays
    assert decay_asymptote(5.0, 5.5, 6.0) == 6.0  # warming: at least where it is
    assert decay_asymptote(10.0, 9.0, 8.0) < 0.0  # a straight fall: far below, judged later


def _rest(excess_at, *, period_s: float = 10.0, length_s: float = 1200.0, seed: int = 1, air: float = 25.0,
          noise_k: float = 0.25):
    """Samples of one rest step: cell temperature = air + excess_at(step time) + noise."""
    rng = random.Random(seed)
    n = int(length_s / period_s)
    return [Sample(k * period_s, 3.9, 0.0, air + excess_at(k * period_s) + rng.gauss(0, noise_k),
                   air + rng.gauss(0, 0.05), 0, 1, 1, k * period_s) for k in range(n)]


def _feed_rest(rule, samples):
    rule.applies(StepContext(kind="rest", driven=False, serial=1))
    return next((t for t in map(rule.check, samples) if t is not None), None)


@pytest.mark.parametrize("tau_s", [600.0, 1300.0, 2500.0])
@pytest.mark.parametrize("seed", range(5))
def test_a_cell_cooling_down_after_a_discharge_does_not_trip(tau_s, seed):
    # 10 K above the air after a 1C discharge, cooling with any time constant, thermocouple noise
    rule = RestHeatBalanceRule(StepContext(), 2.0)
    assert _feed_rest(rule, _rest(lambda t: 10.0 * math.exp(-t / tau_s), seed=seed, length_s=7200.0)) is None


@pytest.mark.parametrize("tau_s, within_s", [(600.0, 1500.0), (1300.0, 3000.0)])
def test_a_cell_cooling_towards_a_warm_end_trips(tau_s, within_s):
    # the same cool-down (noise of the simulated DAQ970A thermocouple channel, 0.05 K), but with a
    # steady source inside: it ends 6 K above the air, not at 0
    rule = RestHeatBalanceRule(StepContext(), 2.0)
    trip = _feed_rest(rule, _rest(lambda t: 6.0 + 4.0 * math.exp(-t / tau_s), noise_k=0.05, length_s=7200.0))
    assert trip is not None and trip.rule == "internal_short_heat_balance"
    assert trip.time_s <= within_s and trip.values["score_sigma"] > 3.0


def test_a_decay_too_slow_for_the_window_waits_for_a_longer_rest():
    # tau 2500 s and 0.25 K of noise: 20 minutes cannot tell where the decay ends (no trip, no
    # guess); two hours can
    slow = lambda t: 6.0 + 4.0 * math.exp(-t / 2500.0)  # noqa: E731
    assert _feed_rest(RestHeatBalanceRule(StepContext(), 2.0), _rest(slow)) is None
    trip = _feed_rest(RestHeatBalanceRule(StepContext(), 2.0), _rest(slow, length_s=7200.0))
    assert trip is not None and trip.rule == "internal_short_heat_balance"


def test_a_cell_at_equilibrium_above_the_air_trips_and_one_near_it_does_not():
    assert _feed_rest(RestHeatBalanceRule(StepContext(), 2.0), _rest(lambda t: 8.0)).rule == \
        "internal_short_heat_balance"
    # a thermocouple 1 K off: below the limit, never a trip
    assert _feed_rest(RestHeatBalanceRule(StepContext(), 2.0), _rest(lambda t: 1.0, length_s=7200.0)) is None


def test_a_moving_chamber_does_not_trip_the_heat_balance():
    # the air ramps down 1 K/min: the cell lags it by a steady few kelvin, with no heat inside
    rule = RestHeatBalanceRule(StepContext(), 2.0)
    samples = [Sample(t, 3.9, 0.0, 25.0 - t / 60.0 + 5.0, 25.0 - t / 60.0, 0, 1, 1, t) for t in range(0, 1200, 10)]
    assert _feed_rest(rule, samples) is None


class _Cycler:
    """Drives ChargeBalanceRule through steps the way the supervisor does (applies, then check)."""

    def __init__(self, rule: ChargeBalanceRule) -> None:
        self.rule = rule
        self.t = 0.0
        self.count = 0
        self.last: Sample | None = None

    def step(self, kind: str, current_a: float, ah: float, end_v: float, end_i: float | None = None,
             cell_c: float = 25.0):
        """One step moving ``ah`` (signed) in 10 samples, the cell at ``cell_c`` in 25 °C air;
        returns the first trip."""
        self.count += 1
        ctx = StepContext(kind=kind, driven=kind != "rest", current_a=current_a if kind == "cc" else 0.0,
                          last_sample=self.last)
        active = self.rule.applies(ctx)
        trip = None
        for k in range(1, 11):
            self.t += 60.0
            sample = Sample(self.t, end_v, end_i if (end_i is not None and k == 10) else current_a, cell_c, 25.0,
                            0, self.count, 1, 60.0 * k, ah * k / 10)
            if active and trip is None:
                trip = self.rule.check(sample)
            self.last = sample
        return trip

    def cycle(self, out_ah: float, in_ah: float):
        trips = [self.step("cc", -5.0, -out_ah, 2.5), self.step("rest", 0.0, 0.0, 3.0),
                 self.step("cc", 2.5, 0.9 * in_ah, 4.2), self.step("cv", 0.0, 0.1 * in_ah, 4.2, end_i=0.2),
                 self.step("rest", 0.0, 0.0, 4.18)]
        return next((t for t in trips if t is not None), None)


def _rule() -> ChargeBalanceRule:
    return ChargeBalanceRule(StepContext(), 0.02, voltage_min_v=2.5, voltage_max_v=4.2, full_current_a=0.5)


def test_healthy_cycles_keep_the_charge_balance():
    bench = _Cycler(_rule())
    bench.step("cv", 0.0, 0.05, 4.2, end_i=0.2)  # start full
    assert all(bench.cycle(4.5, 4.5 * 1.001) is None for _ in range(5))


def test_charge_not_kept_trips_during_the_charge():
    bench = _Cycler(_rule())
    bench.step("cv", 0.0, 0.05, 4.2, end_i=0.2)
    assert bench.cycle(4.5, 4.5) is None
    trip = bench.cycle(4.5, 4.5 * 1.1)  # the refill needs 10 % more than came out
    assert trip is not None and trip.rule == "internal_short_charge_balance"
    assert trip.values["charge_since_empty_ah"] > 4.5 * 1.02


def _low_efficiency_cycle() -> tuple[ChargeBalanceRule, _Cycler]:
    rule = _rule()
    bench = _Cycler(rule)
    bench.step("cv", 0.0, 0.05, 4.2, end_i=0.2)
    assert bench.cycle(4.5, 4.5) is None
    assert bench.cycle(4.5, 4.5) is None
    # this discharge gives 5 % less than the charge that filled the cell (same current, same air)
    assert bench.step("cc", -5.0, -4.5 * 0.95, 2.5) is None
    return rule, bench


def test_a_low_coulombic_efficiency_with_a_warm_resting_cell_trips_after_the_rest():
    _, bench = _low_efficiency_cycle()
    assert bench.step("rest", 0.0, 0.0, 3.0, cell_c=31.0) is None  # 6 K above the air all through the rest
    trip = bench.step("cc", 2.5, 0.1, 3.5)  # returned at the next step's first sample
    assert trip is not None and trip.rule == "internal_short_coulombic"
    assert trip.values["coulombic_efficiency"] == pytest.approx(0.95, abs=1e-6)


def test_a_low_coulombic_efficiency_with_no_rest_after_it_trips_at_once():
    _, bench = _low_efficiency_cycle()
    trip = bench.step("cc", 2.5, 0.1, 3.5)
    assert trip is not None and trip.rule == "internal_short_coulombic"


def test_charge_lost_with_no_heat_at_rest_is_plating_not_a_short():
    # issue 30 item 5: the same loss, and the resting cell sits at the air: no short drains it
    _, bench = _low_efficiency_cycle()
    assert bench.step("rest", 0.0, 0.0, 3.0, cell_c=25.2) is None
    assert bench.step("cc", 2.5, 0.1, 3.5) is None


def test_a_different_discharge_rate_is_not_a_low_coulombic_efficiency():
    bench = _Cycler(_rule())
    bench.step("cv", 0.0, 0.05, 4.2, end_i=0.2)
    assert bench.cycle(4.5, 4.5) is None
    assert bench.cycle(4.5, 4.5) is None
    # a 2C discharge ends earlier at the same cut-off: not comparable with the 1C empty state
    assert bench.step("cc", -10.0, -4.2, 2.5) is None
    assert bench.step("rest", 0.0, 0.0, 3.0) is None


@pytest.mark.parametrize("onset", ["8500s", "11000s", "voltage_v>=4.19"])
def test_the_issue_18_soft_short_runs_now_trip(tmp_path, capsys, onset):
    out = tmp_path / "run.h5"
    code = main(["run", "puncture_safe_cycling", "--set", "cycles=2", "--out", str(out), "--no-progress",
                 "--observe", "1min", "--fault", f"internal_short@{onset},resistance_ohm=20"])
    capsys.readouterr()
    assert main(["report", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert code == 3 and report["verdict"] == "safety_trip"
    (event,) = report["safety_events"]
    assert event["rule"].startswith("internal_short") and event["output_off_confirmed"] is True
