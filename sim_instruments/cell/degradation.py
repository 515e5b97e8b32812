"""Degradation laws of the simulated cell: SEI growth, lithium plating and stripping, dead lithium,
capacity fade and resistance growth (parameters and the serialisable ageing state; no I/O).

The cell model (:mod:`sim_instruments.cell.model`) advances these every step with plain float
arithmetic; this module holds the parameters, their documentation and the slow-path helpers.
Units: A, A·s (charge), V, °C, s, J/mol. Current POSITIVE WHEN CHARGING.

Laws (each parameter of :class:`DegradationParameters` is one number in them):

* **Negative-electrode potential vs Li** (see :mod:`sim_instruments.cell.anode_potential`)::

      phi_n = U_n(soc_surface) - (s_ct·v_ct + s_2·v_2 + s_3·v_3 + s_d·v_d + s_0·R0·I)

  ``U_n`` the anode's open-circuit potential at the surface SOC, the ``s_*`` the anode's share of
  each overpotential of the equivalent circuit (the rest is the cathode's and the electrolyte's
  on the cathode side).
* **Lithium plating** while charging with ``phi_n < 0``: ``I_pl = g_pl(T)·(-phi_n)``, at most the
  charge current; ``g_pl`` is Arrhenius (activation energy of the charge-transfer resistance).
  The rate thus depends on temperature (``g_pl`` and the Arrhenius resistances in ``phi_n``),
  current (the overpotentials) and SOC (``U_n``, and the resistances that rise near full).
* **Stripping** (rest and discharge): plated lithium re-intercalates at a constant rate
  ``k_strip(T)`` (A, zero order: a plateau then a drop) plus ``strip_discharge_fraction`` of a
  discharge current. While plated lithium strips (rest or discharge) it is isolated at
  ``dq_dead/dt = gamma·q_plated`` (dead lithium, lost for good; OKane2022's partially reversible
  plating law): the longer it takes to strip (cold, slow), the larger its dead share.
  While plated lithium is left, the anode sits at a mixed potential near 0 V instead of ``U_n``,
  so the terminals read ``v_pl = mixed_share·U_n·P/(P + P_half)`` more: the plateau of the
  post-charge relaxation and the step (a dV/dQ peak) early in the next discharge.
* **SEI growth**, calendar + cycling, Arrhenius, self-limiting (a growing film slows its own
  growth: ``q`` grows like ``t`` at first, then like ``√t``)::

      dq_sei/dt = a_sei(T)·(k_cal·(f0 + (1 - f0)·soc) + k_cyc·|I|) / (1 + q_sei/q_ref)

* **Capacity fade**: SEI and dead lithium are lost lithium inventory: the capacity the coulomb
  counter scales by is ``Q0 - q_sei - q_dead`` (reversibly plated lithium still counts: it comes
  back when it strips). **Resistance growth**: ``R0``, ``Rct`` and ``R2`` (film) are multiplied by
  ``1 + resistance_growth_per_lost_fraction · (q_sei + q_dead)/Q0``; both feed the voltage, the
  Joule heat and the impedance spectrum.

* **Pore clogging (the knee)**: SEI and dead lithium fill a fraction
  ``f = (c_sei·q_sei + c_li·q_dead)/Q0`` of the anode's pore volume; the electrolyte path through
  it resists as Bruggeman's ``(1 - f)^-b``, so R0 grows by ``s_p·((1 - f)^-b - 1 - b·f)`` of its
  fresh value more (the first-order part is in the linear growth above), all of it on the anode's
  side: the anode potential at a charge falls, plating and dead lithium follow and clog further
  (Yang et al., J. Power Sources 360 (2017) 28; the porosity change of O'Kane et al., PCCP 24
  (2022) 7909).

* **SEI on cracks**: the diffusion-induced stress that isolates active material (the LAM law,
  ``|I|`` x the surface-bulk SOC difference) also lengthens the particles' cracks; their new
  surface grows SEI as a fresh surface, not slowed by the old film: the cycling SEI term becomes
  ``k_cyc·|I|·(1/(1 + q_sei/q_ref) + c_cr·LAM/Q0)`` (the crack surface ``c_cr·LAM/Q0`` of the
  fresh cycling surface; O'Kane et al., PCCP 24 (2022) 7909, "SEI on cracks" with the Paris law
  of Deshpande et al., JES 159 (2012) A1730).

The fade and resistance are applied in quanta (every :attr:`DegradationParameters.apply_quantum`
of the capacity), so the per-sample path only accumulates.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class DegradationParameters:
    """Ageing parameters of one preset (see the module docstring for the laws they enter).

    Defaults are those of ``nmc_21700`` (sources and fits in ``docs/calibration.md``).
    """

    #: Anode share of the charge-transfer, second-RC, slow-RC and diffusion overpotentials and of
    #: the ohmic drop (fitted to the separator-side anode potential of the ORegan2022 charges).
    share_ct: float = 1.4
    share_rc2: float = 0.36
    share_rc3: float = 0.0
    share_diffusion: float = 0.15
    share_ohmic: float = 0.61
    #: Plating conductance at 25 °C, A per V below 0 V vs Li, per Ah of capacity.
    plating_conductance_a_per_v_ah: float = 1.0
    #: Exchange plating while charging, at any anode potential: its irreversible part (dead
    #: lithium at once) at phi_n = 0 V and 25 °C, A per Ah of capacity; x exp(-alpha·F·phi_n/RT).
    exchange_plating_c: float = 1.9e-5
    #: Cathodic transfer coefficient alpha of that exchange plating (Tafel slope RT/(alpha·F)).
    plating_transfer_coefficient: float = 0.5
    #: Activation energy of plating / stripping kinetics, J/mol.
    plating_activation_j_mol: float = 49000.0
    #: Stripping rate at rest at 25 °C, A per Ah of capacity (zero order).
    strip_rate_c: float = 0.004
    #: Fraction of a discharge current that strips plated lithium while there is some.
    strip_discharge_fraction: float = 0.5
    #: Rate at which plated lithium is isolated (dead lithium) while it strips (rest, discharge), 1/s:
    #: ``dq_dead/dt = gamma·q_plated`` (the first-order law of OKane2022's partially reversible
    #: plating; fitted here, see docs/calibration.md).
    dead_lithium_rate_per_s: float = 6.0e-4
    #: Share of U_n the terminals gain while plated lithium holds the anode near 0 V.
    mixed_share: float = 0.5
    #: Plated charge at which that voltage is half developed, per Ah of capacity (A·s/Ah).
    plated_half_as_per_ah: float = 0.36
    #: Calendar SEI current at 25 °C and SOC 1, A per Ah of capacity (fresh cell).
    sei_calendar_c: float = 4.0e-5
    #: Calendar rate at SOC 0 relative to SOC 1.
    sei_calendar_soc0: float = 0.3
    #: Cycling SEI current per ampere of |I| at 25 °C (dimensionless).
    sei_cycling_per_a: float = 5.0e-5
    #: Activation energy of the cycling (crack-surface) SEI, J/mol.
    sei_cycling_activation_j_mol: float = 15000.0
    #: Loss of active material: capacity lost per A·s of |I| per unit surface-bulk SOC
    #: difference (the diffusion-induced stress that cracks and isolates particles), 1.
    lam_per_a_soc: float = 1.5e-4
    #: SEI lithium loss at which the growth rate has halved, per Ah of capacity (A·s/Ah).
    sei_ref_as_per_ah: float = 7.2
    #: Activation energy of SEI growth, J/mol.
    sei_activation_j_mol: float = 55000.0
    #: Relative resistance growth per unit of lost lithium fraction (2 = +2 % per 1 % lost).
    resistance_growth_per_lost_fraction: float = 2.0
    #: Pore clogging (the knee): fraction of the anode's pore volume that SEI fills per unit of
    #: capacity fraction lost to SEI, ``Q0·V_sei/(F·A·L·eps)`` with OKane2022's SEI partial molar
    #: volume 9.585e-5 m³/mol (one Li per SEI mole), LG M50 anode 0.065 x 1.58 m x 85.2 um,
    #: porosity 0.25, Q0 = 5 Ah (a per-Ah figure: the same for graphite anodes of that porosity).
    pore_fill_per_sei_fraction: float = 8.18
    #: The same for dead lithium (lithium metal, 1.3e-5 m³/mol in OKane2022).
    pore_fill_per_dead_fraction: float = 1.11
    #: Share of the fresh R0 that is electrolyte in the anode's pores, L/(3·kappa·eps^b·A)/R0
    #: (LG M50: 85.2 um, kappa 0.95 S/m, eps 0.25, b 1.5, 0.1027 m²: 2.3 mOhm of R0 10 mOhm);
    #: 0 turns the knee off.
    pore_resistance_share: float = 0.23
    #: Bruggeman exponent of the anode's electrolyte path (OKane2022: 1.5).
    pore_bruggeman: float = 1.5
    #: Largest clogged fraction of the pore volume (beyond it the cell is dead in any case).
    pore_fill_max: float = 0.9
    #: SEI on cracks: growth of the crack surface, relative to the surface the cycling SEI grows on
    #: in a fresh cell, per unit of capacity fraction lost with active material. OKane2022's Paris
    #: law ``dl/dt = k_cr·(b·sigma·sqrt(pi·l))^m / 3600`` (k_cr 3.9e-20, b 1.12, m 2.2, l0 20 nm)
    #: over its stress-driven LAM ``d(eps)/eps/dt = beta·(sigma/sigma_c)^2`` (beta 2.78e-7 1/s,
    #: sigma_c 60 MPa) at sigma = 30 MPa: ``(dl/l0)/(dLAM)`` = 3.4; the crack area (roughness - 1,
    #: ``2·l·rho_cr·w_cr``) grows as ``l``. 0 turns it off.
    crack_area_per_lam_fraction: float = 3.4
    #: Capacity fraction of lost lithium accumulated before fade and resistance are re-applied.
    apply_quantum: float = 2.0e-5


@dataclass
class AgeingState:
    """What a simulated cell carries from one run to the next (JSON-serialisable).

    Charges in Ah. ``cycle_count`` is equivalent full cycles (total throughput / 2 / nominal).
    """

    preset: str
    soc: float
    temperature_core_c: float
    temperature_surface_c: float
    sei_ah: float = 0.0
    #: Capacity lost with active material, Ah.
    lam_ah: float = 0.0
    plated_lithium_ah: float = 0.0
    dead_lithium_ah: float = 0.0
    throughput_ah: float = 0.0
    cycle_count: float = 0.0
    capacity_ah: float = math.nan
    resistance_factor: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (str and floats) for JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AgeingState:
        """Inverse of :meth:`to_dict`; ``ValueError`` naming the field that is missing or bad."""
        if not isinstance(data, dict):
            raise ValueError(f"cell state must be a JSON object, got {type(data).__name__}")
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                if f.name in ("preset", "soc", "temperature_core_c", "temperature_surface_c"):
                    raise ValueError(f"cell state has no {f.name!r}")
                continue
            value = data[f.name]
            if f.name == "preset":
                if not isinstance(value, str):
                    raise ValueError(f"cell state field 'preset' must be a string, got {value!r}")
            else:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValueError(f"cell state field {f.name!r} must be a number, got {value!r}")
                value = float(value)
                if f.name != "capacity_ah" and not math.isfinite(value):
                    raise ValueError(f"cell state field {f.name!r} must be finite, got {value!r}")
            kwargs[f.name] = value
        state = cls(**kwargs)
        for name in ("sei_ah", "lam_ah", "plated_lithium_ah", "dead_lithium_ah", "throughput_ah"):
            if getattr(state, name) < 0.0:
                raise ValueError(f"cell state field {name!r} must be >= 0, got {getattr(state, name)!r}")
        return state
