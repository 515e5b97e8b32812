"""The 60 Ah pouch (``nmc_pouch_60ah``) against its own DFN reference (issue 30 item 8).

Reference: PyBaMM DFN, ``Ecker2015`` electrodes x 384 layers = 60 Ah, lumped thermal with this
pouch's geometry (``tests/data/reference/ecker2015_60ah_*``, ``scripts/make_fast_charge_references.py
pouch`` / ``pouch-ocv``). The bands are taken from the reference itself: a fit that resolves the
reference's own rate and temperature effects (1C vs C/3 at 25 °C, 25 °C vs 0 °C at 1C) must miss
by less than half of the smaller of them; heat within 10 % (the criterion of issue 30's outside
check). The comparison is like for like (no reversible heat: the Ecker2015 set has none); the
preset's own figures, with its reversible heat, are in ``docs/calibration.md``.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim_instruments.cell import get_preset, ocv_tables
from sim_instruments.cell.calibration import REFERENCE_DIR, load_reference
from sim_instruments.cell.pouch_calibration import (
    DERIVED,
    FIT_FIELDS,
    FIT_RUNS,
    POUCH_REFERENCE_RUNS,
    REFERENCE_HEAT_CAPACITY_J_PER_K,
    fit_pouch,
    pouch_figures,
)

C1_25, C3_25, C1_0 = "1C_25C", "C3_25C", "1C_0C"


@pytest.fixture(scope="module")
def fig() -> dict[str, float]:
    return pouch_figures("nmc_pouch_60ah", dt_s=1.0)


def _rms_gap_v(stem_a: str, stem_b: str) -> float:
    """RMS of V(Q) between two reference runs over their common range, V."""
    a, b = load_reference(f"ecker2015_60ah_dfn_lumped_{stem_a}"), load_reference(f"ecker2015_60ah_dfn_lumped_{stem_b}")
    grid = np.linspace(0.0, min(a.final_capacity_ah, b.final_capacity_ah), 400)
    diff = np.interp(grid, a.capacity_ah, a.voltage_v) - np.interp(grid, b.capacity_ah, b.voltage_v)
    return float(np.sqrt(np.mean(diff**2)))


def test_ocv_graphite_ocp_capacity_and_heat_capacity_are_the_reference_cells() -> None:
    path = REFERENCE_DIR / "ecker2015_60ah_ocv.csv"
    table = np.genfromtxt(path, delimiter=",", skip_header=2)
    soc, ocv = ocv_tables.LAYERED_OXIDE_GRAPHITE_POUCH
    assert np.allclose(soc, table[:, 0])
    assert np.allclose(ocv, table[:, 1], atol=0.6e-4)  # rounded to 0.1 mV
    assert np.allclose(ocv_tables.GRAPHITE_OCP_ECKER2015_POUCH_V, table[:, 2], atol=0.6e-4)
    header = path.read_text(encoding="utf-8").splitlines()[0]
    capacity = float(header.split("capacity ")[1].split(" Ah")[0])
    p = get_preset("nmc_pouch_60ah")
    assert p.ocv_v == ocv and p.anode_ocp_v == ocv_tables.GRAPHITE_OCP_ECKER2015_POUCH_V
    assert p.capacity_ah == pytest.approx(capacity, abs=0.005)
    assert p.heat_capacity_j_per_k == pytest.approx(REFERENCE_HEAT_CAPACITY_J_PER_K)


def test_capacity_resolves_the_references_rate_and_temperature_effects(fig: dict[str, float]) -> None:
    ref = {c: fig[f"ref_capacity_{c}_ah"] for c in (C1_25, C3_25, C1_0)}
    rate_effect, cold_effect = ref[C3_25] - ref[C1_25], ref[C1_25] - ref[C1_0]
    assert rate_effect > 0.0 and cold_effect > 0.0
    band = 0.5 * min(rate_effect, cold_effect)  # 0.13 Ah (0.2 %)
    for case in ref:  # fitted runs
        assert fig[f"lfl_capacity_{case}_ah"] == pytest.approx(ref[case], abs=band), case
    assert fig[f"lfl_capacity_{C3_25}_ah"] > fig[f"lfl_capacity_{C1_25}_ah"] > fig[f"lfl_capacity_{C1_0}_ah"]


def test_heating_within_10_percent_of_the_reference(fig: dict[str, float]) -> None:
    for case in (C1_25, C3_25, C1_0):
        assert fig[f"lfl_heating_{case}_k"] == pytest.approx(fig[f"ref_heating_{case}_k"], rel=0.10), case


def test_voltage_curve_misses_by_less_than_half_the_references_own_effects(fig: dict[str, float]) -> None:
    band = 0.5 * min(_rms_gap_v(C1_25, C3_25), _rms_gap_v(C1_25, C1_0))
    for case in (C1_25, C3_25, C1_0):
        assert fig[f"lfl_rms_{case}_v"] < band, (case, band)


def test_the_preset_is_what_the_fit_and_the_reference_physics_give() -> None:
    p = get_preset("nmc_pouch_60ah")
    for name, value in DERIVED.items():
        assert getattr(p, name) == value, name
    fitted = fit_pouch(p)
    for name in FIT_FIELDS:
        assert fitted[name] == pytest.approx(getattr(p, name), rel=0.02), name
    assert set(FIT_RUNS) == {f"ecker2015_60ah_dfn_lumped_{c}" for c in (C1_25, C3_25, C1_0)}


def test_held_out_cold_capacities_within_the_21700s_capacity_band(fig: dict[str, float]) -> None:
    """The -20 °C runs are not fitted: their capacity is predicted within ±2 % (the band of the
    nmc_21700 calibration's capacities) and falls from C/5 to 1C as the DFN's does. (Their heating
    is not claimed: 2C heats 37 K against the DFN's 31 K, docs/calibration.md.)"""
    held_out = [stem.split("lumped_")[1] for stem in POUCH_REFERENCE_RUNS if stem not in FIT_RUNS]
    assert held_out == ["C5_m20C", "1C_m20C", "2C_m20C"]
    for case in held_out:
        assert fig[f"sim_capacity_{case}_ah"] == pytest.approx(fig[f"ref_capacity_{case}_ah"], rel=0.02), case
    assert fig["sim_capacity_C5_m20C_ah"] > fig["sim_capacity_1C_m20C_ah"]
