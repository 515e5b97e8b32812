"""Presets that mean their chemistry: cold retention by chemistry, the 60 Ah pouch's own thermal
and transport figures, ratings the bench can read, and the fast-charge preset's claim."""

from __future__ import annotations

import math

import pytest

from sim_instruments.cell import PRESETS, CellModel, get_preset
from sim_instruments.cell.calibration import simulate_discharge
from sim_instruments.cell.presets import CellPreset


def _retention_1c_m20(name: str) -> float:
    c = get_preset(name).nominal_capacity_ah
    warm = simulate_discharge(name, c, 25.0, dt_s=2.0).final_capacity_ah
    return simulate_discharge(name, c, -20.0, dt_s=2.0).final_capacity_ah / warm


def test_lfp_retains_less_than_nmc_at_1c_minus_20c() -> None:
    assert _retention_1c_m20("lfp_26650") < _retention_1c_m20("nmc_21700")


def _ilim_half_a(p: CellPreset) -> float:
    """Electrolyte limiting current at 25 °C and 50 % SOC, A (model.py: I_lim / (1 + k·(1 - SOC)))."""
    return p.r3_limiting_current_a / (1.0 + 0.5 * p.limiting_current_depth_factor)


def test_the_60ah_pouch_is_not_the_21700_scaled_by_capacity() -> None:
    cyl, pouch = get_preset("nmc_21700"), get_preset("nmc_pouch_60ah")
    scale = pouch.nominal_capacity_ah / cyl.nominal_capacity_ah
    per_ah = {
        "thermal mass J/K/Ah": (cyl.heat_capacity_j_per_k / cyl.nominal_capacity_ah,
                                pouch.heat_capacity_j_per_k / pouch.nominal_capacity_ah),
        "cooling area m2/Ah": (cyl.surface_area_m2 / cyl.nominal_capacity_ah,
                               pouch.surface_area_m2 / pouch.nominal_capacity_ah),
        "limiting current C at 50 % SOC": (_ilim_half_a(cyl) / cyl.nominal_capacity_ah,
                                           _ilim_half_a(pouch) / pouch.nominal_capacity_ah),
        "R0 ohm*Ah": (cyl.r0_ohm * cyl.nominal_capacity_ah, pouch.r0_ohm * pouch.nominal_capacity_ah),
    }
    for name, (a, b) in per_ah.items():
        assert b != pytest.approx(a, rel=0.05), name
    assert _ilim_half_a(pouch) > _ilim_half_a(cyl) * scale  # thinner electrodes
    # so its cold retention is predicted, not inherited
    assert _retention_1c_m20("nmc_pouch_60ah") != pytest.approx(_retention_1c_m20("nmc_21700"), abs=0.02)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_carries_its_charge_and_discharge_windows(name: str) -> None:
    r = get_preset(name).ratings()
    assert set(r) == {"charge_temperature_min_c", "charge_temperature_max_c", "discharge_temperature_min_c",
                      "discharge_temperature_max_c", "charge_current_max_a", "discharge_current_max_a"}
    assert r["charge_temperature_min_c"] < r["charge_temperature_max_c"]
    assert r["discharge_temperature_min_c"] < r["discharge_temperature_max_c"]
    assert r["charge_current_max_a"] > 0.0 and r["discharge_current_max_a"] > 0.0


def test_solid_state_preset_keeps_its_minimum_temperatures() -> None:
    r = get_preset("solid_state_pouch").ratings()
    assert r["charge_temperature_min_c"] == 10.0 and r["discharge_temperature_min_c"] == -10.0


def _fast_charge(ambient_c: float) -> tuple[float, float, float, float]:
    """CC at the preset's maximum charge current, CV at its maximum voltage, 10 -> 80 % SOC:
    (minutes, highest temperature °C, highest current A, plated lithium mAh)."""
    p = get_preset("xfc_nmc_pouch")
    cell = CellModel(p, soc=0.10, temperature_c=ambient_c, seed=None)
    i_max = p.current_max_charge_a
    t, t_max, i_peak = 0.0, ambient_c, 0.0
    while cell.charge_content_ah < 0.80 * cell.aged_capacity_ah and t < 3600.0:
        i = i_max
        if cell.terminal_voltage_v(i) > p.voltage_max_v:
            i = min(i_max, cell.current_for_voltage_a(p.voltage_max_v))
        cell.step(1.0, i, ambient_c)
        t += 1.0
        t_max = max(t_max, cell.temperature_core_c, cell.temperature_surface_c)
        i_peak = max(i_peak, i)
    return t / 60.0, t_max, i_peak, 1e3 * cell.plated_lithium_ah


def test_fast_charge_preset_charges_10_to_80_percent_in_10_minutes_within_its_ratings() -> None:
    p = get_preset("xfc_nmc_pouch")
    minutes, t_max, i_peak, plated_mah = _fast_charge(25.0)
    assert minutes <= 10.0
    assert i_peak <= p.current_max_charge_a
    assert t_max <= p.temperature_max_charge_c
    assert plated_mah == 0.0


@pytest.mark.parametrize("ambient_c", [0.0, 5.0])
def test_fast_charge_preset_plates_when_charged_that_fast_cold(ambient_c: float) -> None:
    minutes, _, _, plated_mah = _fast_charge(ambient_c)
    assert plated_mah > 1.0 and math.isfinite(minutes)
