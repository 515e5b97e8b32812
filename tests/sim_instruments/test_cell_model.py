"""Physics and API tests of the simulated cell (sim_instruments.cell)."""

from __future__ import annotations

import math
import statistics
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim_instruments.cell import PRESETS, CellModel, CellPreset, get_preset

NMC = "nmc_21700"


def _discharge_to(cell: CellModel, current_a: float, cutoff_v: float, dt_s: float, amb: float,
                  limit_s: float = 20000.0) -> float:
    """Discharge at ``current_a`` (A, > 0) until ``cutoff_v``; return the charge moved, Ah."""
    q, t = 0.0, 0.0
    while cell.terminal_voltage_v(-current_a) > cutoff_v and t < limit_s:
        cell.step(dt_s, -current_a, amb)
        q += current_a * dt_s / 3600.0
        t += dt_s
    return q


# ----------------------------------------------------------------------------- presets
def test_get_preset_unknown_lists_valid_names() -> None:
    with pytest.raises(KeyError) as info:
        get_preset("nope")
    for name in ("nmc_21700", "lfp_26650", "nmc_pouch_60ah", "solid_state_pouch"):
        assert name in str(info.value)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_ocv_table_spans_the_voltage_window(name: str) -> None:
    p = get_preset(name)
    assert isinstance(p, CellPreset) and p.name == name
    assert p.ocv_soc[0] == 0.0 and p.ocv_soc[-1] == 1.0
    assert all(b > a for a, b in zip(p.ocv_soc, p.ocv_soc[1:], strict=False))
    assert all(b > a for a, b in zip(p.ocv_v, p.ocv_v[1:], strict=False)), "OCV must rise with SOC"
    assert p.ocv_v[0] == pytest.approx(p.voltage_min_v)
    assert p.ocv_v[-1] == pytest.approx(p.voltage_max_v)
    cell = CellModel(p, soc=1.0)
    assert cell.terminal_voltage_v(0.0) == pytest.approx(p.voltage_max_v)


def test_lfp_has_a_flat_plateau_between_3v2_and_3v35() -> None:
    cell = CellModel(get_preset("lfp_26650"))
    plateau = [cell.ocv_at_soc_v(s / 100) for s in range(15, 91, 5)]
    assert min(plateau) >= 3.2 and max(plateau) <= 3.35
    assert max(plateau) - min(plateau) < 0.12


# ----------------------------------------------------------------------------- terminal relations
@settings(max_examples=60, deadline=None)
@given(
    soc=st.floats(0.05, 1.0),
    temp=st.floats(-25.0, 55.0),
    current=st.floats(-20.0, 20.0),
    short=st.one_of(st.none(), st.floats(0.01, 100.0)),
)
def test_current_for_voltage_inverts_terminal_voltage(soc: float, temp: float, current: float,
                                                      short: float | None) -> None:
    cell = CellModel(get_preset(NMC), soc=soc, temperature_c=temp)
    cell.step(5.0, -2.0, temp)  # some polarisation
    cell.set_internal_short(short)
    v = cell.terminal_voltage_v(current)
    assert cell.current_for_voltage_a(v) == pytest.approx(current, abs=1e-9)


def test_terminal_voltage_is_a_pure_query_and_sign_convention() -> None:
    cell = CellModel(get_preset(NMC), soc=0.5)
    before = cell.state_dict()
    ocv = cell.terminal_voltage_v(0.0)
    assert cell.terminal_voltage_v(+5.0) > ocv > cell.terminal_voltage_v(-5.0)  # + = charge
    assert cell.state_dict() == before


def test_coulomb_counting_is_exact() -> None:
    p = get_preset(NMC)
    cell = CellModel(p, soc=0.2)
    for _ in range(360):
        cell.step(10.0, 1.0, 25.0)  # 1 A charge for 1 h
    # the charge content is what went in less the capacity lost meanwhile (SEI, dead lithium of
    # the exchange plating, active material)
    lost_ah = cell.sei_lithium_ah + cell.dead_lithium_ah + cell.lam_ah
    assert 0.0 < lost_ah < 1e-3
    assert cell.charge_content_ah == pytest.approx(0.2 * p.capacity_ah + 1.0 - lost_ah, abs=1e-12)


