"""Calibration of the nmc_21700 preset against the PyBaMM ORegan2022 reference discharges.

Every figure here is simulated with ``CellModel.step`` at dt = 1 s (see
``sim_instruments.cell.calibration``); the values measured are listed in ``docs/calibration.md``.
Reference (tests/data/reference): 1C 25 °C 4.655 Ah, C/3 25 °C 4.813 Ah; cell soaked at -20 °C:
1C 72.2 % retention and self-heating -20 -> 13 °C, C/3 93.8 % retention.
"""

from __future__ import annotations

import pytest

from sim_instruments.cell import CellModel, get_preset
from sim_instruments.cell.calibration import (
    REFERENCE_DIR,
    REFERENCE_RUNS,
    calibration_figures,
    load_reference,
    pulse_dcir_ohm,
)


@pytest.fixture(scope="module")
def fig() -> dict[str, float]:
    return calibration_figures("nmc_21700", dt_s=1.0)


def test_reference_files_are_present() -> None:
    for stem in REFERENCE_RUNS:
        ref = load_reference(stem)
        assert (REFERENCE_DIR / f"{stem}.csv").is_file()
        assert ref.voltage_v[-1] == pytest.approx(2.5, abs=1e-3)


def test_capacities_at_25c_match_the_reference(fig: dict[str, float]) -> None:
    assert fig["capacity_1C_25C_ah"] == pytest.approx(4.655, rel=0.02)
    assert fig["capacity_C3_25C_ah"] == pytest.approx(4.813, rel=0.02)
    assert fig["capacity_1C_25C_ah"] < fig["capacity_C3_25C_ah"]


def test_cold_1c_retention_band(fig: dict[str, float]) -> None:
    assert 0.62 <= fig["retention_1C_m20C"] <= 0.82


def test_cold_c3_retention_band(fig: dict[str, float]) -> None:
    assert fig["retention_C3_m20C"] >= 0.88
    assert fig["retention_C3_m20C"] > fig["retention_1C_m20C"]


def test_cold_1c_discharge_self_heats(fig: dict[str, float]) -> None:
    assert fig["self_heating_1C_m20C_k"] >= 10.0


def test_dcir_at_50_soc(fig: dict[str, float]) -> None:
    assert fig["dcir_10s_50soc_25C_ohm"] == pytest.approx(0.020, rel=0.2)
    assert 2.5 <= fig["dcir_ratio_m20C_to_25C"] <= 4.0


def test_dc_resistance_api_agrees_with_the_pulse() -> None:
    p = get_preset("nmc_21700")
    for temp in (25.0, -20.0):
        api = CellModel(p, soc=0.5, temperature_c=temp).dc_resistance_ohm(10.0, current_a=5.0)
        assert api == pytest.approx(pulse_dcir_ohm(p, temp), rel=0.05)


def test_voltage_curves_follow_the_reference_at_25c(fig: dict[str, float]) -> None:
    assert fig["rms_C3_25C_v"] < 0.030
    assert fig["rms_1C_25C_v"] < 0.050


def test_voltage_curves_follow_the_reference_at_minus_20c(fig: dict[str, float]) -> None:
    assert fig["rms_C3_m20C_v"] < 0.080
    assert fig["rms_1C_m20C_v"] < 0.150


def test_self_heating_at_25c_is_plausible(fig: dict[str, float]) -> None:
    # reference peaks: 1C 40.5 °C; C/3 from -20 °C: -9.4 °C
    assert fig["max_temperature_1C_25C_c"] == pytest.approx(40.5, abs=6.0)
    assert fig["max_temperature_C3_m20C_c"] == pytest.approx(-9.4, abs=6.0)
