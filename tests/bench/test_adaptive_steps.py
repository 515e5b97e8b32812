"""Adaptive acquisition in virtual time (bench/engine/adaptive.py) changes where the bench spends
time, not what it finds: every end condition ends within one acquisition period of where the
fixed-step run ends, a cycle's capacity stays within 0.05 % of it, and the soft-short (28/28, and
its clean cycles without a trip) and hard-short (36/36) matrices give the same verdicts sampled
in strides. The plating matrix runs
both ways in tests/analysis/test_plating_matrix.py. Virtual time; production engine, drivers,
wire and physics."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.engine.runner import execute
from bench.perf.safety_matrix import CLEAN_CONDITIONS, STEP_CASES, clean_run, fault_case
from bench.perf.soft_short_matrix import SOFT_CASES, SOFT_SEVERITIES_OHM, reference_onsets, soft_case
from bench.runfile.reader import RunFile
from bench.simulated.builtin_bench import build_sim_bench, cell_datasheet
from protocols.loader import parse_protocol

#: One step per end-condition kind (each after what makes it reachable), 10 s period.
END_CONDITIONS = """\
name: adaptive_end_conditions
cell: {preset: nmc_21700}
sampling: {period_s: 10}
steps:
  - Soak at 25 °C until cell within 1 K of setpoint for 10 minutes (at most 2 hours)
  - Discharge at 0.5C until 3.2 V
  - Rest for 47 minutes
  - Charge at 0.5C until 4.2 V
  - Hold at 4.2 V until C/20
  - Rest for 40 minutes
  - Discharge at 0.5C until 60 % SOC
  - Discharge at 0.5C until 1.2 Ah
  - Discharge at 0.5C until 4 Wh
  - Rest for 30 minutes
  - Discharge at 1C until 2.5 V
  - Rest for 1 hour
  - Charge at 0.5C until 4.2 V
  - Hold at 4.2 V until C/20
  - Rest for 30 minutes
  - Discharge at 1C until 2.5 V
"""


def _steps(tmp_path: Path, adaptive: bool) -> tuple[list[dict], int]:
    protocol = parse_protocol(END_CONDITIONS, cell_defaults=cell_datasheet)
    bench = build_sim_bench("nmc_21700", soc=0.6, seed=0)
    path = tmp_path / f"run_{adaptive}.h5"
    try:
        outcome = execute(protocol, bench, path, observe_s=0.0, adaptive=adaptive)
    finally:
        bench.close()
    assert outcome.report["status"] == "completed", outcome.report["safety_events"]
    with RunFile(path) as run:
        return run.steps, len(run.column("Test Time / s"))


@pytest.fixture(scope="module")
def both_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("adaptive")
    return _steps(tmp, False), _steps(tmp, True)


def test_every_end_condition_ends_within_one_period_of_the_fixed_step_run(both_runs):
    (fixed, n_fixed), (adaptive, n_adaptive) = both_runs
    assert [s["end_reason"] for s in adaptive] == [s["end_reason"] for s in fixed]
    for a, f in zip(adaptive, fixed, strict=True):
        duration_a = a["end_time_s"] - a["start_time_s"]
        duration_f = f["end_time_s"] - f["start_time_s"]
        assert abs(duration_a - duration_f) <= 10.0 + 1e-6, (f["text"], duration_f, duration_a)
    assert n_adaptive < n_fixed / 2  # fewer samples for the same run (measured: 1,659 vs 4,418)


def test_a_cycles_capacity_is_within_0_05_percent_of_the_fixed_step_run(both_runs):
    (fixed, _), (adaptive, _) = both_runs
    for a, f in zip(adaptive, fixed, strict=True):
        if f["kind"] == "cc" and f["discharge_ah"] > 1.0 and f["end_reason"].startswith("voltage"):
            # the full discharges to the cut-off: the capacity a cycle measures
            assert a["discharge_ah"] == pytest.approx(f["discharge_ah"], rel=5e-4), f["text"]
    # the last cycle's CC-CV charge: within what one period moves at the CC current (the CC step
    # ends within one period of the fixed-step run's end, with the physics integrated in long steps;
    # measured -0.2 mAh: CC +0.3, CV hold -0.5; the cell's own charge of the two differs by 0.02 mAh)
    charge_f = sum(s["charge_ah"] for s in fixed[-4:])
    charge_a = sum(s["charge_ah"] for s in adaptive[-4:])
    assert abs(charge_a - charge_f) <= 0.5 * 4.8 * 10.0 / 3600.0


@pytest.fixture(scope="module")
def onsets():
    return reference_onsets()


@pytest.mark.parametrize("resistance_ohm", SOFT_SEVERITIES_OHM)
@pytest.mark.parametrize("step_type, soc", list(SOFT_CASES))
def test_the_soft_short_matrix_is_unchanged_with_adaptive_steps(onsets, step_type, soc, resistance_ohm):
    times, cycle_s = onsets
    case = soft_case(step_type, soc, resistance_ohm, times[(step_type, soc)], cycle_s, adaptive=True)
    assert not case.false_trip, case
    assert case.detected, case
    assert 0.0 <= case.delay_s <= cycle_s


@pytest.mark.parametrize("condition", CLEAN_CONDITIONS, ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}-{c[3]:g}C")
def test_clean_noisy_cycles_never_trip_with_adaptive_steps(condition):
    run = clean_run(condition, 2, seed=500 + CLEAN_CONDITIONS.index(condition), adaptive=True)
    assert run.cycles == 2 and run.trips == [], run


@pytest.mark.parametrize("resistance_ohm", (0.01, 0.1, 1.0))
@pytest.mark.parametrize("instant", (0, 1, 2))
@pytest.mark.parametrize("step_type", list(STEP_CASES))
def test_the_hard_short_matrix_is_unchanged_with_adaptive_steps(step_type, instant, resistance_ohm):
    case = fault_case(step_type, STEP_CASES[step_type]["instants_s"][instant], resistance_ohm, adaptive=True)
    assert case.detected and not case.false_trip, case


def test_adaptive_steps_only_on_a_virtual_clock():
    """A real bench (wall clock) or a paced simulator (``--speed N``) samples every period even
    with ``--adaptive``: only a virtual clock lets the engine choose its own sample times."""
    from types import SimpleNamespace

    from bench.clock import RealClock
    from bench.engine.adaptive import StridePlanner, planner_for
    from sim_instruments.world.clock import ScaledClock, VirtualClock

    protocol = parse_protocol(END_CONDITIONS, cell_defaults=cell_datasheet)
    for clock, expected in ((RealClock(), type(None)), (ScaledClock(10.0), type(None)),
                            (VirtualClock(), StridePlanner)):
        bench = SimpleNamespace(clock=clock, simulation=None)
        assert isinstance(planner_for(protocol, bench, None), expected), clock