def test_voltage_relaxes_towards_ocv_after_a_pulse() -> None:
    cell = CellModel(get_preset(NMC), soc=0.5)
    for _ in range(60):
        cell.step(1.0, -5.0, 25.0)
    volts = []
    for _ in range(600):
        cell.step(1.0, 0.0, 25.0)
        volts.append(cell.terminal_voltage_v(0.0))
    assert all(b >= a - 1e-12 for a, b in zip(volts, volts[1:], strict=False)), "rest voltage must recover"
    assert volts[-1] - volts[0] > 0.005
    assert cell.terminal_voltage_v(0.0) < cell.ocv_at_soc_v(cell.soc) + 1e-6


def test_dc_resistance_matches_a_simulated_pulse() -> None:
    cell = CellModel(get_preset(NMC), soc=0.5)
    predicted = cell.dc_resistance_ohm(10.0, current_a=5.0)
    v0 = cell.terminal_voltage_v(0.0)
    for _ in range(100):
        cell.step(0.1, -5.0, 25.0)
    measured = (v0 - cell.terminal_voltage_v(-5.0)) / 5.0
    # the pulse also moves 14 mAs of charge (OCV drift) and warms the cell slightly
    assert measured == pytest.approx(predicted, rel=0.05)
    assert cell.dc_resistance_ohm(10.0) > cell.dc_resistance_ohm(0.001) > 0.0


def test_dc_resistance_default_is_a_1c_pulse_and_cold_kinetics_are_non_linear() -> None:
    p = get_preset(NMC)
    warm = CellModel(p, soc=0.5)
    assert warm.dc_resistance_ohm(10.0) == warm.dc_resistance_ohm(10.0, current_a=p.nominal_capacity_ah)
    cold = CellModel(p, soc=0.5, temperature_c=-20.0)
    # Butler-Volmer: the cold charge-transfer overpotential grows less than linearly with current
    assert cold.dc_resistance_ohm(10.0, current_a=0.0) > 1.5 * cold.dc_resistance_ohm(10.0, current_a=5.0)
    assert warm.dc_resistance_ohm(10.0, current_a=0.0) == pytest.approx(warm.dc_resistance_ohm(10.0), rel=0.1)


# ----------------------------------------------------------------------------- parameters
def test_resistances_are_arrhenius_and_charge_transfer_is_more_sensitive() -> None:
    p = get_preset(NMC)
    warm, cold = CellModel(p, soc=0.5, temperature_c=25.0), CellModel(p, soc=0.5, temperature_c=-20.0)
    r0_ratio = cold.resistance_ohm() / warm.resistance_ohm()
    rct_ratio = cold.charge_transfer_resistance_ohm() / warm.charge_transfer_resistance_ohm()
    assert r0_ratio > 1.2
    assert rct_ratio > 3.0 * r0_ratio
    hot = CellModel(p, soc=0.5, temperature_c=45.0)
    assert hot.dc_resistance_ohm(10.0) < warm.dc_resistance_ohm(10.0)


def test_resistance_rises_at_low_soc() -> None:
    p = get_preset(NMC)
    mid, low = CellModel(p, soc=0.5), CellModel(p, soc=0.03)
    assert low.dc_resistance_ohm(10.0, current_a=5.0) > 1.25 * mid.dc_resistance_ohm(10.0, current_a=5.0)
    assert low.charge_transfer_resistance_ohm() > 1.5 * mid.charge_transfer_resistance_ohm()


