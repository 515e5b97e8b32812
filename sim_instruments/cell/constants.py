"""Constant tables of :class:`~sim_instruments.cell.model.CellModel`'s hot path, built once per
preset and ageing quantum (``_build_constants``) or once per step length (``_thermal_constants``,
``_decay_constants``): kept apart from the dynamics so each file stays short.

Units: A, V, °C, s, Ω, J/mol; tuples are unpacked in one go by the per-sample code.
"""

from __future__ import annotations

import math
from math import exp
from typing import TYPE_CHECKING, Any

from sim_instruments.cell.anode_potential import GRID_SEGMENTS, uniform_table
from sim_instruments.cell.thermal import GAS_CONSTANT, KELVIN, RUNAWAY_SELF_HEATING_K_PER_S

if TYPE_CHECKING:
    from sim_instruments.cell.presets import CellPreset
    from sim_instruments.cell.thermal import Exotherm

_T_REF_K = 298.15
#: Highest temperature the SEI growth law is evaluated at, °C (above it the decomposition
#: exotherm of thermal.py describes what the SEI does).
SEI_T_MAX_C = 60.0


class CellConstants:
    """Mixin for :class:`~sim_instruments.cell.model.CellModel` (which owns the attributes)."""

    preset: CellPreset
    _exo: Exotherm
    _h_a: float
    _cap0_as: float
    _applied_as: float
    _applied_sei_as: float
    _applied_lam_as: float
    _inv_tk: float
    _tau1: float
    _tau2: float
    _tau3: float
    _taud: float
    _taue: float
    #: Cached per step length ``h`` (the first element); the model starts them as ``(-1.0,)``.
    _thermal_k: tuple[float, ...]
    _decay_k: tuple[float, ...]

    if TYPE_CHECKING:  # (defined by the ageing mixin; no stubs here: they would shadow it)
        def _resistance_factor(self) -> float: ...

        def _pore_factor(self) -> float: ...

        def _ageing_constants(self, cap_ah: float) -> tuple[Any, ...]: ...

    def _soc_factor_raw(self, soc: float) -> float:  # pragma: no cover - the model's
        raise NotImplementedError

    def _build_constants(self) -> None:
        """(Re)build the hot-path constant tuples from the preset and the ageing state (capacity
        ``Q0 - lost lithium``, resistances x the growth factor); forces a parameter refresh."""
        p = self.preset
        d = p.degradation
        growth = self._resistance_factor()
        self._cap_as = cap_as = self._cap0_as - self._applied_as
        # Hot-path constants, unpacked into locals in one go (a tuple unpack is much cheaper than
        # one attribute lookup per constant). Each is the exact sub-expression the physics used
        # before (Arrhenius Ea/R in K, etc.), so results are bit-identical.
        gas = GAS_CONSTANT
        exo = self._exo
        # The rest fast path of _advance is exact when every factor between the current and a
        # steady state (Rct, Rct·Tafel, R2, R3, diffusion gain, tau and R, the SOC factors,
        # the capacity) has a positive sign (as in every preset): then at zero current each
        # steady state is that zero, sign included.
        rest_exact = p.rct_tafel_factor != 0.0 and all(
            math.copysign(1.0, value) > 0.0
            for value in (p.rct_ohm, p.rct_tafel_factor, p.r2_ohm, p.r3_ohm, p.diffusion_gain,
                          p.diffusion_tau_s, p.diffusion_r_ohm, p.r_soc_low, p.r_soc_high,
                          p.capacity_ah)
        )
        #: Constants of _advance.
        self._advance_k = (
            cap_as, p.diffusion_gain, p.diffusion_charge_gain_factor, p.diffusion_charge_r_factor,
            p.r2_charge_high, p.r2_charge_high_width, 1.0 / p.nominal_capacity_ah,
            p.limiting_current_charge_factor, p.r2_charge_factor, exo.active, exo.energy_j,
            RUNAWAY_SELF_HEATING_K_PER_S * p.heat_capacity_j_per_k, 1.0 - p.ejecta_heat_fraction,
            p.separator_melt_c, d.lam_per_a_soc, rest_exact,
        )
        #: Constants of the exotherm's rate (as in :meth:`Exotherm.rate_per_s`), for _decay_constants.
        self._exo_k = (exo.active, exo._ea_over_r, exo._inv_t_ref, exo._k_ref)
        if p.entropic_table_v_per_k is None:
            entropic = (p.entropic_v_per_k,) * (GRID_SEGMENTS + 1)
        else:
            entropic = uniform_table(p.ocv_soc, p.entropic_table_v_per_k)[0]
        cap_ah = self._cap0_as / 3600.0
        sei_norm = 1.0 / (1.0 + self._applied_sei_as / (d.sei_ref_as_per_ah * cap_ah))
        #: Constants of _refresh.
        self._refresh_k = (
            p.r0_ohm * (growth + self._pore_factor()), p.r0_activation_j_mol / gas, p.rct_ohm * growth, p.rct_tau_s,
            p.rct_activation_j_mol / gas, p.rct_tafel_factor * gas, p.r2_ohm * growth, p.r2_tau_s,
            p.r2_activation_j_mol / gas, p.r3_ohm, p.r3_tau_s, p.r3_activation_j_mol / gas,
            p.r3_limiting_current_a, -(p.r3_limiting_activation_j_mol / gas), p.diffusion_tau_s,
            p.diffusion_r_ohm, p.diffusion_activation_j_mol / gas, p.r_soc_low, p.r_soc_low_width,
            p.r_soc_high, p.r_soc_high_width, 1.0 / self._soc_factor_raw(0.5),
            entropic, float(GRID_SEGMENTS), -(d.sei_activation_j_mol / gas),
            d.sei_activation_j_mol / gas * (1.0 / _T_REF_K - 1.0 / (KELVIN + SEI_T_MAX_C)),
            d.sei_calendar_c * cap_ah * sei_norm * d.sei_calendar_soc0,
            d.sei_calendar_c * cap_ah * sei_norm * (1.0 - d.sei_calendar_soc0),
            d.sei_cycling_per_a * (sei_norm + d.crack_area_per_lam_fraction * self._applied_lam_as / self._cap0_as),
            -(d.sei_cycling_activation_j_mol / gas),
        )
        #: Constants of the electrolyte depletion and the solid-diffusion gain (for _refresh):
        #: depletion time constant at 25 °C (s), gain activation Ea/R (K; the gain rises in the
        #: cold as the diffusivity falls), the limiting current's depth-of-discharge factor, the charge load factor, the depth's SOC share.
        self._elyte_k = (p.electrolyte_tau_s, p.diffusion_gain_activation_j_mol / gas,
                         p.limiting_current_depth_factor, p.limiting_current_charge_factor,
                         p.limiting_current_soc_share)
        self._ageing_k = self._ageing_constants(cap_ah)
        self._param_tc = self._param_soc = math.nan  # (nan matches nothing: refreshed next)

    def _thermal_constants(self, h: float) -> tuple[float, ...]:
        """Backward-Euler matrix of the two-node network for a step of ``h`` s (see
        :func:`~sim_instruments.cell.thermal.two_node_step`, same expressions), cached per ``h``:
        ``(h, C_core/h, C_surface/h, a11, a22, det, k_cs, h·A)``."""
        p = self.preset
        c_core = p.heat_capacity_core_j_per_k
        c_surface = p.heat_capacity_surface_j_per_k
        k_cs = p.conductance_core_surface_w_per_k
        h_a = self._h_a
        a11 = c_core / h + k_cs
        a22 = c_surface / h + k_cs + h_a
        det = a11 * a22 - k_cs * k_cs
        self._thermal_k = (h, c_core / h, c_surface / h, a11, a22, det, k_cs, h_a)
        return self._thermal_k

    def _decay_constants(self, h: float) -> tuple[float, ...]:
        """Decay factors over a step of ``h`` s under the present parameters, cached until the
        parameters change: ``(h, RC1, RC2, RC3, diffusion, exotherm reactant, electrolyte
        depletion)``, each
        ``exp(-h / tau)`` (the reactant's ``exp(-k·h)`` with the Arrhenius rate ``k`` at the core
        temperature, as :meth:`~sim_instruments.cell.thermal.Exotherm.step`; 1.0 for a cell
        without an exotherm, where it is not used)."""
        neg_h = -h
        active, ea_over_r, inv_t_ref, k_ref = self._exo_k
        decay = 1.0
        if active:
            x = ea_over_r * (inv_t_ref - self._inv_tk)
            k = k_ref * exp(200.0 if x > 200.0 else x)  # min(x, 200)
            decay = exp(-k * h)
        self._decay_k = (h, exp(neg_h / self._tau1), exp(neg_h / self._tau2), exp(neg_h / self._tau3),
                         exp(neg_h / self._taud), decay, exp(neg_h / self._taue))
        return self._decay_k
