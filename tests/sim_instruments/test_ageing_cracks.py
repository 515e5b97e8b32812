"""SEI on cracks (issue 30 item 3): the crack surface that the stress-driven loss of active
material opens grows SEI as a fresh surface (law in :mod:`sim_instruments.cell.degradation`;
the crack-growth constant from OKane2022's Paris law over its stress-driven LAM)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sim_instruments.cell.model import CellModel
from sim_instruments.cell.preset_apr18650 import LFP_18650_APR


def _cycling_sei_ah(lam_fraction: float, crack: float | None = None) -> float:
    """SEI grown by 1 s at 1C minus that of 1 s at rest (the calendar part), on a cell holding
    20 mAh of SEI and ``lam_fraction`` of its capacity lost with active material, Ah."""
    p = LFP_18650_APR
    if crack is not None:
        p = replace(p, degradation=replace(p.degradation, crack_area_per_lam_fraction=crack))
    grown = []
    for current in (p.nominal_capacity_ah, 0.0):
        cell = CellModel(p, soc=0.5, temperature_c=25.0, seed=None)
        cell.set_ageing_pools_ah(0.020, 0.0, lam_fraction * p.capacity_ah, 0.0)
        before = cell.sei_lithium_ah
        cell.step(1.0, current, 25.0)
        grown.append(cell.sei_lithium_ah - before)
    return grown[0] - grown[1]


def test_crack_surface_grows_sei_as_a_fresh_surface() -> None:
    """Claim: with a fraction x of the capacity lost with active material, the cycling SEI grows
    at k_cyc·|I|·(norm + c_cr·x), norm = 1/(1 + q_sei/q_ref) the old film's slowing: the cracked
    surface (c_cr·x of the fresh one) is not slowed by the old film. Without LAM, or with c_cr 0,
    the rate is the old law's."""
    d = LFP_18650_APR.degradation
    norm = 1.0 / (1.0 + 0.020 * 3600.0 / (d.sei_ref_as_per_ah * LFP_18650_APR.capacity_ah))
    base = _cycling_sei_ah(0.0)
    assert _cycling_sei_ah(0.05) / base == pytest.approx((norm + d.crack_area_per_lam_fraction * 0.05) / norm,
                                                         rel=1e-3)
    assert _cycling_sei_ah(0.05, crack=0.0) == pytest.approx(base, rel=1e-9)


def test_crack_constant_is_okane2022s_paris_law_over_its_lam_law() -> None:
    """c_cr = (dl/l0)/dLAM = k_cr·b^m·pi^(m/2)·l0^(m/2-1)·sigma^(m-2)·sigma_c^2/(3600·beta) with
    OKane2022's k_cr 3.9e-20, b 1.12, m 2.2, l0 20 nm, sigma_c 60 MPa, beta 2.7778e-7 1/s at a
    stress of 30 MPa (within x0.8-1.15 for 10-60 MPa)."""
    k_cr, b, m, l0, sigma_c, beta, sigma = 3.9e-20, 1.12, 2.2, 2e-8, 60e6, 2.7778e-7, 30e6
    c_cr = k_cr * b**m * 3.141592653589793 ** (m / 2) * l0 ** (m / 2 - 1) * sigma ** (m - 2) * sigma_c**2 / (
        3600.0 * beta)
    assert LFP_18650_APR.degradation.crack_area_per_lam_fraction == pytest.approx(c_cr, rel=0.05)


def test_resume_keeps_the_crack_surface_of_the_last_quantum() -> None:
    """state_dict carries the LAM of the last quantum; a journal without it (older) takes the LAM."""
    cell = CellModel(LFP_18650_APR, soc=0.5, temperature_c=25.0, seed=None)
    cell.set_ageing_pools_ah(0.02, 0.0, 0.05, 0.0)
    state = cell.state_dict()
    assert state["applied_lam_as"] == pytest.approx(0.05 * 3600.0)
    twin = CellModel(LFP_18650_APR, soc=0.5, temperature_c=25.0, seed=None)
    state.pop("applied_lam_as")
    twin.load_state(state)
    assert twin.state_dict()["applied_lam_as"] == pytest.approx(0.05 * 3600.0)
