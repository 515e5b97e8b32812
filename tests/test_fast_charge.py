"""Fast charge (10 -> 80 % SOC) end to end on the simulated bench, the interlock, cycling variants."""

from __future__ import annotations

import math

import pytest

from bench.cli import main
from bench.engine.runner import EXIT_SAFETY
from bench.runfile.reader import RunFile
from bench.simulated.builtin_bench import cell_datasheet, choose_sim_cycler
from protocols.loader import load_protocol
from protocols.steps import Step
from tests.simrun import run_on_sim_bench


def _stages(protocol) -> list[Step]:
    """The fast-charge stages: charge steps ending at an SOC above 10 %."""
    return [node for node, _ in protocol.walk_nodes() if isinstance(node, Step) and node.kind == "cc"
            and (node.current_a or 0) > 0 and any(c.quantity == "soc" and c.value > 0.11 for c in node.until)]


def _expected_s(stages: list[Step], capacity_ah: float, soc_from: float) -> float:
    """Σ ΔQ_i / I_i over the stages from ``soc_from`` to 80 % SOC, s."""
    total, soc = 0.0, soc_from
    for stage in stages:
        end = next(c.value for c in stage.until if c.quantity == "soc")
        if end > soc:
            total += (end - soc) * capacity_ah / stage.current_a * 3600.0
            soc = end
    return total


def test_nmc_fast_charge_claim_is_not_met_with_the_measured_time(tmp_path):
    protocol = load_protocol("fast_charge", cell_defaults=cell_datasheet)
    stages = _stages(protocol)
    assert [s.current_a for s in stages] == [pytest.approx(3.395)]  # the cell's maximum charge current
    outcome = run_on_sim_bench(protocol, tmp_path / "fc.h5", soc=0.5, cycler=choose_sim_cycler(protocol))
    report = outcome.report
    metrics, conditions = report["metrics"], report["conditions"]
    assert outcome.exit_code == 1 and report["verdict"] == "fail"
    claims = {c["metric"]: c for c in report["claims"]}
    time_claim = claims["time_10_80_s"]
    assert time_claim["status"] == "not met" and time_claim["value"] == 600.0 and time_claim["unit"] == "s"
    assert time_claim["observed"] == metrics["time_10_80_s"] > 3600.0  # 0.68C cannot do 70 % in 10 min
    assert "coulomb counting" in time_claim["method"] and time_claim["conditions"]["chamber_setpoint_c"] == 25.0
    assert claims["temperature_max_all_c"]["status"] == "met" and claims["temperature_max_all_c"]["value"] == 60.0
    # the simulated cell does not plate (yet): the detector, which tested the charge, flags nothing
    assert claims["plating_flagged_charges"]["status"] == "met" and metrics["plating_tested_charges"] == 1
    capacity = protocol.cell.capacity_ah
    cc_only = 0.70 * capacity / 3.395 * 3600.0
    assert metrics["time_10_80_s"] >= cc_only * 0.98  # never faster than pure CC at the maximum current
    assert metrics["charge_ah"] == pytest.approx(0.70 * capacity, rel=0.01)  # 10 -> 80 % of the rated Ah
    assert metrics["temperature_max_c"] == pytest.approx(
        conditions["fast_charge"]["temperature_start_c"] + metrics["temperature_rise_k"], abs=2e-3)  # (each figure rounded to 1 mK)
    assert "rated capacity 5 Ah" in conditions["soc_basis"] and conditions["cycler"] == "keithley2460"
    assert [s["end"] for s in conditions["fast_charge"]["stages"]][-1] == "80 % SOC"
    assert "fade_pct" not in metrics  # one fast charge: no fade claimed
    with RunFile(tmp_path / "fc.h5") as run:
        assert len(run.steps) == len(protocol.flat_steps())
        # a cycle is a charge and the discharge after it: the fast-charge cycle and the check cycle
        assert [row["cycle"] for row in run.table("cycles")] == [1, 2, 3]


