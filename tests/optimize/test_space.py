"""Search spaces: the computed stage follows the time budget; infeasible proposals are named."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench.optimize.space import SpaceError, load_space, parse_space

SHIPPED = Path(__file__).resolve().parents[2] / "protocols" / "spaces" / "fast_charge_4stage.yaml"


def test_shipped_space_loads_with_the_claim_and_a_computed_last_stage() -> None:
    space = load_space(SHIPPED)
    assert space.raw["claim_time_s"] == 600
    assert [s.computed for s in space.stages] == [False, False, False, True]
    assert space.searched == (0, 1, 2)


def test_computed_stage_makes_the_profile_last_exactly_the_budget() -> None:
    space = load_space(SHIPPED)
    profile = space.complete({0: 6.0, 1: 5.0, 2: 4.0}, rate_max_c=10.0)
    assert profile.feasible
    assert profile.duration_s(space.stages) == pytest.approx(space.time_budget_s, rel=1e-4)
    # 10-30 % at 6C, 30-50 % at 5C, 50-65 % at 4C leave 590 - 120 - 144 - 135 s for 65-80 %.
    assert profile.rates_c[3] == pytest.approx(0.15 / ((590 - 120 - 144 - 135) / 3600), rel=1e-3)


def test_constant_current_baseline_has_one_rate_and_the_same_duration() -> None:
    space = load_space(SHIPPED)
    cc = space.constant_current(rate_max_c=10.0)
    assert len(set(cc.rates_c)) == 1
    assert cc.duration_s(space.stages) == pytest.approx(space.time_budget_s, rel=1e-3)


@pytest.mark.parametrize(("rates", "rate_max", "why"), [
    ({0: 1.0, 1: 1.0, 2: 1.0}, 10.0, "alone take"),              # the searched stages use up the budget
    ({0: 3.0, 1: 3.0, 2: 8.0}, 10.0, "computed stage 4"),         # the computed stage must go above 10C
    ({0: 6.0, 1: 5.0, 2: 4.0}, 4.5, "above the cell's"),          # a searched stage above the cell's limit
])
def test_infeasible_profiles_are_rejected_with_the_reason(rates: dict[int, float], rate_max: float, why: str) -> None:
    profile = load_space(SHIPPED).complete(rates, rate_max_c=rate_max)
    assert not profile.feasible
    assert why in profile.reason
    assert math.isinf(profile.duration_s(load_space(SHIPPED).stages))


def test_protocol_settings_carry_rates_and_soc_ends() -> None:
    space = load_space(SHIPPED)
    settings = space.protocol_settings(space.complete({0: 6.0, 1: 5.0, 2: 4.0}, rate_max_c=10.0))
    assert settings["stage1_rate"] == "6C" and settings["stage1_soc"] == "30" and settings["stage3_soc"] == "65"
    assert settings["stage4_rate"].endswith("C")


@pytest.mark.parametrize(("change", "message"), [
    ({"stages": [{"soc_from": 10, "soc_to": 30, "rate_c": [1, 8]}]}, "at least two"),
    ({"time_budget_s": -1}, "time_budget_s"),
    ({"stages": [{"soc_from": 10, "soc_to": 30, "rate_c": [1, 8]}, {"soc_from": 40, "soc_to": 80, "computed": True}]},
     "must equal the previous"),
    ({"stages": [{"soc_from": 10, "soc_to": 30, "rate_c": [1, 8]}, {"soc_from": 30, "soc_to": 80, "rate_c": [1, 8]}]},
     "exactly one stage"),
    ({"tiem_budget_s": 600}, "unknown key 'tiem_budget_s'"),
])
def test_bad_spaces_are_refused_with_the_key(change: dict, message: str) -> None:
    import yaml

    data = yaml.safe_load(SHIPPED.read_text())
    data.update(change)
    if "stages" in change:
        data["protocol_parameters"]["rates"] = data["protocol_parameters"]["rates"][:len(change["stages"])]
        data["protocol_parameters"]["soc_ends"] = data["protocol_parameters"]["soc_ends"][:len(change["stages"]) - 1]
    with pytest.raises(SpaceError, match=message):
        parse_space(data, "space.yaml")
