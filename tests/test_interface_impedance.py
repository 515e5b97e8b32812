"""The interface-impedance claim (issue 27 item 3): area-specific resistance of the interface arc
in Ω·cm² from a spectrum at 25 °C, 50 % SOC: fitted charge-transfer resistance x the datasheet's
electrode area, with the fit's uncertainty; "not tested" when the datasheet states no area."""

from __future__ import annotations

import json

import pytest

from bench.cli import main
from bench.report.verdict import build_report
from bench.runfile.reader import RunFile


def _report(tmp_path, *args: str) -> tuple[int, dict]:
    out = tmp_path / "ii.h5"
    code = main(["run", "interface_impedance", "--out", str(out), "--no-progress", *args])
    with RunFile(out) as run:
        return code, json.loads(json.dumps(build_report(run), default=str))


def test_asr_is_the_interface_arc_times_the_electrode_area_with_its_uncertainty(tmp_path) -> None:
    from sim_instruments.cell.presets import get_preset

    code, report = _report(tmp_path)
    m, c = report["metrics"], report["conditions"]
    area_cm2 = report["conditions"]["cell"]["electrode_area_m2"] * 1e4
    assert c["electrode_area_cm2"] == pytest.approx(area_cm2)
    # ground truth: the simulated cell's charge-transfer resistance at 25 °C, 50 % SOC x the area
    truth = get_preset("nmc_21700").rct_ohm * area_cm2
    assert m["interface_asr_ohm_cm2"] == pytest.approx(truth, rel=0.05)
    assert 0 < m["interface_asr_sigma_ohm_cm2"] < 0.05 * m["interface_asr_ohm_cm2"]
    (claim,) = report["claims"]
    assert claim["metric"] == "interface_asr_ohm_cm2" and claim["unit"] == "Ω·cm²"
    assert claim["status"] == ("met" if m["interface_asr_ohm_cm2"] <= 5 else "not met")
    assert claim["conditions"]["uncertainty_1sigma_ohm_cm2"] == m["interface_asr_sigma_ohm_cm2"]
    assert code == (0 if claim["status"] == "met" else 1)


def test_the_claim_figure_is_a_parameter(tmp_path) -> None:
    code, report = _report(tmp_path, "--set", "claim_asr_ohm_cm2=4")
    (claim,) = report["claims"]
    assert claim["value"] == 4 and claim["status"] == "not met" and code == 1


def test_no_electrode_area_is_not_tested_with_the_reason(tmp_path) -> None:
    code, report = _report(tmp_path, "--cell", "lfp_26650")
    (claim,) = report["claims"]
    assert claim["status"] == "not tested" and code == 1
    assert "electrode area" in report["conditions"]["not_measured"]["interface_asr_ohm_cm2"]
    assert "interface_asr_ohm_cm2" not in report["metrics"]