# ----------------------------------------------------------------------------- numerics
def test_large_steps_agree_with_small_steps() -> None:
    p = get_preset(NMC)
    fine, coarse = CellModel(p, soc=0.9), CellModel(p, soc=0.9)
    for _ in range(2400):
        fine.step(1.0, -5.0, 25.0)
    for _ in range(40):
        coarse.step(60.0, -5.0, 25.0)
    # (the SEI rate is sampled once per step)
    assert coarse.charge_content_ah == pytest.approx(fine.charge_content_ah, abs=1e-5)
    assert coarse.terminal_voltage_v(-5.0) == pytest.approx(fine.terminal_voltage_v(-5.0), abs=0.01)
    assert coarse.temperature_surface_c == pytest.approx(fine.temperature_surface_c, abs=0.5)


def test_millisecond_steps_are_stable() -> None:
    cell = CellModel(get_preset(NMC), soc=0.5, temperature_c=-20.0)
    for _ in range(2000):
        cell.step(0.001, -7.0, -20.0)
    v = cell.terminal_voltage_v(-7.0)
    assert math.isfinite(v) and 2.5 < v < 4.2


def test_step_is_fast() -> None:
    cell = CellModel(get_preset(NMC), soc=1.0)
    n = 20000
    t0 = time.perf_counter()
    for _ in range(n):
        cell.step(0.1, -5.0, 25.0)
        cell.terminal_voltage_v(-5.0)
    per_step_us = (time.perf_counter() - t0) / n * 1e6
    assert per_step_us < 50.0, f"{per_step_us:.1f} us per step"


# ----------------------------------------------------------------------------- thermal
def test_cooling_follows_the_convective_time_constant() -> None:
    p = get_preset(NMC)
    cell = CellModel(p, soc=0.5, temperature_c=45.0)
    tau = p.heat_capacity_j_per_k / (p.convection_w_per_m2k * p.surface_area_m2)
    for _ in range(int(tau)):
        cell.step(1.0, 0.0, 25.0)
    # one time constant: 20 K excess decays to about 20/e (the core lags the surface slightly)
    assert cell.temperature_surface_c - 25.0 == pytest.approx(20.0 / math.e, rel=0.08)
    assert cell.temperature_core_c >= cell.temperature_surface_c


def test_joule_heating_steady_state_and_core_hotter_than_surface() -> None:
    p = get_preset(NMC)
    cell = CellModel(p, soc=0.6)
    for _ in range(300):
        cell.step(1.0, 2.0, 25.0)
        cell.step(1.0, -2.0, 25.0)  # symmetric cycling: SOC stays, heat accumulates
    heat = cell.last_heat_w
    assert heat > 0.0
    assert cell.temperature_core_c > cell.temperature_surface_c > 25.0


def test_cold_discharge_loses_capacity_and_self_heats() -> None:
    p = get_preset(NMC)
    warm, cold = CellModel(p, temperature_c=25.0), CellModel(p, temperature_c=-20.0)
    q_warm = _discharge_to(warm, 5.0, 2.5, 5.0, 25.0)
    q_cold = _discharge_to(cold, 5.0, 2.5, 5.0, -20.0)
    assert q_cold < 0.85 * q_warm
    assert cold.temperature_surface_c > -10.0


# ----------------------------------------------------------------------------- abuse
def test_mild_short_drains_and_warms_without_runaway() -> None:
    cell = CellModel(get_preset(NMC), soc=1.0)
    cell.set_internal_short(10.0)
    for _ in range(720):
        cell.step(5.0, 0.0, 25.0)  # 1 h at open circuit
    drained = 1.0 - cell.soc
    assert drained == pytest.approx(3600 * 4.0 / 10.0 / (3600 * cell.preset.capacity_ah), rel=0.1)
    assert 2.0 < cell.temperature_core_c - 25.0 < 40.0
    assert not cell.runaway
    cell.set_internal_short(None)
    assert cell.internal_short_ohm is None


