"""``lfp_18650_apr``: the A123 APR18650M1A (1.1 Ah LFP/graphite 18650) of the Stanford/MIT/TRI
fast-charge lifetime studies (Severson et al., Nature Energy 4 (2019) 383; Attia et al., Nature
578 (2020) 397), built from the ``lfp_26650`` preset's physics.

Ratings come from ``cells/datasheets/a123_apr18650m1a.yaml`` (:func:`rating_of`; never repeated
here). Everything else is ``lfp_26650`` (an A123 ANR26650M1-class cell of the same Nanophosphate
LFP/graphite chemistry and maker) scaled to the smaller cell, **assumed**, not fitted to this
cell's own measurements:

* the same per-Ah resistances and time constants (same electrodes, a shorter winding): every
  resistance x (capacity ratio)⁻¹, the limiting current x capacity ratio;
* heat capacities x the mass ratio (same specific heat), the can area from the datasheet's size;
  the core-to-surface conductance x the height ratio (radial conduction out of a cylinder that
  heats uniformly: G = 8·π·k·L, independent of the radius);
* OCV, graphite OCP, Arrhenius energies, charge factors and ageing laws unchanged.

Kept apart from :data:`~sim_instruments.cell.presets.PRESETS` (the bench's ``--cell`` names): the
bench-wide sweeps over every preset (CV hold, shipped protocols on every cell) have not been run
on it; :mod:`sim_instruments.cell.published_fast_charge` uses it in process. Units as in
:mod:`sim_instruments.cell.presets`.
"""

from __future__ import annotations

import math
from dataclasses import replace

from cells import shipped_datasheet
from sim_instruments.cell.abuse_onsets import arc_onset_rate_per_s
from sim_instruments.cell.presets import LFP_26650, CellPreset, rating_of

_RATING = rating_of("a123_apr18650m1a")
#: Capacity ratio to lfp_26650 (nominal ratings of the two datasheets).
_K = _RATING["nominal_capacity_ah"] / LFP_26650.nominal_capacity_ah
#: Mass ratio (heat capacities scale with it).
_M = _RATING["mass_kg"] / LFP_26650.mass_kg

def _size_m(datasheet: str, key: str) -> float:
    """A can dimension of a shipped datasheet, m."""
    value = shipped_datasheet(datasheet).get(f"dimensions.{key}")
    if value is None:
        raise ValueError(f"datasheet {datasheet!r} states no dimensions.{key}")
    return value / 1000.0


_D_M, _H_M = _size_m("a123_apr18650m1a", "diameter_mm"), _size_m("a123_apr18650m1a", "height_mm")

LFP_18650_APR: CellPreset = replace(
    LFP_26650,
    name="lfp_18650_apr",
    **_RATING,
    capacity_ah=LFP_26650.capacity_ah * _K,
    r0_ohm=LFP_26650.r0_ohm / _K,
    rct_ohm=LFP_26650.rct_ohm / _K,
    r2_ohm=LFP_26650.r2_ohm / _K,
    r3_ohm=LFP_26650.r3_ohm / _K,
    r3_limiting_current_a=LFP_26650.r3_limiting_current_a * _K,
    diffusion_r_ohm=LFP_26650.diffusion_r_ohm / _K,
    heat_capacity_core_j_per_k=LFP_26650.heat_capacity_core_j_per_k * _M,
    heat_capacity_surface_j_per_k=LFP_26650.heat_capacity_surface_j_per_k * _M,
    conductance_core_surface_w_per_k=(LFP_26650.conductance_core_surface_w_per_k * _H_M
                                      / _size_m(LFP_26650.datasheet, "height_mm")),
    surface_area_m2=math.pi * _D_M * _H_M + 2.0 * math.pi * (_D_M / 2.0) ** 2,
    exotherm_energy_j=LFP_26650.exotherm_energy_j * _K,
    exotherm_rate_per_s=arc_onset_rate_per_s(
        LFP_26650.exotherm_energy_j * _K, LFP_26650.heat_capacity_j_per_k * _M),
)
