"""The simulated cell: equivalent circuit + two-node thermal model + abuse (short, runaway).

Sign convention: current is POSITIVE WHEN CHARGING (Battery Data Format). Units: A, V, °C, s, Ω.

Electrical model (all elements in series)::

    V = OCV(soc_surface) + v_ct + v_2 + v_3 + v_4 + R0·I_cell         I_cell = I_external - V / R_short

* ``R0``: ohmic resistance (electrolyte, contacts), weakly Arrhenius.
* ``v_ct``: charge-transfer overpotential, an RC whose steady state follows Butler-Volmer,
  ``v_ss = b·asinh(I·Rct/b)`` with ``b = n·R·T/F``: linear (``Rct``) for small currents, Tafel-like
  for large ones. Strongly Arrhenius (this is what makes a cold cell lose capacity).
* ``v_2``: a linear RC (SEI / mid-frequency processes).
* ``v_3``: slow concentration polarisation (electrolyte), an RC whose steady state
  ``R3·I/(1 - |z|)`` grows as the electrolyte at the depleting electrode empties. ``z`` (state,
  dimensionless: the lumped salt-concentration drop ``1 - c/c0`` there, + on charge) relaxes as
  ``dz/dt = (I/I_lim - z)/tau_e``: Faraday's drive against the limiting current ``I_lim`` of
  electrolyte transport, with the electrolyte's diffusion time ``tau_e``; both follow the
  electrolyte diffusivity's Arrhenius law (``I_lim`` ∝ D_e, ``tau_e`` ∝ 1/D_e). Below ``I_lim``
  it settles at ``I/I_lim`` (a cold cell that warms raises ``I_lim`` and recovers); above it, it
  reaches 1 in a finite (Sand) time and the polarisation diverges: the discharge ends on its
  cut-off, without a cap (a numerical guard ``|z| <= ZE_MAX`` keeps it finite afterwards,
  never active while a calibration case runs: ``clamp_report``).
* solid diffusion: the surface SOC lags the bulk (coulomb-counted) SOC through a first-order
  element (``delta = soc_surface - soc``); the OCV is read at the surface SOC, so the steep end of
  the OCV curve is reached early when diffusion is slow (cold, high rate). A heat-free RC ``v_4``
  with the same time constant carries the rest of the diffusion polarisation. The reaction crowds
  into the electrode part that still has electrolyte: the lag's steady state is multiplied by
  the same ``1/(1 - |z|)``; its gain has its own Arrhenius factor (the early, √(t/D) part of
  spherical diffusion, which a first-order lag's slope does not carry).
* ``R_short``: optional internal short in parallel (and the separator-melt short during runaway).
* charging: the diffusion gain, the heat-free diffusion RC, R2 (plus a near-full rise) and the
  load on the limiting current take the preset's charge-direction factors (calibrated on the
  DFN CC-CV charges, ``docs/calibration.md``).
* ageing (``ageing.py``, laws in ``degradation.py``): SEI growth every step, the anode potential
  vs Li and lithium plating while charging, stripping and dead lithium afterwards; the lost
  lithium shrinks the capacity and grows R0 / Rct / R2 (applied in quanta).

All RC-like states are advanced with exact exponentials for a current held over the step, the
thermal network with backward Euler, so any step from 1 ms to 60 s is stable. Capacity at a
temperature is never a parameter: it is whatever charge flows before the terminal voltage reaches
the cut-off.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from math import asinh, exp
from typing import TYPE_CHECKING

from sim_instruments.cell.ageing import CellAgeing
from sim_instruments.cell.constants import CellConstants
from sim_instruments.cell.electrolyte_state import ElectrolyteState
from sim_instruments.cell.noise import MeasurementNoise
from sim_instruments.cell.presets import CellPreset
from sim_instruments.cell.short_current import OVERDISCHARGE_SPAN, ShortCurrent
from sim_instruments.cell.state_view import CellStateView
from sim_instruments.cell.thermal import (
    KELVIN,
    Exotherm,
)
from sim_instruments.cell.voltage_hold import (
    ZE_MAX,
    CellVoltageHold,
    current_for_voltage_over_step,
    end_voltage_v,
)

if TYPE_CHECKING:
    import numpy as np

FARADAY = 96485.33212
_T_REF_K = 298.15
_INV_T_REF = 1.0 / _T_REF_K
#: SOC below which the over-discharged cell's OCV ramps linearly to 0 V (at SOC = -this).
_OVERDISCHARGE_SPAN = OVERDISCHARGE_SPAN  # (short_current.py's)
_SOC_MIN = -_OVERDISCHARGE_SPAN
#: Highest SOC the coulomb counter accepts (overcharge), fraction.
_SOC_MAX = 1.1
#: Largest SOC change per internal sub-step while a short drains the cell.
_MAX_DSOC_PER_SUBSTEP = 0.002
#: Largest exotherm reactant conversion (k·dt) per internal sub-step.
_MAX_KDT_PER_SUBSTEP = 0.05
_MAX_SUBSTEPS = 20000
#: The derived parameters are recomputed when the core temperature moved by this much (K) or the
#: SOC by this much (fraction) since they were last computed (see ``CellModel._refresh``).
PARAM_STEP_K = 0.02
PARAM_STEP_SOC = 5e-4
#: ``_decay_k`` while no decay factors are cached (a step length of -1 s matches no step).
_NO_DECAY = (-1.0,)


class CellModel(CellConstants, ElectrolyteState, ShortCurrent, CellAgeing, CellStateView, CellVoltageHold,
                MeasurementNoise):
    """One simulated cell. Current is POSITIVE WHEN CHARGING (Battery Data Format convention),
    amps; volts; °C; seconds. The read-only state and resistance / impedance queries are in
    :class:`~sim_instruments.cell.state_view.CellStateView`."""

    # Slots for what the per-sample physics reads and writes (faster than instance-dict lookups
    # with this many attributes); anything else still goes to the instance __dict__. Invariant:
    # every write of _tc / _soc / _delta / _v1.._v4 is followed by the parameter refresh (the
    # one in _advance or _refresh()), so the derived slots (_r0 ... _e, _tk = _tc + KELVIN,
    # _inv_tk = 1 / _tk) always describe the present state. The derived parameters are a pure
    # function of (_tc, clamped _soc): _param_tc / _param_soc are the pair they were last computed
    # for (_fsoc the SOC factor of _param_soc), and _decay_k the step-length-dependent decay
    # factors of those parameters (see _refresh and _decay_constants).
    __slots__ = (
        "_soc", "_delta", "_v1", "_v2", "_v3", "_v4", "_tc", "_ts", "_reactant", "_runaway",
        "_melted", "_rs", "_r0", "_rct", "_tau1", "_b", "_r2", "_tau2", "_r3", "_tau3", "_ilim",
        "_ze", "_front", "_param_front", "_taue", "_a_g", "_lim_c", "_elyte_k", "_taud", "_r4", "_u_s", "_e", "_tk", "_inv_tk", "last_heat_w", "last_exotherm_w",
        "_advance_k", "_refresh_k", "_exo_k", "_thermal_k", "_decay_k", "_param_tc", "_param_soc", "_fsoc",
        "_ocv_x", "_ocv_y", "_ocv_slope", "_ocv_last",
        # ageing (sim_instruments.cell.ageing / degradation): lost lithium (SEI + dead), plated
        # and dead lithium, throughput (A·s); the next fade quantum; rates of the present
        # parameters; the plating voltage term; U_n when plating last; the ageing constants
        "_lost_as", "_plated_as", "_dead_as", "_thr_as", "_apply_at", "_sei_cal", "_sei_cyc", "_lam_as",
        "_a_t", "_dudt", "_vpl", "_un_pl", "_ageing_k",
        # slope dV_end/dI of the last implicit CV solve (voltage_hold.py; 0: none yet), Ω
        "_cv_slope",
    )
    _fsoc: float  # first set in _refresh (declared for the type checker: it is read before that line)

    def __init__(
        self, preset: CellPreset, soc: float = 1.0, temperature_c: float = 25.0, seed: int | None = 0
    ) -> None:
        """A rested cell (no polarisation) of ``preset`` at ``soc`` (0..1) and ``temperature_c``."""
        self.preset = preset
        p = preset
        self._ocv_x = list(p.ocv_soc)
        self._ocv_y = list(p.ocv_v)
        self._ocv_slope = [
            (self._ocv_y[i + 1] - self._ocv_y[i]) / (self._ocv_x[i + 1] - self._ocv_x[i])
            for i in range(len(self._ocv_x) - 1)
        ]
        self._ocv_last = len(self._ocv_x) - 2
        self._h_a = p.convection_w_per_m2k * p.surface_area_m2
        self._exo = Exotherm(
            p.exotherm_energy_j, p.exotherm_activation_j_mol, p.exotherm_rate_per_s,
            p.exotherm_reference_c,
        )
        # ageing state (before the constants, which depend on it)
        self._init_ageing()
        self._build_constants()
        #: Thermal-step constants for the last step length (see :meth:`_thermal_constants`).
        self._thermal_k: tuple[float, ...] = (-1.0,)
        #: Decay factors of the present parameters for the last step length (see
        #: :meth:`_decay_constants`; a step length of -1 never matches: computed at the next step).
        self._decay_k: tuple[float, ...] = _NO_DECAY
        self._param_tc = self._param_soc = math.nan  # (nan matches nothing: computed below)
        self._rng = random.Random(seed)
        self._v_noise = p.voltage_noise_v
        self._t_noise = p.temperature_noise_k
        self._t_offset = 0.0
        # state
        self._soc = float(soc)
        self._delta = 0.0
        self._v1 = 0.0
        self._v2 = 0.0
        self._v3 = 0.0
        self._v4 = 0.0
        self._ze = 0.0
        self._front = 0.0  # a rested cell: lithiated evenly through the electrode
        self._tc = float(temperature_c)
        self._ts = float(temperature_c)
        self._reactant = 1.0
        self._runaway = False
        self._melted = False
        self._short_ohm: float | None = None
        self._rs: float | None = None  # effective parallel short (user short || melt short)
        self.last_heat_w = 0.0
        self.last_exotherm_w = 0.0
        self._cv_slope = 0.0
        self._refresh()

    # ------------------------------------------------------------------ parameters
    def _soc_factor_raw(self, soc: float) -> float:
        p = self.preset
        return (1.0 + p.r_soc_low * math.exp(-soc / p.r_soc_low_width)
                + p.r_soc_high * math.exp(-(1.0 - soc) / p.r_soc_high_width))

    def _ocv(self, soc: float) -> float:
        """OCV at this SOC, V (linear table; over-discharge ramps to 0 V; overcharge extrapolates)."""
        xs = self._ocv_x
        if soc <= 0.0:
            y0 = self._ocv_y[0]
            return max(0.0, y0 * (1.0 + soc / _OVERDISCHARGE_SPAN))
        i = bisect_right(xs, soc) - 1
        if i > self._ocv_last:
            i = self._ocv_last
        return self._ocv_y[i] + self._ocv_slope[i] * (soc - xs[i])

    def _refresh(self) -> None:
        """Recompute the temperature/SOC-dependent parameters and the open-circuit branch.

        Runs after every physics step: constants come from one tuple unpack, the OCV lookup is
        inlined for the usual SOC > 0 (the arithmetic is unchanged, term by term). The parameters
        depend on the core temperature and the clamped SOC only, so they are recomputed only
        when one of the two moved by more than :data:`PARAM_STEP_K` / :data:`PARAM_STEP_SOC`
        since the last recomputation (at rest in a held chamber neither does: then only the
        open-circuit branch is updated; while current flows, every few samples). The parameters
        thus follow temperature in steps of 0.02 K (0.13 % of the charge-transfer resistance) and
        SOC in steps of 0.05 %: the budget of the per-sample path (issue 30 item 9).
        """
        tc = self._tc
        soc = self._soc
        s = 0.0 if soc < 0.0 else (1.0 if soc > 1.0 else soc)
        d_t = tc - self._param_tc  # (nan after a reset: every comparison False, recomputed)
        d_s = s - self._param_soc
        if not (-PARAM_STEP_K < d_t < PARAM_STEP_K and -PARAM_STEP_SOC < d_s < PARAM_STEP_SOC):
            (r0_ohm, ea0, rct_ohm, rct_tau, eact, c_b, r2_ohm, r2_tau, ea2, r3_ohm, r3_tau, ea3,
             r3_lim, neg_ealim, d_tau, d_r, ead, low, low_w, high, high_w, fsoc_norm, entropic,
             grid, neg_easei, sei_x_max, sei_cal0, sei_cal1, sei_cyc, neg_eacyc) = self._refresh_k
            tk = tc + KELVIN
            inv_tk = 1.0 / tk
            self._tk = tk
            self._inv_tk = inv_tk
            inv = inv_tk - _INV_T_REF
            if s == self._param_soc:  # only the temperature changed (a rest): same SOC factor
                fsoc = self._fsoc
            else:
                # (s - 1) is exactly -(1 - s): IEEE rounding is symmetric
                fsoc = (1.0 + low * exp(-s / low_w) + high * exp((s - 1.0) / high_w)) * fsoc_norm
                self._fsoc = fsoc
            a_t = exp(eact * inv)
            self._a_t = a_t
            a_ct = a_t * fsoc
            a_2 = exp(ea2 * inv) * fsoc
            a_d = exp(ead * inv)
            self._r0 = r0_ohm * exp(ea0 * inv) * (1.0 + 0.25 * (fsoc - 1.0))
            self._rct = rct_ohm * a_ct
            self._tau1 = rct_tau * a_ct
            self._b = c_b * tk / FARADAY
            self._r2 = r2_ohm * a_2
            self._tau2 = r2_tau * a_2
            a_3 = exp(ea3 * inv) * fsoc
            self._r3 = r3_ohm * a_3
            self._tau3 = r3_tau * a_3
            a_lim = exp(neg_ealim * inv)  # electrolyte diffusivity / its value at 25 °C
            e_tau, eag, k_dod, lim_c, w_soc = self._elyte_k
            # a discharge's reaction front moves away from the separator as the discharge goes on
            # (I_lim / (1 + k·front), front: the charge of the present discharge over the capacity,
            # relaxing at rest and while charging; from full, front = 1 - SOC); a charge current
            # loads the electrolyte x lim_c of the limit without that factor (_lim_c: the load
            # factor that gives it)
            front = self._front
            self._param_front = front
            f_dod = 1.0 + k_dod * (w_soc * (1.0 - s) + (1.0 - w_soc) * front)
            self._ilim = r3_lim * a_lim / f_dod
            self._lim_c = lim_c / f_dod
            self._taue = e_tau / a_lim
            self._a_g = exp(eag * inv)
            self._taud = d_tau * a_d
            self._r4 = d_r * a_d * fsoc
            # ageing rates at this temperature and SOC (degradation.py), entropic dU/dT
            x_sei = neg_easei * inv
            a_sei = exp(x_sei if x_sei < sei_x_max else sei_x_max)  # (growth law valid <= 60 °C)
            self._sei_cal = a_sei * (sei_cal0 + sei_cal1 * s)
            self._sei_cyc = exp(neg_eacyc * inv) * sei_cyc  # (SEI on cracks: its own Arrhenius)
            self._dudt = entropic[int(s * grid)]
            self._decay_k = _NO_DECAY
            self._param_tc = tc
            self._param_soc = s
        x = soc + self._delta
        if x > 0.0:  # inline of _ocv()
            xs = self._ocv_x
            i = bisect_right(xs, x) - 1
            if i > self._ocv_last:
                i = self._ocv_last
            u_s = self._ocv_y[i] + self._ocv_slope[i] * (x - xs[i])
        else:
            u_s = self._ocv(x)
        self._u_s = u_s
        self._e = u_s + self._v1 + self._v2 + self._v3 + self._v4 + self._vpl

    def impedance_ohm(self, frequencies_hz: np.ndarray) -> np.ndarray:
        """Complex small-signal impedance at these frequencies (Hz), Ω, from the present state."""
        from sim_instruments.cell.impedance_spectrum import cell_impedance_ohm

        return cell_impedance_ohm(self, frequencies_hz)

    # ------------------------------------------------------------------ terminal relations
    def terminal_voltage_v(self, current_a: float) -> float:
        """Terminal voltage if ``current_a`` (external, + = charge) flows now; state unchanged, V."""
        rs = self._rs
        if rs is None:
            return self._e + self._r0 * current_a
        return (self._e + self._r0 * current_a) / (1.0 + self._r0 / rs)

    def measured_voltage_v(self, current_a: float) -> float:
        """Terminal voltage plus Gaussian measurement noise (seeded), V (what
        :meth:`MeasurementNoise.measured_voltage_v` computes, with :meth:`terminal_voltage_v`
        inlined: the cycler reads it every sample)."""
        try:
            z = next(self._z_it)
        except StopIteration:
            z = self._refill_normals()
        rs = self._rs
        if rs is None:
            return self._e + self._r0 * current_a + z * self._v_noise
        return (self._e + self._r0 * current_a) / (1.0 + self._r0 / rs) + z * self._v_noise

    def current_for_voltage_a(self, voltage_v: float, dt_s: float = 0.0) -> float:
        """External current (+ = charge) that holds ``voltage_v`` at the terminals, A: now
        (``dt_s`` = 0: through R0 alone, the instantaneous response), or, for a current to be
        held over a step of ``dt_s`` seconds, at the end of that step with every element
        advanced over it (:mod:`sim_instruments.cell.voltage_hold`: an implicit CV step, stable
        for any step length; an internal short keeps the instantaneous relation)."""
        rs = self._rs
        if rs is None:
            if dt_s > 0.0:
                return current_for_voltage_over_step(self, voltage_v, dt_s)
            return (voltage_v - self._e) / self._r0
        return (voltage_v * (1.0 + self._r0 / rs) - self._e) / self._r0

    def voltage_after_v(self, dt_s: float, current_a: float) -> float:
        """Terminal voltage at the end of a step of ``dt_s`` s with ``current_a`` (A, + = charge)
        held, state unchanged, V (the instantaneous relation with an internal short)."""
        if self._rs is None:
            return end_voltage_v(self, dt_s, current_a)
        return self.terminal_voltage_v(current_a)

    # ------------------------------------------------------------------ abuse
    def set_internal_short(self, resistance_ohm: float | None) -> None:
        """Put an internal short of ``resistance_ohm`` (Ω, > 0) across the cell; None removes it.

        The short's Joule heat V²/R goes into the core. A separator that melted stays shorted.
        """
        if resistance_ohm is not None and not resistance_ohm > 0.0:
            raise ValueError(f"internal short must be > 0 ohm, got {resistance_ohm!r}")
        self._short_ohm = None if resistance_ohm is None else float(resistance_ohm)
        self._update_short()

    def _update_short(self) -> None:
        g = 0.0
        if self._short_ohm is not None:
            g += 1.0 / self._short_ohm
        if self._melted:
            g += 1.0 / self.preset.separator_melt_short_ohm
        self._rs = None if g == 0.0 else 1.0 / g

    # ------------------------------------------------------------------ dynamics
    def step(self, dt_s: float, current_a: float, ambient_c: float) -> None:
        """Advance the state by ``dt_s`` seconds with external ``current_a`` (A, + = charge) held
        and chamber air at ``ambient_c`` (°C)."""
        if not dt_s > 0.0:
            return
        if self._rs is None and not (self._tc > 60.0 and self._reactant > 0.0):
            self._advance(dt_s, current_a, ambient_c)  # the usual case: one exact step
            return
        n = self._substeps(dt_s, current_a)
        if n == 1:
            self._advance(dt_s, current_a, ambient_c)
        else:
            h = dt_s / n
            for _ in range(n):
                self._advance(h, current_a, ambient_c)

    def _substeps(self, dt_s: float, current_a: float) -> int:
        """Number of internal sub-steps for a step that drains through a short or reacts fast."""
        i_cell = abs(current_a)
        if self._rs is not None:
            i_cell += abs(self.terminal_voltage_v(current_a)) / self._rs
        n = i_cell * dt_s / (_MAX_DSOC_PER_SUBSTEP * self._cap_as)
        k = self._exo.rate_per_s(self._tc) * (1.0 if self._reactant > 1e-6 else 0.0)
        n = max(n, k * dt_s / _MAX_KDT_PER_SUBSTEP)
        return max(1, min(_MAX_SUBSTEPS, math.ceil(n)))

    def _advance(self, h: float, current_a: float, ambient_c: float) -> None:
        """One exact-exponential electrical update and one implicit thermal update of ``h`` s,
        then the parameter refresh of :meth:`_refresh` on the new state.

        Hot path (once per simulated sample): constants come from one tuple unpack, the decay
        factors from :meth:`_decay_constants` (cached while the parameters stand), state is read
        into locals once and written back once, and the exotherm and the two-node thermal step are
        inlined with the same expressions as
        :meth:`~sim_instruments.cell.thermal.Exotherm.step` and
        :func:`~sim_instruments.cell.thermal.two_node_step`, term by term,
        so results are bit-identical to calling them (tests/sim_instruments/test_cell_fast_path.py
        and test_sim_fast_paths.py check this; keep them in step).
        """
        (cap_as, gain, gain_charge, r4_charge, r_charge_high, r_charge_width, inv_i_ref,
         lim_charge, r2_charge, exo_active, exo_energy_j, runaway_w, keep_after_runaway, melt_c,
         k_lam, rest_exact) = self._advance_k
        dk = self._decay_k  # exp(-h / tau) of the present parameters, recomputed when they change
        if dk[0] != h:
            dk = self._decay_constants(h)
        _, e1, e2, e3, ed, exo_decay, ez = dk
        rs = self._rs
        r0 = self._r0
        if rs is None:
            i_cell = current_a
            short_heat = 0.0
        else:
            v = self._short_voltage_v(current_a, e1, e2, e3, ed, ez)
            i_short = v / rs
            i_cell = current_a - i_short
            short_heat = v * i_short
        v1_old = self._v1
        v2_old = self._v2
        v3_old = self._v3
        if i_cell == 0.0 and rs is None and rest_exact:
            # Rest fast path (no current and no short: output off, the usual soak): every steady
            # state of the general path (g1..g4, dss, the depletion's zs) is this very zero, sign
            # included, whatever the crowding, so each update g + (x - g)·e gives the same float;
            # the heat is +0.0 (zero current times finite terms, plus +0.0).
            v1 = i_cell + (v1_old - i_cell) * e1
            v2 = i_cell + (v2_old - i_cell) * e2
            v3 = i_cell + (v3_old - i_cell) * e3
            ze = i_cell + (self._ze - i_cell) * ez
            delta = i_cell + (self._delta - i_cell) * ed
            v4 = i_cell + (self._v4 - i_cell) * ed
            heat = 0.0
        else:
            # electrolyte depletion (state ze, relaxing to I/I_lim with tau_e): the reaction
            # crowds into the part of the electrode that still has salt (a fraction 1 - |z|), so
            # its local current density, charge-transfer overpotential, slow (electrolyte)
            # overpotential and particle-surface depletion all grow as 1/(1 - |z|)
            ilim = self._ilim
            if ilim > 0.0:
                # (a charge current loads the electrolyte x the preset's charge factor, _lim_c).
                # The bulk transport carries the TERMINAL current: an internal short's current
                # flows through the short's footprint, a local path (its hot spot) this lumped
                # state does not resolve; letting the bulk depletion throttle it would understate
                # a puncture (it did: no runaway of a nailed 21700; docs/calibration.md)
                zs = (current_a * self._lim_c if current_a >= 0.0 else current_a) / ilim
                ze = zs + (self._ze - zs) * ez
                az = ze if ze >= 0.0 else -ze
                crowd = 1.0 / (1.0 - (az if az < ZE_MAX else ZE_MAX))  # (guard: see ZE_MAX)
            else:
                ze = 0.0
                crowd = 1.0
            # charge transfer (Butler-Volmer steady state at the crowded current density), exact
            # exponential relaxation
            b = self._b
            g1 = b * asinh(i_cell * crowd * self._rct / b)
            v1 = g1 + (v1_old - g1) * e1
            g2 = self._r2 * i_cell
            if i_cell > 0.0:  # charging: the charge-direction R2 and its near-full rise (∝ I/1C)
                g2 *= r2_charge + r_charge_high * exp((self._soc - 1.0) / r_charge_width) * (
                    i_cell * inv_i_ref)
            v2 = g2 + (v2_old - g2) * e2
            g3 = self._r3 * i_cell * crowd
            v3 = g3 + (v3_old - g3) * e3
            taud = self._taud
            dss = gain * self._a_g * taud * i_cell * crowd / cap_as
            g4 = self._r4 * i_cell
            if i_cell > 0.0:  # charging: the diffusion polarisation of the charge direction
                dss *= gain_charge
                g4 *= r4_charge
            delta = dss + (self._delta - dss) * ed
            v4 = g4 + (self._v4 - g4) * ed
            # heat: ohmic + polarisation (Bernardi irreversible, at the surface OCV) + reversible
            # (entropic) + short. Like the DFN reference, the heat of mixing of the solid-diffusion
            # gradient (OCV(surface) - OCV(bulk)) is neglected: it is returned when the gradient
            # relaxes. (_tk = _tc + KELVIN was computed by the last refresh.)
            heat = i_cell * (i_cell * r0 + 0.5 * (v1_old + v1 + v2_old + v2 + v3_old + v3))
            heat += i_cell * self._tk * self._dudt + short_heat
        self._delta = delta
        self._v1 = v1
        self._v2 = v2
        self._v3 = v3
        self._v4 = v4
        self._ze = ze
        # the discharge's front: deepens with the charge it takes, evens out at rest and while
        # charging with the solid-diffusion time constant (ed = exp(-h / tau_d)); read by the
        # next parameter refresh (so a rest's relaxation reaches I_lim when SOC or T next moves)
        if current_a < 0.0:  # (the terminal current, as the depletion)
            front = self._front - current_a * h / cap_as
            self._front = front if front < 1.1 else 1.1
        else:
            self._front *= ed
        soc = self._soc + i_cell * h / cap_as
        soc = _SOC_MIN if soc < _SOC_MIN else (_SOC_MAX if soc > _SOC_MAX else soc)
        self._soc = soc
        # ageing (laws in degradation.py): SEI every step; plating while charging below 0 V vs
        # Li; stripping (a share goes dead) while plated lithium is left; fade applied in quanta
        # SEI: calendar (time) + on the surface that cycling cracks open (|I|); loss of active
        # material driven by the diffusion-induced stress (|I| x the surface-bulk SOC gradient)
        ai_h = (i_cell if i_cell >= 0.0 else -i_cell) * h
        self._thr_as += ai_h
        lam = k_lam * ai_h * (delta if delta > 0.0 else -delta)
        self._lam_as += lam
        lost = self._lost_as + self._sei_cal * h + self._sei_cyc * ai_h + lam
        if i_cell > 0.0:
            ak = self._ageing_k
            if ak[0]:  # an intercalation anode: the potential vs Li and plating
                _, un_v, un_s, grid, s_ct, s_2, s_3, s_d, s_0, g_pl, pl_ex, pl_b = ak[:12]
                f = (soc + delta) * grid
                j = int(f) if f > 0.0 else 0
                if j >= grid:
                    j = int(grid) - 1
                un = un_v[j] + un_s[j] * (f - j)
                phi = un - (s_ct * v1 + s_2 * v2 + s_3 * v3 + s_d * v4 + s_0 * r0 * i_cell)
                # exchange plating (cathodic Tafel in phi, at any potential): its irreversible
                # part becomes dead lithium at once
                # (numerical guards, never reached in use: exponent <= 30, at most the charge)
                x = pl_b * phi * self._inv_tk
                dead = pl_ex * exp(-x if x > -30.0 else 30.0) * h / self._a_t
                if dead > ai_h:
                    dead = ai_h
                self._dead_as += dead
                lost += dead
                if phi < 0.0:
                    i_pl = -phi * g_pl / self._a_t
                    self._plated_as += (i_pl if i_pl < i_cell else i_cell) * h
                    self._un_pl = un
                    self._vpl = 0.0
        elif self._plated_as > 0.0:
            lost += self._strip(h, i_cell)
        self._lost_as = lost
        if lost > self._apply_at:
            self._apply_ageing()
        # exotherm (Exotherm.step inlined): first-order decay of the reactant at the core temperature
        p_exo = 0.0
        reactant = self._reactant
        if reactant > 0.0 and exo_active:
            new = reactant * exo_decay
            self._reactant = new
            p_exo = exo_energy_j * (reactant - new) / h
            if p_exo >= runaway_w and not self._runaway:
                self._runaway = True
        retained = heat + p_exo
        if self._runaway:
            retained *= keep_after_runaway
        self.last_heat_w = retained
        self.last_exotherm_w = p_exo
        # two-node thermal network, backward Euler (two_node_step inlined, matrix cached per h)
        th = self._thermal_k
        if th[0] != h:
            th = self._thermal_constants(h)
        _, cc_h, cs_h, a11, a22, det, k_cs, h_a = th
        b1 = cc_h * self._tc + retained
        b2 = cs_h * self._ts + h_a * ambient_c
        tc = (b1 * a22 + k_cs * b2) / det
        self._ts = (a11 * b2 + k_cs * b1) / det
        self._tc = tc
        if melt_c is not None and tc >= melt_c and not self._melted:
            self._melted = True
            self._update_short()
        self._refresh()

    def __repr__(self) -> str:
        return (f"CellModel({self.preset.name!r}, soc={self._soc:.4f}, "
                f"core={self._tc:.2f} °C, surface={self._ts:.2f} °C)")