@pytest.mark.parametrize("name", ["nmc_21700", "lfp_26650", "nmc_pouch_60ah"])
def test_severe_short_drives_liquid_cells_into_runaway(name: str) -> None:
    cell = CellModel(get_preset(name), soc=1.0)
    cell.set_internal_short(0.05)
    peak = 25.0
    for _ in range(360):
        cell.step(10.0, 0.0, 25.0)
        peak = max(peak, cell.temperature_core_c)
    assert cell.runaway
    assert cell.separator_melted
    assert peak > 350.0
    assert cell.terminal_voltage_v(0.0) < 0.3
    # layered oxides react out; the olivine (onset 250 °C, sim_instruments/cell/abuse_onsets.py)
    # reacts only in part during the short's heat pulse: the milder LFP runaway
    assert cell.exotherm_reactant < (0.95 if name == "lfp_26650" else 0.05)


def test_solid_state_short_stays_bounded_without_runaway() -> None:
    p = get_preset("solid_state_pouch")
    cell = CellModel(p, soc=1.0)
    cell.set_internal_short(0.05)
    peak = 25.0
    for _ in range(720):
        cell.step(10.0, 0.0, 25.0)
        peak = max(peak, cell.temperature_core_c)
    assert not cell.runaway and not cell.separator_melted
    # bounded by the stored electrical energy alone (no exotherm adds to it)
    stored_j = p.capacity_ah * 3600.0 * 3.8
    assert peak - 25.0 < stored_j / p.heat_capacity_j_per_k
    liquid = CellModel(get_preset(NMC), soc=1.0)
    liquid.set_internal_short(0.05)
    liquid_peak = 25.0
    for _ in range(720):
        liquid.step(10.0, 0.0, 25.0)
        liquid_peak = max(liquid_peak, liquid.temperature_core_c)
    assert peak < liquid_peak - 200.0


def test_hot_box_runaway_threshold() -> None:
    p = get_preset(NMC)
    warm = CellModel(p, soc=1.0, temperature_c=100.0)
    hot = CellModel(p, soc=1.0, temperature_c=25.0)
    for _ in range(120):
        warm.step(30.0, 0.0, 100.0)
        hot.step(30.0, 0.0, 170.0)
    assert not warm.runaway and warm.temperature_core_c < 115.0
    assert hot.runaway and hot.temperature_core_c > 300.0


def test_internal_short_rejects_non_positive_resistance() -> None:
    cell = CellModel(get_preset(NMC))
    with pytest.raises(ValueError):
        cell.set_internal_short(0.0)


# ----------------------------------------------------------------------------- state & noise
def test_state_dict_round_trip_reproduces_the_future() -> None:
    p = get_preset(NMC)
    a = CellModel(p, soc=0.8, temperature_c=10.0)
    for _ in range(100):
        a.step(2.0, -4.0, 5.0)
    a.set_internal_short(20.0)
    state = a.state_dict()
    assert all(isinstance(v, float) for v in state.values())
    b = CellModel(p, soc=0.1, temperature_c=40.0)
    b.load_state(state)
    for _ in range(50):
        a.step(3.0, 2.0, 5.0)
        b.step(3.0, 2.0, 5.0)
    assert b.state_dict() == a.state_dict()
    assert b.terminal_voltage_v(1.0) == a.terminal_voltage_v(1.0)


def test_measurement_noise_is_small_seeded_and_unbiased() -> None:
    p = get_preset(NMC)
    a, b = CellModel(p, soc=0.5, seed=7), CellModel(p, soc=0.5, seed=7)
    va = [a.measured_voltage_v(0.0) for _ in range(2000)]
    vb = [b.measured_voltage_v(0.0) for _ in range(2000)]
    assert va == vb
    true_v = a.terminal_voltage_v(0.0)
    assert abs(statistics.fmean(va) - true_v) < 2e-5
    assert 0.0001 <= statistics.pstdev(va) <= 0.0003
    temps = [a.measured_temperature_c() for _ in range(2000)]
    assert 0.03 < statistics.pstdev(temps) < 0.07
    a.set_thermocouple_noise(0.0, offset_k=1.5)
    assert a.measured_temperature_c() == pytest.approx(a.temperature_surface_c + 1.5)
