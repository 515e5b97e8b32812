"""Ageing metrics end to end: RPT capacity checks and fade, HPPC pulse resistances, flagged
cycles, the fade plot; on a short fast_charge_cycling run of the simulated bench."""

from __future__ import annotations

import dataclasses

import pytest

from bench.analysis.ageing import cycle_flags
from bench.report.verdict import format_report
from bench.simulated.builtin_bench import cell_datasheet, choose_sim_cycler
from protocols.loader import load_protocol
from tests.simrun import run_on_sim_bench


def test_cycle_flags_name_what_is_not_a_result() -> None:
    assert cycle_flags(4.9, 4.85, 5.0) == []
    (flag,) = cycle_flags(2.34, 4.71, 5.0)
    assert "coulombic efficiency 2.013 > 1" in flag
    (flag,) = cycle_flags(8.71, 8.71, 5.0)
    assert "above the cell's 5 Ah" in flag


@pytest.fixture(scope="module")
def cycling_report(tmp_path_factory):
    protocol = load_protocol("fast_charge_cycling", {"blocks": "2", "cycles": "1"}, cell_defaults=cell_datasheet)
    protocol = dataclasses.replace(protocol, period_s=5.0)
    out = tmp_path_factory.mktemp("ageing") / "fcc.h5"
    outcome = run_on_sim_bench(protocol, out, soc=0.5, cycler=choose_sim_cycler(protocol))
    return outcome.report


def test_rpt_capacity_checks_pulse_resistances_and_claims(cycling_report) -> None:
    report = cycling_report
    ageing = report["ageing"]
    checks = ageing["capacity_checks"]
    assert len(checks) == 3 and all(c["step"].startswith("Discharge at C/3") for c in checks)
    assert checks[0]["fade_pct"] == 0.0 and all(abs(c["fade_pct"]) < 0.5 for c in checks)  # the cell does not age
    pulses = ageing["pulses"]
    assert len(pulses) == 3 * 3 * 2  # three RPTs x three SOCs x discharge and charge
    assert {p["soc_pct"] for p in pulses} == {20.0, 50.0, 80.0}
    for p in pulses:  # 10 s DC resistance of an LG M50-class cell at 25 °C: tens of mΩ
        assert 0.010 < p["r_dc_ohm"] < 0.060, p
        assert abs(p["r_growth_pct"]) < 5.0
    assert report["metrics"]["dcr_growth_pct"] == pytest.approx(0.0, abs=5.0)
    claims = {c["metric"]: c for c in report["claims"]}
    fade = claims["fade_pct"]
    assert fade["status"] == "not tested" and "fast_charges >= 500" in fade["reason"]  # 2 of 500 fast charges
    assert claims["time_10_80_max_s"]["status"] == "not met"
    text = format_report(report)
    assert "Capacity checks: cycle" in text and "DC resistance (pulses)" in text and "[NOT TESTED]" in text


def test_flagged_cycles_stay_out_of_the_results(cycling_report) -> None:
    for row in cycling_report["cycles"]:
        ce = row["coulombic_efficiency"]
        assert bool(row["flags"]) == bool((ce is not None and ce > 1.005) or row["discharge_ah"] > 5.0 * 1.05)
