"""The ageing knee (issue 30 item 3): SEI and dead lithium fill the anode's pores, the
electrolyte path through them (Bruggeman) resists more, the anode's potential at a fast charge
falls, plating and dead lithium follow, and they fill the pores further: a positive feedback
(Yang et al., J. Power Sources 360 (2017) 28; O'Kane et al., PCCP 24 (2022) 7909). The law and
its numbers: :mod:`sim_instruments.cell.degradation`, docs/calibration.md.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from sim_instruments.cell import CellModel, get_preset
from sim_instruments.cell.presets import CellPreset
from sim_instruments.cell.published_fast_charge import PolicyRun, chamber_preset, new_cell, run_cycle

#: OKane2022's numbers (PyBaMM parameter set): SEI partial molar volume (one Li per SEI mole),
#: lithium metal molar volume, the LG M50 anode's size and porosity, the nominal capacity.
V_SEI_M3_MOL, V_LI_M3_MOL = 9.585e-5, 1.3e-5
AREA_M2, THICKNESS_M, POROSITY, Q0_AH = 0.065 * 1.58, 85.2e-6, 0.25, 5.0
FARADAY = 96485.33212


def test_pore_fill_is_the_okane2022_volumes_over_the_pore_volume() -> None:
    """One unit of capacity fraction lost to SEI (dead lithium) fills V·Q0/F of the pore volume."""
    d = get_preset("nmc_21700").degradation
    pores = AREA_M2 * THICKNESS_M * POROSITY
    mol = Q0_AH * 3600.0 / FARADAY
    assert d.pore_fill_per_sei_fraction == pytest.approx(mol * V_SEI_M3_MOL / pores, rel=0.01)
    assert d.pore_fill_per_dead_fraction == pytest.approx(mol * V_LI_M3_MOL / pores, rel=0.01)


def test_clogged_pores_add_resistance_beyond_first_order_and_all_to_the_anode() -> None:
    """A cell that lost 6 % to SEI: R0 grows by the pores' share x Bruggeman's (1-f)^-1.5 less its
    linear part (that is in the calibrated 2 %/% growth), and the anode potential under a charge
    current falls by that extra drop, all of it (the pores are the anode's)."""
    p = get_preset("nmc_21700")
    d = p.degradation
    fresh = CellModel(p, soc=0.5, seed=None)
    aged = CellModel(p, soc=0.5, seed=None)
    aged.set_ageing_pools_ah(0.06 * p.capacity_ah, 0.0, 0.0, 0.0)
    f = 0.06 * d.pore_fill_per_sei_fraction
    extra = d.pore_resistance_share * ((1.0 - f) ** -1.5 - 1.0 - 1.5 * f)
    assert aged.pore_resistance_factor == pytest.approx(extra, rel=1e-12)
    assert extra > 0.1
    no_pores = CellModel(replace(p, degradation=replace(d, pore_resistance_share=0.0)), soc=0.5, seed=None)
    no_pores.set_ageing_pools_ah(0.06 * p.capacity_ah, 0.0, 0.0, 0.0)
    i = p.nominal_capacity_ah
    drop = no_pores.anode_potential_v(i) - aged.anode_potential_v(i)
    r0_fresh = fresh._r0  # same SOC and temperature: the Arrhenius and SOC factors are equal
    assert drop == pytest.approx(extra * r0_fresh * i, rel=1e-6)


def _dead_per_cycle_mah(preset: CellPreset, sei_fraction: float) -> float:
    cell = new_cell(preset)
    cell.set_ageing_pools_ah(sei_fraction * cell.aged_capacity_ah, 0.0, 0.0, 0.0)
    run = PolicyRun()
    run_cycle(cell, (3.6, 6.0, 5.6, 4.755), run)  # (settle: the first cycle starts at SOC 0.5)
    before = cell.dead_lithium_ah
    run_cycle(cell, (3.6, 6.0, 5.6, 4.755), run)
    return 1e3 * (cell.dead_lithium_ah - before)


def test_plating_per_cycle_accelerates_with_the_lost_lithium() -> None:
    """The knee: on the APR18650M1A under Attia et al.'s 3.6C-6C-5.6C-4.755C cycle, the dead
    lithium per cycle rises faster than linearly with the SEI already grown (3 -> 6 -> 9 % of
    capacity), and the pores make it: without them 9 % SEI leaves < 1/10 as much per cycle."""
    p = chamber_preset()
    d3, d6, d9 = (_dead_per_cycle_mah(p, f) for f in (0.03, 0.06, 0.09))
    assert 0.0 < d6 - d3 < d9 - d6
    no_pores = replace(p, degradation=replace(p.degradation, pore_resistance_share=0.0))
    assert _dead_per_cycle_mah(no_pores, 0.09) < 0.1 * d9
