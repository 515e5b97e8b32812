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
  ``R3·I/(1 - |I|/I_lim)`` grows faster than linearly as the current nears the (strongly
  temperature-dependent) limiting current of electrolyte transport.
* solid diffusion: the surface SOC lags the bulk (coulomb-counted) SOC through a first-order
  element (``delta = soc_surface - soc``); the OCV is read at the surface SOC, so the steep end of
  the OCV curve is reached early when diffusion is slow (cold, high rate). A heat-free RC ``v_4``
  with the same time constant carries the rest of the diffusion polarisation.
* ``R_short``: optional internal short in parallel (and the separator-melt short during runaway).

All RC-like states are advanced with exact exponentials for a current held over the step, the
thermal network with backward Euler, so any step from 1 ms to 60 s is stable. Capacity at a
temperature is never a parameter: it is whatever charge flows before the terminal voltage reaches
the cut-off.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from typing import TYPE_CHECKING

from sim_instruments.cell.noise import MeasurementNoise
from sim_instruments.cell.presets import CellPreset
from sim_instruments.cell.thermal import (
    GAS_CONSTANT,
    KELVIN,
    RUNAWAY_SELF_HEATING_K_PER_S,
    Exotherm,
    two_node_step,
)

if TYPE_CHECKING:
    import numpy as np

FARADAY = 96485.33212
_T_REF_K = 298.15
#: SOC below which the over-discharged cell's OCV ramps linearly to 0 V (at SOC = -this).
_OVERDISCHARGE_SPAN = 0.03
#: Highest SOC the coulomb counter accepts (overcharge), fraction.
_SOC_MAX = 1.1
#: Largest SOC change per internal sub-step while a short drains the cell.
_MAX_DSOC_PER_SUBSTEP = 0.002
#: Largest exotherm reactant conversion (k·dt) per internal sub-step.
_MAX_KDT_PER_SUBSTEP = 0.05
_MAX_SUBSTEPS = 20000


