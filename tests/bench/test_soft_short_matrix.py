"""The soft-short detection matrix as a test: 5, 10, 20 and 50 Ω x every step type x high and
low SOC, each tripped within one cycle of its onset (and never before it); and clean noisy
cycles on every cell preset without a single trip. Virtual time; each case is one short run of
the production engine, drivers, wire and physics (bench.perf.soft_short_matrix)."""

from __future__ import annotations

import pytest

from bench.perf.safety_matrix import CLEAN_CONDITIONS, clean_run
from bench.perf.soft_short_matrix import SOFT_CASES, SOFT_SEVERITIES_OHM, reference_onsets, soft_case


@pytest.fixture(scope="module")
def onsets():
    """Onset of every case and the cycle length, from one clean reference run."""
    return reference_onsets()


@pytest.mark.parametrize("resistance_ohm", SOFT_SEVERITIES_OHM)
@pytest.mark.parametrize("step_type, soc", list(SOFT_CASES))
def test_a_soft_short_trips_within_one_cycle(onsets, step_type, soc, resistance_ohm):
    times, cycle_s = onsets
    case = soft_case(step_type, soc, resistance_ohm, times[(step_type, soc)], cycle_s)
    assert not case.false_trip, case
    assert case.detected, case
    assert 0.0 <= case.delay_s <= cycle_s


@pytest.mark.parametrize("condition", CLEAN_CONDITIONS, ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}-{c[3]:g}C")
def test_clean_noisy_cycles_never_trip(condition):
    run = clean_run(condition, 2, seed=500 + CLEAN_CONDITIONS.index(condition))
    assert run.cycles == 2 and run.trips == [], run
