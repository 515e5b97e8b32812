"""Limits that are physics, not caps (issue 30 item 2).

Claims: the capacity a cell delivers falls monotonically with the discharge rate at every
temperature of the sweep (and so does the charge a CC phase accepts); and no bound of the model
decides a value at a calibration point (``sim_instruments.cell.clamp_report``: the share of each
calibration case's time during which each bound is active, 0 in every case). The electrolyte is
a depletion state since issue 30 (``model.py``): the two points that used to sit on a bound (the
1C/-20 °C discharge on the crowding factor's 10x cap, the 3C CC-CV on it and on the near-full
charge term's ``min(1, I/1C)``) are checked by name.

DFN discharges above the calibration rates (``scripts/make_extra_references.py``: 1.5C and 2C,
ORegan2022, the calibration discharges' settings; in the refit of ``electrolyte_fit.py``) check
the rate limits themselves: the capacity at 2C / 25 °C, 2C / 0 °C and 1.5C / -20 °C, and the cold
2C discharge that the DFN ends after 0.20 Ah (its voltage reaches 2.5 V before the cell warms):
past the limiting current the electrolyte empties and the model's voltage collapses as well.
"""

from __future__ import annotations

import pytest

from sim_instruments.cell.calibration import load_reference, simulate_discharge
from sim_instruments.cell.charge_calibration import simulate_charge
from sim_instruments.cell.clamp_report import BOUNDS, clamp_report
from sim_instruments.cell.presets import get_preset

RATES = (0.2, 0.5, 1.0, 1.5, 2.0)
#: (case, bound) pairs that sat on a bound before the depletion law (share of the time then).
FORMERLY_ON_A_BOUND = {
    ("discharge 1C -20 °C", "electrolyte_depletion_guard"): 1.0,  # the 10x crowding cap
    ("CC-CV 3C 25 °C", "electrolyte_depletion_guard"): 0.08,      # the 10x crowding cap
}


@pytest.mark.parametrize("preset", ["nmc_21700", "lfp_26650", "nmc_pouch_60ah", "xfc_nmc_pouch"])
@pytest.mark.parametrize("temp", [-20.0, -10.0, 0.0, 25.0, 45.0])
def test_capacity_falls_monotonically_with_rate(preset: str, temp: float) -> None:
    c = get_preset(preset).nominal_capacity_ah
    caps = [simulate_discharge(preset, r * c, temp, dt_s=5.0).final_capacity_ah for r in RATES]
    assert all(b < a for a, b in zip(caps, caps[1:], strict=False)), (preset, temp, caps)


@pytest.mark.parametrize("temp", [0.0, 10.0, 25.0])
def test_cc_charge_accepted_falls_with_rate(temp: float) -> None:
    accepted = [simulate_charge("nmc_21700", r * 5.0, temp, cv=False, dt_s=5.0).cc_charge_ah
                for r in (0.5, 1.0, 2.0, 3.0)]
    assert all(b < a for a, b in zip(accepted, accepted[1:], strict=False)), (temp, accepted)


@pytest.fixture(scope="module")
def report() -> dict[str, dict[str, float]]:
    return clamp_report("nmc_21700")


def test_no_bound_decides_a_calibration_point(report: dict[str, dict[str, float]]) -> None:
    """Every (case, bound) pair: 0 s on the bound."""
    assert set(BOUNDS) == {"electrolyte_depletion_guard", "sei_temperature_cap", "soc_parameter_clamp",
                           "plating_current_cap"}
    for case, shares in report.items():
        for bound in BOUNDS:
            assert shares[bound] == 0.0, (case, bound, shares[bound])


@pytest.mark.parametrize(("case", "bound"), sorted(FORMERLY_ON_A_BOUND))
def test_known_points_on_a_bound(report: dict[str, dict[str, float]], case: str, bound: str) -> None:
    """The points that ran on the crowding cap (1C/-20 °C: all of it) run on the law: 0 s on the
    depletion guard; and the near-full charge term of the 3C CC-CV has no bound left (linear in
    I/1C: ``r2_current_saturation`` is gone from the report)."""
    assert report[case][bound] == 0.0
    assert "r2_current_saturation" not in report[case]


def test_every_dfn_discharge_is_a_calibration_case(report: dict[str, dict[str, float]]) -> None:
    """The refit used all ten DFN discharges: the bound report covers each of them."""
    for case in ("C/5 25 °C", "C/3 25 °C", "1C 25 °C", "2C 25 °C", "2C 0 °C", "C/5 -20 °C",
                 "C/3 -20 °C", "1C -20 °C", "1.5C -20 °C", "2C -20 °C"):
        assert f"discharge {case}" in report


@pytest.mark.parametrize(("stem", "current_a", "temp"), [
    ("oregan2022_dfn_lumped_2C_25C", 10.0, 25.0), ("oregan2022_dfn_lumped_2C_0C", 10.0, 0.0),
    ("oregan2022_dfn_lumped_1p5C_m20C", 7.5, -20.0)])
def test_high_rate_capacity_follows_the_dfn(stem: str, current_a: float, temp: float) -> None:
    """Above the calibration rates (in the refit, with the calibration discharges): the capacity to
    2.5 V within 10 % of the DFN's."""
    ref = load_reference(stem).final_capacity_ah
    sim = simulate_discharge("nmc_21700", current_a, temp, dt_s=2.0).final_capacity_ah
    assert sim == pytest.approx(ref, rel=0.10), (stem, sim, ref)


def test_cold_2c_discharge_ends_early_as_the_dfn() -> None:
    """2C at -20 °C: the DFN reaches 2.5 V after 0.20 Ah (4 % of its capacity), before the cell
    warms up; the model must end within the first 10 % too (its electrolyte depletes: 10 A is
    above the limiting current at -20 °C)."""
    ref = load_reference("oregan2022_dfn_lumped_2C_m20C").final_capacity_ah
    assert ref < 0.5
    sim = simulate_discharge("nmc_21700", 10.0, -20.0, dt_s=2.0).final_capacity_ah
    assert sim < 0.5, sim
