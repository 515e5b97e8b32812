"""The extreme-fast-charge cell (``xfc_nmc_pouch``, 25 A) on the built-in bench's Maccor channel:
the plating claim gets a verdict, checked against the simulated cell's ground truth (issue 30
item 4), and when the cycler's readback is too coarse the report says so (the detector's reason).

Above the Keithley 2460's 7.35 A the built-in bench drives the cell with a Maccor test channel
(16-bit readback: 76 µV steps); the EA PSB's 10 mV readback leaves the claim not tested."""

from __future__ import annotations

import pytest

from bench.simulated.builtin_bench import cell_datasheet, choose_sim_cycler
from protocols.loader import load_protocol
from tests.simrun import run_on_sim_bench

#: A charge counts as plated when it left more than this much plated lithium, Ah (0.02 % of 5 Ah,
#: the threshold of tests/analysis/test_plating_matrix.py).
PLATED_AH = 0.001


def _run(tmp_path, temperature_c: float, cycler: str | None = None):
    protocol = load_protocol("fast_charge", {"cell": "xfc_nmc_pouch", "temperature_c": f"{temperature_c:g}"},
                             cell_defaults=cell_datasheet)
    peak = [0.0]

    def watch(bench) -> None:
        world = bench.simulation.world
        world.hooks.append(lambda w, _now: peak.__setitem__(0, max(peak[0], w.cell_truth(0)["plated_lithium_ah"])))

    outcome = run_on_sim_bench(protocol, tmp_path / f"fc_{temperature_c:g}.h5", soc=0.5, prepare=watch,
                               cycler=cycler or choose_sim_cycler(protocol), temperature_c=temperature_c)
    claims = {c["metric"]: c for c in outcome.report["claims"]}
    return outcome, claims, peak[0]


def test_at_25_c_the_plating_claim_is_met_and_the_cell_plated_nothing(tmp_path):
    outcome, claims, plated_ah = _run(tmp_path, 25.0)
    report = outcome.report
    assert report["conditions"]["cycler"] == "maccor_macnet"
    assert claims["plating_flagged_charges"]["status"] == "met" and report["metrics"]["plating_tested_charges"] == 1
    assert plated_ah == 0.0  # ground truth: the 5C charge does not plate at 25 °C
    assert claims["time_10_80_s"]["status"] == "met"  # 25 A CC then CV: under 10 min
    assert outcome.exit_code == 0


def test_at_5_c_the_plating_claim_is_not_met_with_its_evidence(tmp_path):
    _outcome, claims, plated_ah = _run(tmp_path, 5.0)
    plating = claims["plating_flagged_charges"]
    assert plated_ah > PLATED_AH  # ground truth: the cold fast charge plated lithium
    assert plating["status"] == "not met" and plating["observed"] == 1
    (evidence,) = _outcome.report["conditions"]["plating"]
    assert evidence["flag"] and evidence["relaxation_rebound_sigma"] >= 6.0  # the stripping plateau's end


@pytest.mark.parametrize("cycler", ["ea_psb10000"])
def test_a_coarse_readback_leaves_the_claim_not_tested_with_the_detectors_reason(tmp_path, cycler):
    outcome, claims, _plated = _run(tmp_path, 25.0, cycler=cycler)
    plating = claims["plating_flagged_charges"]
    assert plating["status"] == "not tested"
    assert "steps of 10 mV: too coarse for the relaxation test" in plating["reason"]
    assert "rest long enough" not in plating["reason"]
    assert outcome.report["conditions"]["plating"].startswith("not tested: voltage readings in steps of 10 mV")
