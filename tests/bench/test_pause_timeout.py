"""Issue 26 defect 5: paused time must not count toward the step timeout (nor may the driven
step's rules judge the cell while its output is off). Virtual time: the operator's SIGUSR1 is
the ``OperatorControl`` request a signal handler makes, issued at chosen test times."""

from __future__ import annotations

import pytest

from bench.engine.core import Engine, RunStatus
from bench.engine.operator_control import OperatorControl
from bench.runfile.reader import RunFile
from bench.runfile.writer import RunWriter
from bench.simulated.builtin_bench import build_sim_bench, cell_datasheet
from protocols.loader import parse_protocol


def _run(tmp_path, steps: str, pause_s: float, resume_s: float):
    control = OperatorControl()

    def operator(world, now_s):
        if pause_s <= now_s < pause_s + 5.0 and not control.pause_wanted:
            control.toggle_pause()  # kill -USR1
        elif resume_s <= now_s < resume_s + 5.0 and control.pause_wanted:
            control.toggle_pause()  # kill -USR1 again

    protocol = parse_protocol("name: p\ncell: {preset: nmc_21700}\nsampling: {period_s: 2}\nsteps:\n" + steps,
                              cell_defaults=cell_datasheet)
    bench = build_sim_bench("nmc_21700", soc=0.5)
    bench.simulation.world.hooks.append(operator)
    path = tmp_path / "run.h5"
    try:
        with RunWriter(path, {"protocol": "p"}) as writer:
            result = Engine(protocol, bench, writer, observe_s=0.0, control=control, signals=False).run()
    finally:
        bench.close()
    with RunFile(path) as run:
        return result, run.events, run.steps


@pytest.mark.parametrize("step", ["Discharge at 1C for 5 minutes", "Charge at 0.5C for 5 minutes",
                                  "Hold at 4.0 V for 5 minutes", "Rest for 5 minutes"])
def test_a_pause_longer_than_the_step_does_not_time_it_out(tmp_path, step):
    # paused 100 s into a 5-minute step for 20 minutes: far past the step's timeout (300 s + 10 s)
    result, events, steps = _run(tmp_path, f"  - {step}\n", pause_s=100.0, resume_s=1300.0)
    trips = [e["message"] for e in events if e["kind"] == "safety_trip"]
    assert result.status is RunStatus.COMPLETED and trips == [], trips
    kinds = [e["kind"] for e in events]
    assert "operator_pause" in kinds and "operator_resume" in kinds
    resume = next(e for e in events if e["kind"] == "operator_resume")
    assert resume["data"]["paused_s"] >= 1190.0
    assert steps[0]["end_time_s"] - steps[0]["start_time_s"] == pytest.approx(300.0 + resume["data"]["paused_s"],
                                                                              abs=6.0)
