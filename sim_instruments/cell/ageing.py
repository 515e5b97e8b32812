"""The ageing side of :class:`~sim_instruments.cell.model.CellModel`: its degradation state
(SEI, plated and dead lithium, throughput), the slow-path updates (stripping, fade quanta), the
ground-truth anode potential, and the cell's persistence (``state_dict`` for ``bench resume``,
:class:`~sim_instruments.cell.degradation.AgeingState` to carry a cell across runs).

The laws are documented in :mod:`sim_instruments.cell.degradation`; the per-sample part
(SEI accumulation, the anode potential and plating while charging) is inlined in
``CellModel._advance``. Units: A·s internally, Ah in the public state; V; °C; s.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from sim_instruments.cell.anode_potential import (
    GRID_SEGMENTS,
    lookup,
    overpotential_share_v,
    uniform_table,
)
from sim_instruments.cell.degradation import AgeingState
from sim_instruments.cell.thermal import GAS_CONSTANT

#: Faraday constant, C/mol.
FARADAY = 96485.33212

if TYPE_CHECKING:
    from sim_instruments.cell.presets import CellPreset


class CellAgeing:
    """Mixin for :class:`~sim_instruments.cell.model.CellModel` (which owns the attributes)."""

    preset: CellPreset
    _cap_as: float
    _cap0_as: float
    _soc: float
    _delta: float
    _v1: float
    _v2: float
    _v3: float
    _v4: float
    _r0: float
    _tc: float
    _ts: float
    _reactant: float
    _runaway: bool
    _melted: bool
    _short_ohm: float | None
    _t_offset: float
    _lost_as: float
    _plated_as: float
    _dead_as: float
    _thr_as: float
    _apply_at: float
    _applied_as: float
    _applied_sei_as: float
    _applied_lam_as: float
    _pore_fill: float
    _a_t: float
    _vpl: float
    _un_pl: float
    _ageing_k: tuple[Any, ...]
    _param_tc: float

    def _refresh(self) -> None:  # pragma: no cover - the model's
        raise NotImplementedError

    if TYPE_CHECKING:  # (the constants mixin's; a stub here would shadow it)
        def _build_constants(self) -> None: ...

    def _update_short(self) -> None:  # pragma: no cover - the model's
        raise NotImplementedError

    # ------------------------------------------------------------------ state
    def _init_ageing(self) -> None:
        """A fresh cell: no lithium lost, none plated."""
        self._cap0_as = self.preset.capacity_ah * 3600.0
        self._lost_as = 0.0
        self._plated_as = 0.0
        self._dead_as = 0.0
        self._lam_as = 0.0
        self._thr_as = 0.0
        #: Lost lithium (all, and SEI) already applied to capacity and resistance, A·s.
        self._applied_as = 0.0
        self._applied_sei_as = 0.0
        #: Loss of active material as of the last quantum (the crack surface's SEI), A·s.
        self._applied_lam_as = 0.0
        #: Clogged fraction of the anode's pore volume, as of the last quantum applied.
        self._pore_fill = 0.0
        self._vpl = 0.0
        self._un_pl = 0.0
        self._a_t = 1.0
        self._apply_at = self.preset.degradation.apply_quantum * self._cap0_as

    def _resistance_factor(self) -> float:
        """Resistance growth factor of the present lost lithium (1 = fresh)."""
        d = self.preset.degradation
        return 1.0 + d.resistance_growth_per_lost_fraction * self._applied_as / self._cap0_as

    def _fill_of(self, sei_as: float, dead_as: float) -> float:
        """Fraction of the anode's pore volume that ``sei_as`` of SEI and ``dead_as`` of dead
        lithium (A·s) fill (at most ``pore_fill_max``)."""
        d = self.preset.degradation
        f = (d.pore_fill_per_sei_fraction * sei_as + d.pore_fill_per_dead_fraction * dead_as) / self._cap0_as
        return min(max(f, 0.0), d.pore_fill_max)

    def _pore_factor(self) -> float:
        """Extra R0, as a fraction of the fresh R0, of the anode's pores clogged by SEI and dead
        lithium (the knee, see :mod:`~sim_instruments.cell.degradation`): the share of R0 in the
        pores x Bruggeman's ``(1 - f)^-b`` less its first-order part ``1 + b·f`` (that part is
        in :attr:`DegradationParameters.resistance_growth_per_lost_fraction` already)."""
        d = self.preset.degradation
        if d.pore_resistance_share <= 0.0:
            return 0.0
        f = self._pore_fill
        b = d.pore_bruggeman
        return d.pore_resistance_share * ((1.0 - f) ** -b - 1.0 - b * f)

    def _ageing_constants(self, cap_ah: float) -> tuple[Any, ...]:
        """Per-step constants of the plating / stripping branches (see ``_advance``). The anode's
        share of the ohmic drop includes the clogged pores' resistance in full (it is the anode's)."""
        p = self.preset
        d = p.degradation
        growth = self._resistance_factor()
        pore = self._pore_factor()
        share_ohmic = (d.share_ohmic * growth + pore) / (growth + pore)
        has_anode = p.anode_ocp_v is not None and d.plating_conductance_a_per_v_ah > 0.0
        un_v, un_s = uniform_table(p.ocv_soc, p.anode_ocp_v if p.anode_ocp_v else (0.0,) * len(p.ocv_soc))
        return (
            has_anode, un_v, un_s, float(GRID_SEGMENTS), d.share_ct, d.share_rc2, d.share_rc3,
            d.share_diffusion, share_ohmic, d.plating_conductance_a_per_v_ah * cap_ah,
            d.exchange_plating_c * cap_ah,
            d.plating_transfer_coefficient * FARADAY / GAS_CONSTANT,
            d.strip_rate_c * cap_ah, d.strip_discharge_fraction, d.dead_lithium_rate_per_s,
            d.mixed_share, d.plated_half_as_per_ah * cap_ah,
        )

    def _strip(self, h: float, i_cell: float) -> float:
        """Strip plated lithium over ``h`` s at ``i_cell`` (A, <= 0) and isolate the part of the
        pool that goes dead over ``h`` (first order, ``dead_lithium_rate_per_s``); returns the
        charge (A·s) that went dead. Updates the plated pool and the plating voltage term."""
        k = self._ageing_k
        strip_rate, dis_fraction, gamma, mixed, half = k[12:17]
        plated = self._plated_as
        # isolation first (first order in the pool over the step), then zero-order stripping
        dead = gamma * h * plated
        if dead > plated:
            dead = plated
        plated -= dead
        strip = (strip_rate / self._a_t - dis_fraction * i_cell) * h
        if strip > plated:
            strip = plated
        plated -= strip
        self._plated_as = plated
        self._dead_as += dead
        self._vpl = mixed * self._un_pl * plated / (plated + half)
        return dead

    def _apply_ageing(self) -> None:
        """Apply the lithium lost since the last quantum: capacity ``Q0 - lost``, the SOC rescaled
        so the charge content loses the same amount, resistances grown; constants rebuilt."""
        cap_old = self._cap_as
        dq = self._lost_as - self._applied_as
        cap_new = self._cap0_as - self._lost_as
        if cap_new < 0.05 * self._cap0_as:  # a cell worn to 5 %: it fades no further (the
            # lithium it would lose is not there: drop the excess from the dead pool first)
            excess = self._lost_as - self._applied_as
            self._dead_as -= min(self._dead_as, excess)
            self._lost_as = self._applied_as
            self._apply_at = self._applied_as + self.preset.degradation.apply_quantum * self._cap0_as
            return
        self._soc = (self._soc * cap_old - dq) / cap_new
        self._applied_as = self._lost_as
        self._applied_sei_as = self._lost_as - self._dead_as - self._lam_as
        self._pore_fill = self._fill_of(self._applied_sei_as, self._dead_as)
        self._applied_lam_as = self._lam_as
        self._build_constants()
        self._apply_at = self._lost_as + self.preset.degradation.apply_quantum * self._cap0_as
        self._refresh()

    # ------------------------------------------------------------------ public, read-only
    @property
    def sei_lithium_ah(self) -> float:
        """Lithium lost to SEI growth so far, Ah."""
        return (self._lost_as - self._dead_as - self._lam_as) / 3600.0

    @property
    def lam_ah(self) -> float:
        """Capacity lost with active material (particle cracking / isolation), Ah."""
        return self._lam_as / 3600.0

    @property
    def plated_lithium_ah(self) -> float:
        """Reversibly plated lithium on the anode now, Ah."""
        return self._plated_as / 3600.0

    @property
    def dead_lithium_ah(self) -> float:
        """Plated lithium that has become isolated (lost for good), Ah."""
        return self._dead_as / 3600.0

    @property
    def throughput_ah(self) -> float:
        """Total charge moved through the cell (charge + discharge), Ah."""
        return self._thr_as / 3600.0

    @property
    def equivalent_cycles(self) -> float:
        """Throughput / (2 x nominal capacity): equivalent full cycles."""
        return self._thr_as / 7200.0 / self.preset.nominal_capacity_ah

    @property
    def charge_content_ah(self) -> float:
        """Charge in the cell above SOC 0 (the coulomb count less the lithium lost since the last
        fade quantum was applied), Ah."""
        return (self._soc * self._cap_as - (self._lost_as - self._applied_as)) / 3600.0

    @property
    def aged_capacity_ah(self) -> float:
        """Present capacity between the OCV limits (``Q0`` less the lost lithium), Ah."""
        return (self._cap0_as - self._lost_as) / 3600.0

    @property
    def resistance_factor(self) -> float:
        """Growth of R0, Rct and R2 over the fresh cell's (1 = fresh; R0 grows by
        :attr:`pore_resistance_factor` more)."""
        return self._resistance_factor()

    @property
    def pore_resistance_factor(self) -> float:
        """R0's extra growth from the anode's clogged pores, a fraction of the fresh R0 (0 = fresh;
        second order in the lost lithium: the knee)."""
        return self._pore_factor()

    def anode_potential_v(self, current_a: float = 0.0) -> float:
        """Estimated anode (negative electrode) potential vs Li at the separator side, V, if
        ``current_a`` (A, + = charge) flows now (see :mod:`sim_instruments.cell.anode_potential`).
        Ground truth for tests; no instrument reports it. ``nan`` for a lithium-metal anode."""
        k = self._ageing_k
        if not k[0]:
            return math.nan
        un = lookup(k[1], k[2], self._soc + self._delta)
        plated = self._plated_as
        if plated > 0.0 and current_a <= 0.0:
            un *= 1.0 - k[15] * plated / (plated + k[16])
        return un - overpotential_share_v(k[4:9], self._v1, self._v2, self._v3, self._v4,
                                          self._r0 * current_a)

    # ------------------------------------------------------------------ carried across runs
    def ageing_state(self) -> AgeingState:
        """The state a cell carries to the next run (see :mod:`sim_instruments.cell.state_file`)."""
        return AgeingState(
            preset=self.preset.name, soc=self._soc, temperature_core_c=self._tc,
            temperature_surface_c=self._ts, sei_ah=self.sei_lithium_ah, lam_ah=self.lam_ah,
            plated_lithium_ah=self.plated_lithium_ah, dead_lithium_ah=self.dead_lithium_ah,
            throughput_ah=self.throughput_ah, cycle_count=self.equivalent_cycles,
            capacity_ah=self.aged_capacity_ah, resistance_factor=self.resistance_factor,
        )

    def load_ageing_state(self, state: AgeingState) -> None:
        """Continue from ``state`` (a rested cell: polarisation zero). ``ValueError`` if it is of
        another preset."""
        if state.preset != self.preset.name:
            raise ValueError(f"cell state is of preset {state.preset!r}, the cell is {self.preset.name!r}")
        self._set_ageing(state.sei_ah * 3600.0, state.plated_lithium_ah * 3600.0,
                         state.dead_lithium_ah * 3600.0, state.throughput_ah * 3600.0,
                         lam_as=state.lam_ah * 3600.0)
        self._soc = state.soc
        self._delta = self._v1 = self._v2 = self._v3 = self._v4 = 0.0
        self._tc = state.temperature_core_c
        self._ts = state.temperature_surface_c
        self._refresh()

    def _set_ageing(self, sei_as: float, plated_as: float, dead_as: float, thr_as: float,
                    applied_as: float | None = None, applied_sei_as: float | None = None,
                    lam_as: float = 0.0, pore_fill: float | None = None,
                    applied_lam_as: float | None = None) -> None:
        """Set the ageing pools (A·s); by default all of the lost capacity is applied (and the
        pores hold the SEI and dead lithium given, the cracks the LAM given)."""
        self._lam_as = lam_as
        self._lost_as = sei_as + dead_as + lam_as
        self._applied_as = self._lost_as if applied_as is None else applied_as
        self._applied_sei_as = sei_as if applied_sei_as is None else applied_sei_as
        self._plated_as = plated_as
        self._dead_as = dead_as
        self._thr_as = thr_as
        self._pore_fill = self._fill_of(self._applied_sei_as, dead_as) if pore_fill is None else pore_fill
        self._applied_lam_as = lam_as if applied_lam_as is None else applied_lam_as
        self._un_pl = lookup(*uniform_table(self.preset.ocv_soc, self.preset.anode_ocp_v), 1.0) \
            if self.preset.anode_ocp_v else 0.0
        self._vpl = 0.0
        self._build_constants()
        self._apply_at = self._applied_as + self.preset.degradation.apply_quantum * self._cap0_as

    def set_ageing_pools_ah(self, sei_ah: float, dead_lithium_ah: float, lam_ah: float,
                            throughput_ah: float) -> None:
        """Set the lost-lithium pools (Ah) of a cell, all applied (capacity, resistances, pore
        clogging rebuilt), keeping its SOC, polarisation, temperatures and plated lithium: the
        cycle jump of :mod:`sim_instruments.cell.published_lifetime`."""
        self._set_ageing(sei_ah * 3600.0, self._plated_as, dead_lithium_ah * 3600.0, throughput_ah * 3600.0,
                         lam_as=lam_ah * 3600.0)
        self._refresh()

    # ------------------------------------------------------------------ crash-resume
    def state_dict(self) -> dict[str, float]:
        """Full dynamic state as plain floats (booleans as 0/1, no short as 0), for crash-resume
        (the journal of ``bench resume``): electrical, thermal, abuse and ageing state."""
        return {
            "soc": self._soc,
            "surface_soc_offset": self._delta,
            "v_charge_transfer_v": self._v1,
            "v_rc2_v": self._v2,
            "v_rc3_v": self._v3,
            "v_diffusion_v": self._v4,
            "temperature_core_c": self._tc,
            "temperature_surface_c": self._ts,
            "exotherm_reactant": self._reactant,
            "runaway": 1.0 if self._runaway else 0.0,
            "separator_melted": 1.0 if self._melted else 0.0,
            "internal_short_ohm": 0.0 if self._short_ohm is None else self._short_ohm,
            "thermocouple_offset_k": self._t_offset,
            "sei_lithium_as": self._lost_as - self._dead_as - self._lam_as,
            "lam_as": self._lam_as,
            "plated_lithium_as": self._plated_as,
            "dead_lithium_as": self._dead_as,
            "throughput_as": self._thr_as,
            "applied_lost_lithium_as": self._applied_as,
            "applied_sei_lithium_as": self._applied_sei_as,
            "plating_voltage_v": self._vpl,
            "plating_anode_ocp_v": self._un_pl,
            "pore_fill": self._pore_fill,
            "applied_lam_as": self._applied_lam_as,
        }

    def load_state(self, state: dict[str, float]) -> None:
        """Restore a state produced by :meth:`state_dict` (ageing keys optional: a fresh cell)."""
        self._set_ageing(float(state.get("sei_lithium_as", 0.0)), float(state.get("plated_lithium_as", 0.0)),
                         float(state.get("dead_lithium_as", 0.0)), float(state.get("throughput_as", 0.0)),
                         float(state.get("applied_lost_lithium_as", 0.0)),
                         float(state.get("applied_sei_lithium_as", 0.0)), float(state.get("lam_as", 0.0)),
                         state.get("pore_fill"), state.get("applied_lam_as"))
        self._vpl = float(state.get("plating_voltage_v", 0.0))
        self._un_pl = float(state.get("plating_anode_ocp_v", self._un_pl))
        self._soc = float(state["soc"])
        self._delta = float(state["surface_soc_offset"])
        self._v1 = float(state["v_charge_transfer_v"])
        self._v2 = float(state["v_rc2_v"])
        self._v3 = float(state.get("v_rc3_v", 0.0))
        self._v4 = float(state.get("v_diffusion_v", 0.0))
        self._tc = float(state["temperature_core_c"])
        self._ts = float(state["temperature_surface_c"])
        self._reactant = float(state.get("exotherm_reactant", 1.0))
        self._runaway = bool(state.get("runaway", 0.0))
        self._melted = bool(state.get("separator_melted", 0.0))
        short = float(state.get("internal_short_ohm", 0.0))
        self._short_ohm = short if short > 0.0 else None
        self._t_offset = float(state.get("thermocouple_offset_k", 0.0))
        self._update_short()
        self._refresh()
