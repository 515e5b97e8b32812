"""End to end on the built-in simulated bench: protocol -> drivers -> wire -> physics -> run file."""

from __future__ import annotations

import bisect

import pytest

from bench.engine.runner import execute
from bench.runfile.reader import RunFile
from bench.simulated.builtin_bench import build_sim_bench, cell_datasheet
from protocols.loader import load_protocol


def test_capacity_check_measures_the_simulated_cells_true_capacity(tmp_path):
    protocol = load_protocol("capacity_check", cell_defaults=cell_datasheet)
    bench = build_sim_bench(protocol.cell.preset, soc=0.5)
    world = bench.simulation.world
    cell = world.channels[0].cell
    history: list[tuple[float, float]] = []  # (simulated time s, true SOC) at every physics sync
    world.hooks.append(lambda w, _now: history.append((w.now_s, cell.soc)))
    try:
        outcome = execute(protocol, bench, tmp_path / "run.h5")
    finally:
        bench.close()
    assert outcome.report["status"] == "completed", outcome.report
    # the claims are honest: this cell does not give its rated 5 Ah at C/5, nor 400 Wh/kg
    claims = {c["metric"]: c["status"] for c in outcome.report["claims"]}
    assert claims == {"discharge_capacity_ah": "not met", "specific_energy_wh_per_kg": "not met",
                      "energy_density_wh_per_l": "not met"} and outcome.exit_code == 1
    with RunFile(tmp_path / "run.h5") as run:
        steps = run.steps
    assert [s["end_reason"] for s in steps] == ["time", "4.2 V", "C/20", "time", "2.5 V"]
    discharge = steps[-1]
    times = [t for t, _ in history]
    soc_start = history[bisect.bisect_left(times, discharge["start_time_s"])][1]
    true_drawn_ah = (soc_start - cell.soc) * cell.preset.capacity_ah
    measured = outcome.report["metrics"]["discharge_capacity_ah"]
    assert measured == pytest.approx(true_drawn_ah, rel=0.01)
    # and the physics gives a plausible capacity for a C/5 discharge of a 5 Ah cell
    assert 0.9 * cell.preset.capacity_ah < measured < 1.02 * cell.preset.capacity_ah