class CellModel(MeasurementNoise):
    """One simulated cell. Current is POSITIVE WHEN CHARGING (Battery Data Format convention),
    amps; volts; °C; seconds."""

    def __init__(
        self, preset: CellPreset, soc: float = 1.0, temperature_c: float = 25.0, seed: int | None = 0
    ) -> None:
        """A rested cell (no polarisation) of ``preset`` at ``soc`` (0..1) and ``temperature_c``."""
        self.preset = preset
        p = preset
        self._cap_as = p.capacity_ah * 3600.0
        self._ocv_x = list(p.ocv_soc)
        self._ocv_y = list(p.ocv_v)
        self._ocv_slope = [
            (self._ocv_y[i + 1] - self._ocv_y[i]) / (self._ocv_x[i + 1] - self._ocv_x[i])
            for i in range(len(self._ocv_x) - 1)
        ]
        self._ocv_last = len(self._ocv_x) - 2
        # Arrhenius constants Ea/R, K.
        self._ea0 = p.r0_activation_j_mol / GAS_CONSTANT
        self._eact = p.rct_activation_j_mol / GAS_CONSTANT
        self._ea2 = p.r2_activation_j_mol / GAS_CONSTANT
        self._ea3 = p.r3_activation_j_mol / GAS_CONSTANT
        self._ealim = p.r3_limiting_activation_j_mol / GAS_CONSTANT
        self._ead = p.diffusion_activation_j_mol / GAS_CONSTANT
        self._fsoc_norm = 1.0 / self._soc_factor_raw(0.5)
        self._h_a = p.convection_w_per_m2k * p.surface_area_m2
        self._c_tot = p.heat_capacity_j_per_k
        self._exo = Exotherm(
            p.exotherm_energy_j, p.exotherm_activation_j_mol, p.exotherm_rate_per_s,
            p.exotherm_reference_c,
        )
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
        self._tc = float(temperature_c)
        self._ts = float(temperature_c)
        self._reactant = 1.0
        self._runaway = False
        self._melted = False
        self._short_ohm: float | None = None
        self._rs: float | None = None  # effective parallel short (user short || melt short)
        self.last_heat_w = 0.0
        self.last_exotherm_w = 0.0
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

    def _ocv_slope_at(self, soc: float) -> float:
        """dOCV/dSOC at this SOC, V per unit SOC (central difference over 1 %)."""
        return (self._ocv(soc + 0.005) - self._ocv(soc - 0.005)) / 0.01

    def _refresh(self) -> None:
        """Recompute the temperature/SOC-dependent parameters and the open-circuit branch."""
        p = self.preset
        tk = self._tc + KELVIN
        inv = 1.0 / tk - 1.0 / _T_REF_K
        s = self._soc
        s = 0.0 if s < 0.0 else (1.0 if s > 1.0 else s)
        fsoc = self._soc_factor_raw(s) * self._fsoc_norm
        a_ct = math.exp(self._eact * inv) * fsoc
        a_2 = math.exp(self._ea2 * inv) * fsoc
        a_d = math.exp(self._ead * inv)
        self._r0 = p.r0_ohm * math.exp(self._ea0 * inv) * (1.0 + 0.25 * (fsoc - 1.0))
        self._rct = p.rct_ohm * a_ct
        self._tau1 = p.rct_tau_s * a_ct
        self._b = p.rct_tafel_factor * GAS_CONSTANT * tk / FARADAY
        self._r2 = p.r2_ohm * a_2
        self._tau2 = p.r2_tau_s * a_2
        a_3 = math.exp(self._ea3 * inv) * fsoc
        self._r3 = p.r3_ohm * a_3
        self._tau3 = p.r3_tau_s * a_3
        self._ilim = p.r3_limiting_current_a * math.exp(-self._ealim * inv)
        self._taud = p.diffusion_tau_s * a_d
        self._r4 = p.diffusion_r_ohm * a_d * fsoc
        self._u_b = self._ocv(self._soc)
        self._u_s = self._ocv(self._soc + self._delta)
        self._e = self._u_s + self._v1 + self._v2 + self._v3 + self._v4

    # ------------------------------------------------------------------ public state
    @property
    def soc(self) -> float:
        """State of charge by coulomb count vs ``preset.capacity_ah``, clamped to 0..1."""
        s = self._soc
        return 0.0 if s < 0.0 else (1.0 if s > 1.0 else s)

    @soc.setter
    def soc(self, value: float) -> None:
        self._soc = float(value)
        self._refresh()

    @property
    def surface_soc(self) -> float:
        """SOC at the particle surface (what the OCV is read at), unclamped fraction."""
        return self._soc + self._delta

    @property
    def temperature_core_c(self) -> float:
        """Core (jelly-roll) temperature, °C."""
        return self._tc

    @temperature_core_c.setter
    def temperature_core_c(self, value: float) -> None:
        self._tc = float(value)
        self._refresh()

    @property
    def temperature_surface_c(self) -> float:
        """Surface (can / pouch) temperature, °C: what a thermocouple on the cell reads."""
        return self._ts

    @temperature_surface_c.setter
    def temperature_surface_c(self, value: float) -> None:
        self._ts = float(value)

    @property
    def runaway(self) -> bool:
        """True once the thermal-runaway exotherm has become self-sustaining (latched)."""
        return self._runaway

    @property
    def separator_melted(self) -> bool:
        """True once the core passed the separator melting point (cell internally shorted)."""
        return self._melted

    @property
    def internal_short_ohm(self) -> float | None:
        """The externally injected internal short, Ω (None: none)."""
        return self._short_ohm

    @property
    def exotherm_reactant(self) -> float:
        """Fraction of the decomposition reactant left (1 = fresh cell, 0 = burnt out)."""
        return self._reactant

    def open_circuit_voltage_v(self) -> float:
        """Present OCV at the surface SOC (what a long rest would relax towards first), V."""
        return self._u_s

    def ocv_at_soc_v(self, soc: float) -> float:
        """OCV table lookup at an arbitrary SOC (25 °C), V."""
        return self._ocv(soc)

    def resistance_ohm(self) -> float:
        """Present ohmic resistance R0 at the core temperature and SOC, Ω."""
        return self._r0

    def charge_transfer_resistance_ohm(self) -> float:
        """Present small-signal charge-transfer resistance, Ω."""
        return self._rct

    def diffusion_resistance_ohm(self) -> float:
        """Small-signal DC resistance of the solid-diffusion elements (surface-SOC lag through the
        OCV slope + the heat-free diffusion RC) at the present state, Ω."""
        return (self._ocv_slope_at(self._soc + self._delta) * self.preset.diffusion_gain
                * self._taud / self._cap_as) + self._r4

    def dc_resistance_ohm(self, duration_s: float, current_a: float | None = None) -> float:
        """Resistance seen ``duration_s`` after a current step from rest, Ω: ΔV/ΔI excluding the
        OCV drift of the charge moved.

        ``current_a`` is the pulse magnitude (A) the non-linear elements see; ``None`` means a 1C
        pulse (``preset.nominal_capacity_ah`` amps), the usual DCIR test; ``0.0`` gives the
        small-signal value that the impedance spectrum's low-frequency limit agrees with.
        """
        t = max(duration_s, 0.0)
        if current_a is None:
            current_a = self.preset.nominal_capacity_ah
        if abs(current_a) < 1e-9:
            rct = self._rct
        else:
            i = abs(current_a)
            rct = self._b * math.asinh(i * self._rct / self._b) / i
        r = self._r0 + rct * (1.0 - math.exp(-t / self._tau1))
        r += self._r2 * (1.0 - math.exp(-t / self._tau2))
        r3 = self._r3
        if self._ilim > 0.0:
            r3 /= max(0.1, 1.0 - abs(current_a) / self._ilim)
        r += r3 * (1.0 - math.exp(-t / self._tau3))
        r += self.diffusion_resistance_ohm() * (1.0 - math.exp(-t / self._taud))
        return r

    def impedance_ohm(self, frequencies_hz: np.ndarray) -> np.ndarray:
        """Complex small-signal impedance at these frequencies (Hz), Ω, from the present state."""
        from sim_instruments.eis_model import cell_impedance_ohm

        return cell_impedance_ohm(self, frequencies_hz)

    def impedance_parameters(self) -> dict[str, float]:
        """The present small-signal circuit values the impedance spectrum is built from."""
        slope = max(self._ocv_slope_at(self._soc + self._delta), 1e-3)
        return {
            "r0_ohm": self._r0,
            "rct_ohm": self._rct,
            "rct_tau_s": self._tau1,
            "rct_alpha": self.preset.rct_alpha,
            "r2_ohm": self._r2,
            "r2_tau_s": self._tau2,
            "r3_ohm": self._r3,
            "r3_tau_s": self._tau3,
            "diffusion_r_ohm": self.diffusion_resistance_ohm(),
            "diffusion_tau_s": self._taud,
            "capacitance_f": self._cap_as / slope,
            "inductance_h": self.preset.inductance_h,
        }

    # ------------------------------------------------------------------ terminal relations
    def terminal_voltage_v(self, current_a: float) -> float:
        """Terminal voltage if ``current_a`` (external, + = charge) flows now; state unchanged, V."""
        rs = self._rs
        if rs is None:
            return self._e + self._r0 * current_a
        return (self._e + self._r0 * current_a) / (1.0 + self._r0 / rs)

    def current_for_voltage_a(self, voltage_v: float) -> float:
        """External current (+ = charge) that holds ``voltage_v`` at the terminals now, A."""
        rs = self._rs
        if rs is None:
            return (voltage_v - self._e) / self._r0
        return (voltage_v * (1.0 + self._r0 / rs) - self._e) / self._r0

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
        n = 1
        if self._rs is not None or (self._tc > 60.0 and self._reactant > 0.0):
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
        """One exact-exponential electrical update and one implicit thermal update of ``h`` s."""
        rs = self._rs
        r0 = self._r0
        if rs is None:
            i_cell = current_a
            short_heat = 0.0
        else:
            v = (self._e + r0 * current_a) / (1.0 + r0 / rs)
            i_short = v / rs
            i_cell = current_a - i_short
            short_heat = v * i_short
        # charge transfer (Butler-Volmer steady state), exact exponential relaxation
        b = self._b
        g1 = b * math.asinh(i_cell * self._rct / b)
        v1_old = self._v1
        v1 = g1 + (v1_old - g1) * math.exp(-h / self._tau1)
        g2 = self._r2 * i_cell
        v2_old = self._v2
        v2 = g2 + (v2_old - g2) * math.exp(-h / self._tau2)
        # electrolyte depletion: near the limiting current the slow overpotential grows and the
        # reaction crowds into less electrode, so its particle surfaces deplete faster
        crowd = 1.0
        if self._ilim > 0.0:
            crowd = 1.0 / max(0.1, 1.0 - abs(i_cell) / self._ilim)
        g3 = self._r3 * i_cell * crowd
        v3_old = self._v3
        v3 = g3 + (v3_old - g3) * math.exp(-h / self._tau3)
        self._v3 = v3
        taud = self._taud
        ed = math.exp(-h / taud)
        dss = self.preset.diffusion_gain * taud * i_cell * crowd / self._cap_as
        self._delta = dss + (self._delta - dss) * ed
        g4 = self._r4 * i_cell
        self._v4 = g4 + (self._v4 - g4) * ed
        self._v1 = v1
        self._v2 = v2
        # heat: ohmic + polarisation (Bernardi irreversible, at the surface OCV) + reversible
        # (entropic) + short. Like the DFN reference, the heat of mixing of the solid-diffusion
        # gradient (OCV(surface) - OCV(bulk)) is neglected: it is returned when the gradient relaxes.
        heat = i_cell * (i_cell * r0 + 0.5 * (v1_old + v1 + v2_old + v2 + v3_old + v3))
        heat += i_cell * (self._tc + KELVIN) * self.preset.entropic_v_per_k + short_heat
        soc = self._soc + i_cell * h / self._cap_as
        floor = -_OVERDISCHARGE_SPAN
        self._soc = floor if soc < floor else (_SOC_MAX if soc > _SOC_MAX else soc)
        p_exo = 0.0
        if self._reactant > 0.0 and self._exo.active:
            self._reactant, q = self._exo.step(h, self._tc, self._reactant)
            p_exo = q / h
            if not self._runaway and p_exo >= RUNAWAY_SELF_HEATING_K_PER_S * self._c_tot:
                self._runaway = True
        p = self.preset
        retained = heat + p_exo
        if self._runaway:
            retained *= 1.0 - p.ejecta_heat_fraction
        self.last_heat_w = retained
        self.last_exotherm_w = p_exo
        self._tc, self._ts = two_node_step(
            h, self._tc, self._ts, retained, ambient_c, p.heat_capacity_core_j_per_k,
            p.heat_capacity_surface_j_per_k, p.conductance_core_surface_w_per_k, self._h_a,
        )
        if not self._melted and p.separator_melt_c is not None and self._tc >= p.separator_melt_c:
            self._melted = True
            self._update_short()
        self._refresh()

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, float]:
        """Full dynamic state as plain floats (booleans as 0/1, no short as 0), for crash-resume."""
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
        }

    def load_state(self, state: dict[str, float]) -> None:
        """Restore a state produced by :meth:`state_dict`."""
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

    def __repr__(self) -> str:
        return (f"CellModel({self.preset.name!r}, soc={self._soc:.4f}, "
                f"core={self._tc:.2f} °C, surface={self._ts:.2f} °C)")
