"""Every shipped protocol on every simulated cell preset: it validates (or is refused with one line
naming the cell's limit it would break), and each mission protocol runs to a verdict.

The protocols take their voltages, currents and windows from the cell, so the same file runs on
an NMC 21700, an LFP 26650, a 60 Ah pouch and a solid-state pouch.
"""

from __future__ import annotations

import dataclasses

import pytest

from bench.cli import main
from bench.simulated.builtin_bench import cell_datasheet, choose_sim_chamber, choose_sim_cycler
from protocols.loader import load_protocol, shipped_protocols
from sim_instruments.cell.presets import PRESETS
from tests.simrun import run_on_sim_bench

#: (protocol, preset) pairs the cell truly cannot do, and the limit named in the one-line reason.
REFUSED = {
    ("cold_capacity", "solid_state_pouch"): "below the cell's minimum discharge temperature -10 °C",
    ("cold_capacity_eis", "solid_state_pouch"): "below the cell's minimum discharge temperature -10 °C",
    ("cold_range", "solid_state_pouch"): "below the cell's minimum discharge temperature -10 °C",
}


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_shipped_protocol_validates_on_every_preset(preset: str, capsys: pytest.CaptureFixture) -> None:
    for name in shipped_protocols():
        code = main(["validate", name, "--set", f"cell={preset}"])
        captured = capsys.readouterr()
        reason = REFUSED.get((name, preset))
        if reason is None:
            assert code == 0, f"{name} on {preset}: {captured.err}"
            # the cell is named by the datasheet the preset models, simulated as that preset
            assert f"cell {PRESETS[preset].datasheet} " in captured.out
            assert f"simulated as preset {preset}" in captured.out or PRESETS[preset].datasheet == preset
        else:
            assert code == 2 and captured.err.count("\n") == 1 and reason in captured.err, captured.err
            assert f"{name}.yaml:" in captured.err


#: Mission protocols with overrides that keep a run short (virtual time, small counts).
MISSIONS = {
    "capacity_check": {"rate": "1C"},
    "fast_charge": {},
    "cold_capacity": {"soak": "2 hours"},
    # drives of 30 minutes: the run completes on every cell, the range claim is then not tested
    "cold_range": {"soak": "2 hours", "rest": "10 minutes", "max_drive": "30 minutes"},
    "nail_penetration": {"observe": "10 minutes"},
    "fast_charge_cycling": {"cycles": "1", "blocks": "1"},
    "fast_charge_gb38031": {"cycles": "1"},
    "puncture_safe_cycling": {"cycles": "1", "rest": "5 minutes"},
    "hot_box": {"observe": "10 minutes"},
}


@pytest.mark.parametrize("name", sorted(MISSIONS))
def test_mission_protocols_run_to_a_claim_verdict_on_every_preset(name: str, tmp_path) -> None:
    for preset in sorted(PRESETS):
        if (name, preset) in REFUSED:
            continue
        protocol = load_protocol(name, {**MISSIONS[name], "cell": preset}, cell_defaults=cell_datasheet)
        protocol = dataclasses.replace(protocol, period_s=max(protocol.period_s, 10.0))  # fewer samples
        outcome = run_on_sim_bench(protocol, tmp_path / f"{name}_{preset}.h5", soc=0.5,
                                   cycler=choose_sim_cycler(protocol), chamber=choose_sim_chamber(protocol))
        report = outcome.report
        assert report["status"] == "completed", (name, preset, report["status"], report["safety_events"])
        assert report["claims"], (name, preset)
        for claim in report["claims"]:
            assert claim["status"] in ("met", "not met", "not tested")
            assert claim["status"] == "not tested" or claim["observed"] is not None
        assert outcome.exit_code == (0 if report["verdict"] == "pass" else 1)
        if not protocol.abuse:  # an abuse test may take the cell past its limits: that is its result
            assert report["metrics"]["temperature_max_c"] <= protocol.cell.temperature_max_c
