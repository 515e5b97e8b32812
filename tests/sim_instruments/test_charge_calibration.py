"""Charge, anode-potential and plating calibration of nmc_21700 against the PyBaMM ORegan2022 CC-CV
charges (tests/data/reference; figures tabulated in docs/calibration.md, measured with
``python -m sim_instruments.cell.calibration --charge``)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim_instruments.cell import CellModel, get_preset
from sim_instruments.cell.charge_calibration import (
    CHARGE_RUNS,
    charge_figures,
    relaxation_plateau_end_s,
    simulate_charge,
    start_soc,
)

CASES = ("C2_25C", "1C_25C", "3C_25C", "1C_5C")


@pytest.fixture(scope="module")
def fig() -> dict[str, float]:
    return charge_figures("nmc_21700", dt_s=1.0)


def test_every_reference_charge_is_simulated(fig: dict[str, float]) -> None:
    assert len(CHARGE_RUNS) == 6
    for case in CASES:
        assert f"{case}_cc_charge_ah_ref" in fig


@pytest.mark.parametrize("case", ["C2_25C", "1C_25C"])
def test_cc_phase_charge_to_4v2_within_3_percent(fig: dict[str, float], case: str) -> None:
    assert fig[f"{case}_cc_charge_ah"] == pytest.approx(fig[f"{case}_cc_charge_ah_ref"], rel=0.03)


def test_rest_voltage_1h_after_the_half_c_cccv_within_10_mv(fig: dict[str, float]) -> None:
    case = "C2_25C_cccv_rest1h"
    assert fig[f"{case}_rest_end_v"] == pytest.approx(fig[f"{case}_rest_end_v_ref"], abs=0.010)


@pytest.mark.parametrize("case", CASES)
def test_anode_margin_minimum_within_15_mv(fig: dict[str, float], case: str) -> None:
    assert fig[f"{case}_min_anode_mv"] == pytest.approx(fig[f"{case}_min_anode_mv_ref"], abs=15.0)


@pytest.mark.parametrize("case", CASES)
def test_zero_volt_onset_soc_within_10_points_or_never(fig: dict[str, float], case: str) -> None:
    sim, ref = fig[f"{case}_onset_soc"], fig[f"{case}_onset_soc_ref"]
    if math.isnan(ref):
        assert math.isnan(sim)
    else:
        assert sim == pytest.approx(ref, abs=0.10)


def test_half_c_at_25c_plates_nothing_3c_and_cold_1c_plate(fig: dict[str, float]) -> None:
    assert fig["C2_25C_plated_mah"] == 0.0
    assert fig["1C_25C_plated_mah"] == 0.0
    assert fig["3C_25C_plated_mah"] > 0.0
    assert fig["1C_5C_plated_mah"] > 0.0


@pytest.mark.parametrize("case", CASES)
def test_charge_self_heating_within_30_percent(fig: dict[str, float], case: str) -> None:
    assert fig[f"{case}_self_heating_k"] == pytest.approx(fig[f"{case}_self_heating_k_ref"], rel=0.30)


def _charge_then_rest(current_a: float, ambient_c: float) -> tuple[CellModel, np.ndarray, np.ndarray]:
    p = get_preset("nmc_21700")
    cell = CellModel(p, soc=start_soc(p), temperature_c=ambient_c, seed=None)
    simulate_charge(p, current_a, ambient_c, cv=True, cell=cell)
    times, volts = [], []
    for k in range(7200):
        times.append(float(k))
        volts.append(cell.terminal_voltage_v(0.0))
        cell.step(1.0, 0.0, ambient_c)
    return cell, np.array(times), np.array(volts)


def test_plated_lithium_strips_at_rest_with_a_relaxation_plateau_and_leaves_dead_lithium() -> None:
    cold, t, v = _charge_then_rest(5.0, 5.0)
    plateau_end = relaxation_plateau_end_s(t, v)
    assert plateau_end is not None and 60.0 < plateau_end < 7200.0
    assert cold.plated_lithium_ah == 0.0  # all stripped within 2 h
    d = get_preset("nmc_21700").degradation
    assert cold.dead_lithium_ah > 0.0
    # (the cold pool sits for tens of minutes: dead = gamma x the time integral of the pool)
    warm, t2, v2 = _charge_then_rest(2.5, 25.0)
    assert relaxation_plateau_end_s(t2, v2) is None
    # no plated pool at 0.5C / 25 °C: only the exchange plating's trace of dead lithium
    assert warm.dead_lithium_ah < 0.25 * cold.dead_lithium_ah
    assert d.dead_lithium_rate_per_s > 0.0


def test_plated_lithium_shows_in_the_next_discharge_dv_dq() -> None:
    """A C/5 discharge right after a plating charge (2C at 0 °C) starts on a higher plateau that
    ends when the plated lithium has stripped: a dV/dQ peak early in the discharge that the same
    cell with its plated lithium removed (the counterfactual) lacks."""
    p = get_preset("nmc_21700")
    cell = CellModel(p, soc=start_soc(p), temperature_c=0.0, seed=None)
    simulate_charge(p, 10.0, 0.0, cv=True, cell=cell)
    plated_ah = cell.plated_lithium_ah
    assert plated_ah > 0.005
    twin = CellModel(p, soc=0.5, temperature_c=0.0, seed=None)
    twin.load_state({**cell.state_dict(), "plated_lithium_as": 0.0, "plating_voltage_v": 0.0})

    def dvdq(c: CellModel) -> np.ndarray:
        v = []
        for _ in range(120):  # 0.33 Ah at C/5, sampled every 2.8 mAh
            v.append(c.terminal_voltage_v(-1.0))
            c.step(10.0, -1.0, 0.0)
        return -np.diff(v) / (10.0 / 3600.0)

    plated, clean = dvdq(cell), dvdq(twin)
    k = int(np.argmax(plated - clean))
    assert plated[k] > 1.5 * clean[k]
    # the peak sits where the plated lithium has stripped (at C/5 half the current strips it)
    q_peak_ah = (k + 1) * 10.0 / 3600.0
    assert 0.5 * plated_ah < q_peak_ah < 4.0 * plated_ah
    assert cell.plated_lithium_ah == 0.0