def test_a_cell_too_cold_to_charge_is_refused(tmp_path, capsys):
    # at load time: a charge planned below the cell's minimum charge temperature is refused (file:line)
    assert main(["run", "fast_charge", "--set", "temperature_c=-10", "--out", str(tmp_path / "x.h5")]) == 2
    message = capsys.readouterr().err
    assert "fast_charge.yaml:" in message and "runs at -10 °C, below the cell's minimum charge temperature 0 °C" in message
    assert not (tmp_path / "x.h5").exists()
    # at run time: a cell at -10 °C that is charged trips the supervisor (operating window)
    path = tmp_path / "cold_charge.yaml"
    path.write_text("name: cold_charge\ncell: {preset: nmc_21700}\nsteps:\n  - Charge at 0.5C until 4.2 V\n")
    protocol = load_protocol(str(path), cell_defaults=cell_datasheet)
    outcome = run_on_sim_bench(protocol, tmp_path / "cold.h5", observe_s=60.0, soc=0.5, temperature_c=-10.0)
    assert outcome.exit_code == EXIT_SAFETY
    (event,) = outcome.report["safety_events"]
    assert event["rule"] == "operating_window" and "outside the cell's charge window" in event["message"]
    with RunFile(tmp_path / "cold.h5") as run:
        assert sum(s["charge_ah"] for s in run.steps) < 0.01  # output off on the first charging sample


def test_simulated_bench_picks_a_maccor_channel_above_the_keithleys_range():
    nmc = load_protocol("fast_charge", cell_defaults=cell_datasheet)
    lfp = load_protocol("fast_charge", {"cell": "lfp_26650"}, cell_defaults=cell_datasheet)
    assert choose_sim_cycler(nmc) == "keithley2460"
    # the LFP cell's 10 A maximum charge > 7.35 A: a Maccor channel (16-bit readback), not the EA PSB
    assert choose_sim_cycler(lfp) == "maccor_macnet"
    assert [s.current_a for s in _stages(lfp)] == [pytest.approx(10.0)]


@pytest.mark.slow
def test_gb38031_fast_charge_cycling_reports_every_charge_and_fade(tmp_path):
    protocol = load_protocol("fast_charge_gb38031", {"cycles": "2"}, cell_defaults=cell_datasheet)
    outcome = run_on_sim_bench(protocol, tmp_path / "gb.h5", soc=0.5, cycler=choose_sim_cycler(protocol))
    metrics, conditions = outcome.report["metrics"], outcome.report["conditions"]
    assert outcome.exit_code == 0, outcome.report["claims"]
    assert metrics["fast_charges"] == 2 and len(conditions["fast_charges"]) == 2
    assert metrics["time_20_80_max_s"] <= 900.0
    assert metrics["time_10_80_s"] is None  # the GB cycle starts at 20 % SOC
    for charge in conditions["fast_charges"]:
        assert charge["charge_ah"] == pytest.approx(0.6 * protocol.cell.capacity_ah, rel=0.01)
    assert math.isfinite(metrics["fade_pct"]) and abs(metrics["fade_pct"]) < 1.0
    assert [c["cycle"] for c in conditions["capacity_checks"]] == [1, 5]
    cycles = outcome.report["cycles"]  # reference, the charge to 20 %, two fast-charge cycles, the final check
    assert [row["cycle"] for row in cycles] == [1, 2, 3, 4, 5]
    assert {c["metric"]: c["status"] for c in outcome.report["claims"]} == {
        "time_20_80_max_s": "met", "temperature_max_all_c": "met", "fade_pct": "met"}
    assert cycles[2]["coulombic_efficiency"] == pytest.approx(1.0, abs=0.01)


def test_profile_parameter_selects_mcc_and_refuses_an_unknown_profile(tmp_path, capsys):
    from bench.cli import main as cli_main

    cccv = [step.text for step, _cycle in load_protocol("fast_charge", cell_defaults=cell_datasheet).flat_steps()]
    assert any(t.startswith("Hold at 4.2 V until 80 % SOC") for t in cccv)
    assert not any("until 50 % SOC" in t for t in cccv)
    mcc = load_protocol("fast_charge", {"profile": "mcc"}, cell_defaults=cell_datasheet)
    texts = [step.text for step, _cycle in mcc.flat_steps()]
    assert any("Charge at 3.395 A until 50 % SOC" in t for t in texts)
    assert not any(t.startswith("Hold at 4.2 V until 80") for t in texts)
    assert cli_main(["validate", "fast_charge", "--set", "profile=ccvc"]) == 2
    err = capsys.readouterr().err
    assert "fast_charge.yaml:" in err and "profile = 'ccvc' matches no 'when:' block (use one of: cccv, mcc)" in err
