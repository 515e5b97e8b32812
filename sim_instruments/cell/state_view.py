"""The public, read-mostly side of :class:`~sim_instruments.cell.model.CellModel`: state
properties and the small-signal resistance / impedance queries built on its present parameters.

Kept apart from the model's dynamics (``model.py``) so each file stays short. Units: A, V, °C, s, Ω;
current POSITIVE WHEN CHARGING.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sim_instruments.cell.voltage_hold import ZE_MAX

if TYPE_CHECKING:
    from sim_instruments.cell.presets import CellPreset


class CellStateView:
    """Mixin for :class:`~sim_instruments.cell.model.CellModel`, which owns every attribute below
    and keeps the derived parameters (``_r0``, ``_rct``, ``_tau1`` ...) current."""

    preset: CellPreset
    _cap_as: float
    _soc: float
    _delta: float
    _tc: float
    _ts: float
    _reactant: float
    _runaway: bool
    _melted: bool
    _short_ohm: float | None
    _r0: float
    _rct: float
    _tau1: float
    _b: float
    _r2: float
    _tau2: float
    _r3: float
    _tau3: float
    _ilim: float
    _ze: float
    _taue: float
    _a_g: float
    _taud: float
    _r4: float
    _u_s: float

    def _refresh(self) -> None:  # pragma: no cover - the model's
        raise NotImplementedError

    def _ocv(self, soc: float) -> float:  # pragma: no cover - the model's
        raise NotImplementedError

    def _ocv_slope_at(self, soc: float) -> float:
        """dOCV/dSOC at this SOC, V per unit SOC (central difference over 1 %)."""
        return (self._ocv(soc + 0.005) - self._ocv(soc - 0.005)) / 0.01

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
        return (self._ocv_slope_at(self._soc + self._delta) * self.preset.diffusion_gain * self._a_g
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
        # the electrolyte depletion z relaxes to I/I_lim with tau_e from its present value
        # (model.py): its mean over the pulse sets the crowding of the charge-transfer and slow
        # polarisations
        crowd = 1.0
        if self._ilim > 0.0 and t > 0.0:
            zs = abs(current_a) / self._ilim
            tau = self._taue
            z = zs + (abs(self._ze) - zs) * tau / t * (1.0 - math.exp(-t / tau))
            crowd = 1.0 / (1.0 - min(z, ZE_MAX))
        if abs(current_a) < 1e-9:
            rct = self._rct
        else:
            i = abs(current_a)
            rct = self._b * math.asinh(i * crowd * self._rct / self._b) / i
        r = self._r0 + rct * (1.0 - math.exp(-t / self._tau1))
        r += self._r2 * (1.0 - math.exp(-t / self._tau2))
        r3 = self._r3 * crowd
        r += r3 * (1.0 - math.exp(-t / self._tau3))
        r += self.diffusion_resistance_ohm() * (1.0 - math.exp(-t / self._taud))
        return r

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
