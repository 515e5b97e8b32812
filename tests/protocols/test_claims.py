"""Claims as data: parsing, validators, preconditions, marginal bands; claims in protocol files;
{cell.NAME} quantities; validation that lists every problem; operating windows at load time."""

from __future__ import annotations

import pytest

from bench.cli import main
from bench.report.claims import evaluate_claims, verdict_of
from bench.simulated.builtin_bench import cell_datasheet
from protocols.claims import Claim, ClaimError, parse_claim
from protocols.errors import ProtocolError
from protocols.loader import parse_protocol


def test_claim_values_convert_to_the_metric_unit() -> None:
    assert parse_claim("time_10_80_s <= 10 min").value == 600.0
    assert parse_claim("retention_pct >= 70 %").value == pytest.approx(70.0)
    assert parse_claim("retention_pct >= 90").unit == "%"
    assert parse_claim("specific_energy_wh_per_kg >= 400").unit == "Wh/kg"
    with pytest.raises(ClaimError, match="is a voltage, but time_10_80_s is in s"):
        parse_claim("time_10_80_s <= 4 V")
    with pytest.raises(ClaimError, match="must read 'metric >= number'"):
        parse_claim("time_10_80_s == 600")


def test_met_not_met_not_tested_and_marginal() -> None:
    claim = parse_claim("time_10_80_s <= 10 min", marginal="30 s")
    assert claim.evaluate({"time_10_80_s": 500.0})["status"] == "met"
    close = claim.evaluate({"time_10_80_s": 620.0})
    assert close["status"] == "not met" and close["marginal"] and close["margin"] == -20.0
    for missing in ({}, {"time_10_80_s": None}, {"time_10_80_s": float("nan")}):
        result = claim.evaluate(missing)
        assert result["status"] == "not tested" and "not measured" in result["reason"] and result["observed"] is None
    assert claim.holds({"time_10_80_s": 600.0}) is True


def test_preconditions_leave_a_claim_not_tested_unless_an_early_miss_is_final() -> None:
    fade = parse_claim("fade_pct <= 20", tested_if=("fast_charges >= 500",))
    result = fade.evaluate({"fade_pct": 1.0, "fast_charges": 25})
    assert result["status"] == "not tested" and "fast_charges >= 500" in result["reason"]
    assert fade.evaluate({"fade_pct": 1.0, "fast_charges": 500})["status"] == "met"
    assert fade.evaluate({"fade_pct": 30.0, "fast_charges": 25})["status"] == "not tested"
    final = parse_claim("fade_pct <= 20", tested_if=("fast_charges >= 500",), missed_early_is_final="true")
    assert final.evaluate({"fade_pct": 30.0, "fast_charges": 25})["status"] == "not met"
    assert final.evaluate({"fade_pct": 1.0, "fast_charges": 25})["status"] == "not tested"
    assert Claim.from_dict(final.as_dict()) == final  # the run file's form round-trips


def test_report_evaluates_claims_in_one_place_and_never_passes_an_untested_claim() -> None:
    claims = [parse_claim("retention_pct >= 70").as_dict(), parse_claim("retention_pct >= 90").as_dict(),
              parse_claim("specific_energy_wh_per_kg >= 400").as_dict()]
    results = evaluate_claims(claims, {"retention_pct": 72.1}, {})
    assert [r["status"] for r in results] == ["met", "not met", "not tested"]
    assert [r["passed"] for r in results] == [True, False, None]
    assert all(r["method"] for r in results)
    assert verdict_of(results) == "fail"
    assert verdict_of(results[:1] + results[2:]) == "not tested"
    assert verdict_of(results[:1]) == "pass"
    # an older run file's criterion (metric/op/value/text only) still evaluates
    assert evaluate_claims([{"metric": "x_s", "op": "<=", "value": 1.0, "text": "x_s <= 1"}], {"x_s": 0.5}, {})[0][
        "status"] == "met"


PROTOCOL = """name: t
cell: {preset: nmc_21700}
parameters: {top: "{cell.voltage_max_v}", claim_minutes: 10 min}
steps:
  - Charge at {cell.current_max_charge_a} A until {top} V
  - Hold at {cell.voltage_max_v} V until C/20
  - Discharge at 1C until {cell.voltage_min_v} V
claims:
  - time_10_80_s <= {claim_minutes}
  - name: rated capacity
    claim: discharge_capacity_ah >= {cell.capacity_ah}
    source: the cell's rating
    marginal: 0.05
"""


def test_steps_and_claims_take_their_numbers_from_the_cell() -> None:
    for preset in ("nmc_21700", "lfp_26650"):
        protocol = parse_protocol(PROTOCOL, overrides={"cell": preset}, cell_defaults=cell_datasheet)
        sheet = cell_datasheet(preset)
        charge, hold, discharge = protocol.steps
        assert charge.current_a == pytest.approx(sheet["current_max_charge_a"])
        assert charge.until[0].value == hold.voltage_v == sheet["voltage_max_v"]
        assert discharge.until[0].value == sheet["voltage_min_v"]
        time_claim, capacity_claim = protocol.pass_criteria
        assert time_claim.value == 600.0
        assert capacity_claim.value == sheet["capacity_ah"] and capacity_claim.name == "rated capacity"
        assert capacity_claim.marginal == pytest.approx(0.05) and capacity_claim.source == "the cell's rating"


def test_limits_may_be_arithmetic_on_the_cell() -> None:
    text = PROTOCOL.replace("steps:", 'limits: {voltage_min_v: "0.8 * {cell.voltage_min_v} - 0.05"}\nsteps:')
    protocol = parse_protocol(text, cell_defaults=cell_datasheet)
    assert protocol.limits.voltage_min_v == pytest.approx(0.8 * 2.5 - 0.05)


def test_validation_lists_every_problem_sorted_with_its_place(tmp_path, capsys) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("""name: bad
cell: {preset: nmc_21700}
steps:
  - Soak at -10 °C for 1 hour
  - Dischrge at 1C until 2.5 V
  - Charge at 0.5C until {cell.voltage_max_v} V
  - Charge at 5C until {cell.volts} V
claims:
  - time_10_80_s <= 3 V
""")
    assert main(["validate", str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 4 and all(line.startswith(f"bench: error: {path}:") for line in lines)
    places = [tuple(int(x) for x in line.split(f"{path}:")[1].split(":")[:2]) for line in lines]
    assert places == sorted(places) and [p[0] for p in places] == [5, 6, 7, 9]
    text = "\n".join(lines)
    assert "unknown step 'Dischrge' (did you mean 'Discharge'?)" in text
    assert "runs at -10 °C, below the cell's minimum charge temperature 0 °C" in text
    assert "unknown cell quantity {cell.volts}" in text
    assert "is a voltage, but time_10_80_s is in s" in text


def test_a_discharge_below_the_cells_discharge_window_is_refused_at_its_line() -> None:
    text = PROTOCOL.replace("steps:\n", "steps:\n  - Soak at -20 °C for 1 hour\n").replace(
        "  - Charge at {cell.current_max_charge_a} A until {top} V\n  - Hold at {cell.voltage_max_v} V until C/20\n", "")
    with pytest.raises(ProtocolError) as info:
        parse_protocol(text, overrides={"cell": "solid_state_pouch"}, cell_defaults=cell_datasheet)
    assert info.value.line == 6 and "below the cell's minimum discharge temperature -10 °C" in str(info.value)
    parse_protocol(text, overrides={"cell": "lfp_26650"}, cell_defaults=cell_datasheet)  # -30 °C: allowed
