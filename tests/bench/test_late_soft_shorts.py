"""Issue 26 "no short goes unjudged": a soft short that starts in the last cycle (last charge,
last discharge, final rest) is caught by the final observation after the protocol, or the safety
claims over the last stretch are reported not tested, never met. Virtual time; production engine,
drivers, wire and physics."""

from __future__ import annotations

import json
import math
import random

import pytest

from bench.cli import main
from bench.perf.soft_short_matrix import late_onsets, soft_case
from bench.report.last_stretch import apply_last_stretch, last_stretch, short_detected
from bench.safety.last_stretch import LastStretchJudge
from bench.sample import Sample


def _cli(tmp_path, capsys, protocol: str, *args: str) -> tuple[int, dict]:
    out = tmp_path / "run.h5"
    code = main(["run", protocol, "--out", str(out), "--no-progress", "--observe", "60s", *args])
    capsys.readouterr()
    assert main(["report", str(out), "--json"]) == 0
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("onset", ["33500s", "35500s"])  # the last discharge; the final rest
def test_the_issue_runs_of_a_short_in_the_last_cycle_trip(tmp_path, capsys, onset):
    code, report = _cli(tmp_path, capsys, "puncture_safe_cycling", "--set", "cycles=3",
                        "--fault", f"internal_short@{onset},resistance_ohm=50")
    assert code == 3 and report["verdict"] == "safety_trip"
    (event,) = report["safety_events"]
    assert event["rule"].startswith("internal_short") and event["time_s"] >= float(onset[:-1])


def test_the_issue_fast_charge_with_a_short_in_its_final_rest_trips(tmp_path, capsys):
    code, report = _cli(tmp_path, capsys, "fast_charge", "--fault", "internal_short@57500s,resistance_ohm=50")
    assert code == 3 and report["safety_events"][0]["time_s"] >= 57500


def test_a_clean_run_is_judged_through_its_last_cycle(tmp_path, capsys):
    code, report = _cli(tmp_path, capsys, "puncture_safe_cycling", "--set", "cycles=1")
    assert code == 0 and report["verdict"] == "pass"
    assert report["last_stretch"]["judged"] is True
    assert report["metrics"]["internal_short_detected"] == 0
    assert {c["status"] for c in report["claims"]} == {"met"}


@pytest.fixture(scope="module")
def late():
    return late_onsets()


@pytest.mark.parametrize("resistance_ohm", [20.0, 50.0])
@pytest.mark.parametrize("case", [("last_charge", "end"), ("last_discharge", "mid"), ("final_rest", "end")])
def test_a_late_soft_short_is_caught(late, case, resistance_ohm):
    onsets, horizon = late
    result = soft_case(*case, resistance_ohm, onsets[case], horizon, late=True)
    assert result.detected and not result.false_trip, result


@pytest.mark.parametrize("case", [("last_discharge", "end"), ("final_rest", "mid")])
def test_a_late_100_ohm_short_is_caught_or_reported_not_testable(late, case):
    onsets, horizon = late
    result = soft_case(*case, 100.0, onsets[case], horizon, late=True)
    assert not result.false_trip, result
    assert result.detected or (result.untestable and not result.last_stretch["judged"]), result


# -- the judge on synthetic streams ------------------------------------------------------------------
def _judge(excess_at, length_s: float = 7200.0, period_s: float = 1.0, seed: int = 3):
    rng = random.Random(seed)
    judge = LastStretchJudge(2.0, tolerance_k=1.0)
    for k in range(int(length_s / period_s)):
        t = k * period_s
        sample = Sample(t, 3.6, 0.0, 25.0 + excess_at(t) + rng.gauss(0, 0.05), 25.0 + rng.gauss(0, 0.05),
                        -1, 1, 1, t)
        judge.add(sample)
        if judge.verdict is not None:
            return judge.verdict, t
    return judge.unjudged(length_s), length_s


def test_the_judge_clears_a_cell_that_cools_to_the_air():
    verdict, at = _judge(lambda t: 8.0 * math.exp(-t / 1500.0))
    assert verdict.judged and verdict.excess_k <= 1.0
    assert 1500.0 * math.log(8.0) < at < 7200.0  # not before it is within the sensors' tolerance


@pytest.mark.parametrize("excess_at", [lambda t: 1.8 + 6.0 * math.exp(-t / 1500.0),  # a source holding it warm
                                       lambda t: 0.2 + 3.0 * (1 - math.exp(-t / 1500.0))])  # a source warming it
def test_the_judge_never_clears_a_cell_with_a_heat_source(excess_at):
    verdict, _ = _judge(excess_at)
    assert not verdict.judged and "neither cooled" in verdict.reason


def test_an_unjudged_last_stretch_makes_a_safety_claim_not_tested_never_met():
    events = [{"kind": "final_observation_end", "message": "x",
               "data": {"judged": False, "reason": "final observation ended after 7200 s"}}]
    stretch = last_stretch(events, "completed")
    assert stretch is not None and not stretch["judged"] and short_detected(stretch, []) is None
    checks = [{"metric": "eucar_hazard_level", "status": "met", "passed": True},
              {"metric": "time_10_80_s", "status": "met", "passed": True}]
    apply_last_stretch(checks, stretch)
    assert checks[0]["status"] == "not tested" and checks[0]["passed"] is None and "7200 s" in checks[0]["reason"]
    assert checks[1]["status"] == "met"
    assert last_stretch([], "completed")["judged"] is False  # a run without a final observation
    assert last_stretch([{"kind": "abuse_applied"}], "completed") is None  # an abuse test judges itself
