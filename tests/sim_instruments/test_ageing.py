"""Ageing of the simulated cell: fade against the OKane2022 reference, SEI laws, feedback into
voltage / heat / EIS, the ageing state carried across runs and through the resume journal."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from sim_instruments.cell import CellModel, get_preset
from sim_instruments.cell.ageing_calibration import fade_figures
from sim_instruments.cell.calibration import load_reference, simulate_discharge
from sim_instruments.cell.degradation import AgeingState
from sim_instruments.cell.state_file import CellStateError, load_states, save_states
from sim_instruments.world.clock import VirtualClock
from sim_instruments.world.sim_world import SimWorld

NMC = "nmc_21700"


@pytest.fixture(scope="module")
def fade() -> dict[str, float]:
    return fade_figures(NMC, dt_s=10.0)


def test_fade_over_the_reference_cycles_within_a_factor_of_two(fade: dict[str, float]) -> None:
    assert fade["fade_last_pct"] > 0.0
    assert 0.5 <= fade["fade_last_pct"] / fade["fade_last_pct_ref"] <= 2.0


def test_fade_is_monotonic_and_front_loaded_like_the_reference(fade: dict[str, float]) -> None:
    assert fade["cycles_with_capacity_rise"] == fade["cycles_with_capacity_rise_ref"] == 0.0
    assert fade["first_half_share_of_fade"] > 0.5 and fade["first_half_share_of_fade_ref"] > 0.5
    # slow 0.3C charges at 25 °C plate a little (exchange plating at the anode's positive
    # potential, high SOC): the reference's plating loss grows 5.6 mAh in 120 cycles; within 2x
    assert 2.8e-3 <= fade["dead_lithium_ah"] <= 11.2e-3 and fade["sei_ah"] > 0.0


@pytest.mark.parametrize(("stem", "current_a", "ambient_c"), [
    ("oregan2022_dfn_lumped_C5_25C", 1.0, 25.0), ("oregan2022_dfn_lumped_C5_m20C", 1.0, -20.0),
    ("oregan2022_dfn_lumped_1C_25C", 5.0, 25.0), ("oregan2022_dfn_lumped_1C_m20C", 5.0, -20.0),
])
def test_discharge_self_heating_within_30_percent(stem: str, current_a: float, ambient_c: float) -> None:
    sim = simulate_discharge(NMC, current_a, ambient_c, dt_s=2.0)
    ref = load_reference(stem)
    assert sim.max_temperature_c - ambient_c == pytest.approx(ref.max_temperature_c - ambient_c, rel=0.30)


def test_calendar_sei_is_arrhenius_and_faster_when_full() -> None:
    p = get_preset(NMC)

    def sei_after_1_hour(temperature_c: float, soc: float) -> float:
        cell = CellModel(p, soc=soc, temperature_c=temperature_c, seed=None)
        cell.step(3600.0, 0.0, temperature_c)
        return cell.sei_lithium_ah

    # Ea = 55 kJ/mol: x4.0 from 25 to 45 °C on a fresh cell
    assert sei_after_1_hour(45.0, 1.0) / sei_after_1_hour(25.0, 1.0) == pytest.approx(4.03, rel=0.02)
    assert sei_after_1_hour(25.0, 1.0) > 2.0 * sei_after_1_hour(25.0, 0.1)
    # a year at 25 °C and full charge loses a few percent (2-4 %/year is typical of NMC/graphite)
    cell = CellModel(p, soc=1.0, temperature_c=25.0, seed=None)
    for _ in range(365):
        cell.step(86400.0, 0.0, 25.0)
    assert 0.01 < cell.sei_lithium_ah / p.capacity_ah < 0.06


def test_lost_lithium_feeds_back_into_capacity_voltage_heat_and_eis() -> None:
    p = get_preset(NMC)
    fresh = CellModel(p, soc=0.5, seed=None)
    aged = CellModel(p, soc=0.5, seed=None)
    aged.load_ageing_state(AgeingState(NMC, 0.5, 25.0, 25.0, sei_ah=0.2, dead_lithium_ah=0.05))
    assert aged.aged_capacity_ah == pytest.approx(p.capacity_ah - 0.25)
    assert aged.resistance_factor == pytest.approx(1.0 + 2.0 * 0.25 / p.capacity_ah)
    assert aged.resistance_ohm() > fresh.resistance_ohm()
    assert aged.terminal_voltage_v(-5.0) < fresh.terminal_voltage_v(-5.0)
    f = np.array([1000.0, 1.0])
    assert np.real(aged.impedance_ohm(f)[0]) > np.real(fresh.impedance_ohm(f)[0])
    for cell in (fresh, aged):
        cell.step(10.0, -5.0, 25.0)
    assert aged.last_heat_w > fresh.last_heat_w


def test_resume_state_continues_with_the_same_sei_and_plated_lithium() -> None:
    p = get_preset(NMC)
    a = CellModel(p, soc=0.3, temperature_c=0.0, seed=None)
    for _ in range(1500):
        a.step(1.0, 10.0, 0.0)  # 2C at 0 °C: plates
    assert a.plated_lithium_ah > 0.0 and a.sei_lithium_ah > 0.0
    saved = json.loads(json.dumps(a.state_dict()))
    b = CellModel(p, soc=0.9, temperature_c=25.0, seed=None)
    b.load_state(saved)
    for _ in range(900):
        for cell in (a, b):
            cell.step(1.0, -5.0, 0.0)
    assert b.state_dict() == a.state_dict()
    assert b.dead_lithium_ah == a.dead_lithium_ah > 0.0


def test_world_snapshot_carries_ageing_and_exposes_the_anode_potential() -> None:
    clock = VirtualClock()
    world = SimWorld.single_cell(clock, NMC, soc=0.5)
    cell = world.channels[0].cell
    cell.load_ageing_state(AgeingState(NMC, 0.5, 25.0, 25.0, sei_ah=0.1, plated_lithium_ah=0.002))
    snapshot = json.loads(json.dumps(world.state_dict()))
    other = SimWorld.single_cell(VirtualClock(), NMC, soc=0.5)
    other.load_state(snapshot)
    truth = other.cell_truth()
    assert truth["sei_lithium_ah"] == pytest.approx(0.1)
    assert truth["plated_lithium_ah"] == pytest.approx(0.002)
    assert 0.0 < truth["anode_potential_v"] < 0.2
    assert other.ageing_states()[0].sei_ah == pytest.approx(0.1)


def test_state_file_round_trip_and_one_line_errors(tmp_path) -> None:
    cell = CellModel(get_preset(NMC), soc=0.7, seed=None)
    cell.load_ageing_state(AgeingState(NMC, 0.7, 25.0, 25.0, sei_ah=0.05, throughput_ah=100.0))
    path = tmp_path / "cell.json"
    save_states(path, [cell.ageing_state()])
    (state,) = load_states(path, preset=NMC)
    assert state == cell.ageing_state()
    assert state.cycle_count == pytest.approx(10.0)
    with pytest.raises(CellStateError, match="lfp_26650") as err:
        load_states(path, preset="lfp_26650")
    assert "\n" not in str(err.value) and str(path) in str(err.value)
    path.write_text("{not json")
    with pytest.raises(CellStateError, match="corrupt"):
        load_states(path)
    path.write_text(json.dumps({"format": "cellbench-cell-state", "version": 1,
                                "cells": [{"preset": NMC, "soc": "x"}]}))
    with pytest.raises(CellStateError, match="soc"):
        load_states(path)
    with pytest.raises(ValueError, match="preset"):
        CellModel(get_preset("lfp_26650")).load_ageing_state(state)


def test_lithium_metal_anode_has_no_plating_model() -> None:
    cell = CellModel(get_preset("solid_state_pouch"), soc=0.2, temperature_c=0.0, seed=None)
    for _ in range(600):
        cell.step(1.0, 20.0, 0.0)
    assert math.isnan(cell.anode_potential_v(20.0)) and cell.plated_lithium_ah == 0.0


def test_thirty_3c_charges_at_0c_fade_the_cell_and_leave_dead_lithium() -> None:
    """The issue's check: 30 charges at 3C and 0 °C used to leave the capacity unchanged."""
    from sim_instruments.cell.ageing_calibration import fast_charge_ageing

    cold = fast_charge_ageing(NMC, cycles=30, ambient_c=0.0, charge_c_rate=3.0)
    gentle = fast_charge_ageing(NMC, cycles=30, ambient_c=25.0, charge_c_rate=0.5)
    assert cold["dead_lithium_mah"] > 0.0 and cold["plated_peak_mah"] > 0.0
    # gentle charges only see the exchange plating at a positive anode potential (dead lithium
    # a small fraction of the cold case's), never a plated pool
    assert gentle["plated_peak_mah"] == 0.0 and gentle["dead_lithium_mah"] < 0.1 * cold["dead_lithium_mah"]
    assert cold["fade_pct"] > 2.0 * gentle["fade_pct"] > 0.0
