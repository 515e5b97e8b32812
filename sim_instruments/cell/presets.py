"""Cell presets: rating, equivalent-circuit, thermal and thermal-runaway parameters.

Units are in the field names: ohms at the reference temperature (25 °C) and 50 % SOC, seconds,
J/mol for activation energies, J/K for heat capacities, W/K for conductances, joules for the
runaway exotherm. The equivalent circuit is described in :mod:`sim_instruments.cell.model`:
``R0`` (ohmic) + a non-linear charge-transfer RC (Butler-Volmer) + a linear RC + a slow electrolyte
RC with a limiting current + solid diffusion (surface/bulk SOC two-tank and a heat-free RC) +
OCV(surface SOC).

A preset models a datasheet and adds the model's parameters: it names the datasheet
(``cells/datasheets/NAME.yaml``, the lab's data) and never repeats one of its numbers; the rating
fields (nominal capacity, voltage window, current maxima, temperature windows, mass, chemistry,
form factor) are read from that datasheet when the preset is built (:func:`rating_of`).
``nmc_21700`` models the LG INR21700 M50 (its circuit parameters are calibrated against the PyBaMM
``ORegan2022`` reference discharges, see ``docs/calibration.md``); the other presets model
datasheets of class members, not particular products.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from cells import Datasheet, shipped_datasheet
from sim_instruments.cell import ocv_tables
from sim_instruments.cell.abuse_onsets import ONSETS, arc_onset_rate_per_s
from sim_instruments.cell.anode_potential import interpolate
from sim_instruments.cell.degradation import DegradationParameters


@dataclass(frozen=True)
class CellPreset:
    """Everything the simulated cell needs to know about one cell type.

    ``capacity_ah`` is the true capacity the coulomb counter uses: the charge between OCV =
    ``voltage_max_v`` (SOC 1) and OCV = ``voltage_min_v`` (SOC 0) at 25 °C. What a discharge
    delivers to the cut-off is less and emerges from the resistances (C/3 at 25 °C: about 98 % of
    it for ``nmc_21700``). ``nominal_capacity_ah`` is the datasheet rating used for C-rates.
    """

    name: str
    chemistry: str
    capacity_ah: float
    voltage_max_v: float
    voltage_min_v: float
    current_max_charge_a: float
    current_max_discharge_a: float
    temperature_min_charge_c: float
    temperature_max_c: float
    mass_kg: float
    nominal_capacity_ah: float
    temperature_min_discharge_c: float
    form_factor: str
    #: OCV(SOC) table, see :mod:`sim_instruments.cell.ocv_tables`.
    ocv_soc: tuple[float, ...]
    ocv_v: tuple[float, ...]
    #: Entropic coefficient dOCV/dT, V/K (reversible heat ``I·T·dU/dT``, I + = charge).
    entropic_v_per_k: float
    # --- equivalent circuit at 25 °C, 50 % SOC ---
    r0_ohm: float
    r0_activation_j_mol: float
    #: Charge-transfer (small-signal) resistance and its relaxation time at 25 °C.
    rct_ohm: float
    rct_activation_j_mol: float
    rct_tau_s: float
    #: Butler-Volmer slope factor n: overpotential = n·R·T/F·asinh(I·Rct·F/(n·R·T)).
    rct_tafel_factor: float
    #: Constant-phase exponent of the charge-transfer arc in the impedance spectrum (1 = ideal RC).
    rct_alpha: float
    #: Second (SEI / mid-frequency) RC pair.
    r2_ohm: float
    r2_activation_j_mol: float
    r2_tau_s: float
    #: Third, slow linear RC (electrolyte / solid concentration polarisation that does not move
    #: the surface SOC); 0 ohm disables it.
    r3_ohm: float
    r3_activation_j_mol: float
    r3_tau_s: float
    #: Limiting current of electrolyte transport at 25 °C, A: the electrolyte depletion state
    #: ``z`` relaxes to ``I/I_lim`` and the slow overpotential is ``R3·I / (1 - |z|)`` (model.py;
    #: past ``I_lim`` the electrolyte empties in a finite time and the voltage collapses). 0
    #: disables the limit.
    r3_limiting_current_a: float
    #: Activation energy of the electrolyte's diffusivity, J/mol: the limiting current rises and
    #: the depletion time constant ``electrolyte_tau_s`` falls with it (both ∝ D_e).
    r3_limiting_activation_j_mol: float
    #: Solid-diffusion element: surface SOC lags bulk SOC with this time constant; the steady
    #: surface-bulk offset is ``diffusion_gain · tau · I / (3600 · capacity)``.
    diffusion_tau_s: float
    diffusion_activation_j_mol: float
    diffusion_gain: float
    #: Solid-diffusion polarisation that does not shift the surface SOC, modelled as an RC with
    #: the diffusion time constant; it generates no heat (heat of mixing neglected, as in the
    #: DFN reference). Ω at 25 °C.
    diffusion_r_ohm: float
    #: SOC dependence: resistances x (1 + low·exp(-soc/low_width) + high·exp(-(1-soc)/high_width)).
    r_soc_low: float
    r_soc_low_width: float
    r_soc_high: float
    r_soc_high_width: float
    #: Series inductance of cell + leads seen by an impedance analyser, H.
    inductance_h: float
    # --- two-node thermal model ---
    heat_capacity_core_j_per_k: float
    heat_capacity_surface_j_per_k: float
    conductance_core_surface_w_per_k: float
    surface_area_m2: float
    convection_w_per_m2k: float
    # --- abuse ---
    #: Total heat of the decomposition reactions (SEI, anode-electrolyte, cathode), J. 0 = none.
    exotherm_energy_j: float
    exotherm_activation_j_mol: float
    #: First-order rate constant of the lumped exotherm at ``exotherm_reference_c``, 1/s.
    exotherm_rate_per_s: float
    exotherm_reference_c: float
    #: Core temperature at which the separator melts (None: a solid electrolyte that does not).
    separator_melt_c: float | None
    #: Internal short created by a melted separator, ohms.
    separator_melt_short_ohm: float
    #: Fraction of the heat released after runaway onset that leaves with the vent ejecta (gas,
    #: electrolyte, particles) instead of heating the cell body.
    ejecta_heat_fraction: float
    # --- measurement noise (1 sigma) ---
    voltage_noise_v: float = 0.0002
    temperature_noise_k: float = 0.05
    #: Time constant of the electrolyte depletion state ``z`` at 25 °C (salt diffusion across
    #: the electrode, ~ L²/D_e), s; Arrhenius with ``r3_limiting_activation_j_mol``.
    electrolyte_tau_s: float = 60.0
    #: Depth-of-discharge dependence of the limiting current: ``I_lim / (1 + k·(1 - SOC))``. A
    #: discharge fills the positive particles next to the separator first, so the reaction front
    #: moves toward the current collector and the ions' path through the pores lengthens with
    #: depth of discharge (0: no dependence).
    limiting_current_depth_factor: float = 0.0
    #: Share of that depth factor read from the SOC (``1 - SOC``: the lithiated particles' own
    #: slower kinetics, a property of the state) rather than from the present discharge's front
    #: (the charge it has taken, relaxing at rest and while charging): ``I_lim / (1 + k·(w·(1 - SOC)
    #: + (1 - w)·front))``. From full both read the same; a rested, part-empty cell tells them apart.
    limiting_current_soc_share: float = 1.0
    #: Activation energy of the solid-diffusion gain, J/mol: the surface-SOC lag's steady state
    #: is ``gain·a_g(T)·tau(T)·I/Q``. A first-order lag's early slope ``gain·a_g·I/Q`` does not
    #: depend on ``tau``; spherical diffusion's early surface depletion (∝ √(t/D)) does, and this
    #: factor carries it (0: temperature-independent gain).
    diffusion_gain_activation_j_mol: float = 0.0
    #: Charge-direction factors of the solid-diffusion element (surface-SOC gain and the heat-free
    #: diffusion RC): the charge polarisation of a cell whose discharge end is diffusion-limited
    #: (lithiating NMC) is smaller than its discharge polarisation (1 = symmetric).
    diffusion_charge_gain_factor: float = 1.0
    diffusion_charge_r_factor: float = 1.0
    #: A charge current loads the electrolyte-depletion limit ``r3_limiting_current_a`` this
    #: many times as much as the same discharge current (1 = symmetric).
    limiting_current_charge_factor: float = 1.0
    #: The second RC's resistance while charging, x ``r2_ohm`` (1 = symmetric) ...
    r2_charge_factor: float = 1.0
    #: ... plus ``high·exp((soc - 1)/width)·I/1C``: the charge polarisation that rises near full
    #: at high rates (delithiated cathode, nearly full graphite surface) and fades at the small
    #: currents of a CV tail (a fast element: it does not hold the CV back).
    r2_charge_high: float = 0.0
    r2_charge_high_width: float = 0.05
    # --- ageing (see sim_instruments.cell.degradation and docs/calibration.md) ---
    #: Anode OCP vs Li at the SOCs of ``ocv_soc``, V (None: no intercalation anode, e.g. lithium
    #: metal: no plating model, the anode potential is reported as 0 V).
    anode_ocp_v: tuple[float, ...] | None = None
    #: SOC-dependent entropic coefficient dOCV/dT at the SOCs of ``ocv_soc``, V/K (None: the
    #: constant ``entropic_v_per_k``).
    entropic_table_v_per_k: tuple[float, ...] | None = None
    degradation: DegradationParameters = field(default_factory=DegradationParameters)
    # --- ratings the bench reads (datasheet: where the cell may be charged / discharged) ---
    #: Highest cell temperature for charging / for discharging, °C (``temperature_max_c`` is
    #: the absolute operating maximum; the minima are ``temperature_min_charge_c`` and
    #: ``temperature_min_discharge_c``).
    temperature_max_charge_c: float = 45.0
    temperature_max_discharge_c: float = 60.0
    #: The datasheet this preset models (``cells/datasheets/<name>.yaml``): the source of the
    #: rating fields above.
    datasheet: str = ""

    def ratings(self) -> dict[str, float]:
        """The preset's charge / discharge windows as the bench reads them: temperatures °C,
        currents A (magnitudes)."""
        return {
            "charge_temperature_min_c": self.temperature_min_charge_c,
            "charge_temperature_max_c": self.temperature_max_charge_c,
            "discharge_temperature_min_c": self.temperature_min_discharge_c,
            "discharge_temperature_max_c": self.temperature_max_discharge_c,
            "charge_current_max_a": self.current_max_charge_a,
            "discharge_current_max_a": self.current_max_discharge_a,
        }

    @property
    def heat_capacity_j_per_k(self) -> float:
        """Total heat capacity (core + surface), J/K."""
        return self.heat_capacity_core_j_per_k + self.heat_capacity_surface_j_per_k


def rating_of(datasheet: str) -> dict[str, Any]:
    """The preset fields a datasheet gives (read, never repeated here): nominal capacity, voltage
    window, continuous current maxima, temperature windows (``temperature_max_c`` is the higher
    of the charge and discharge maxima), mass, chemistry, and the form factor with its sizes."""
    sheet = shipped_datasheet(datasheet)

    def need(key: str) -> float:
        value = sheet.get(key)
        if value is None:
            raise ValueError(f"datasheet {datasheet!r} states no {key}: a simulated cell needs it")
        return value

    return {
        "datasheet": sheet.name, "chemistry": sheet.chemistry, "form_factor": _form_factor(sheet),
        "nominal_capacity_ah": need("rating.capacity_ah"), "voltage_max_v": need("rating.voltage_max_v"),
        "voltage_min_v": need("rating.voltage_min_v"), "current_max_charge_a": need("rating.charge_current_max_a"),
        "current_max_discharge_a": need("rating.discharge_current_max_a"),
        "temperature_min_charge_c": need("temperature.charge_min_c"),
        "temperature_max_charge_c": need("temperature.charge_max_c"),
        "temperature_min_discharge_c": need("temperature.discharge_min_c"),
        "temperature_max_discharge_c": need("temperature.discharge_max_c"),
        "temperature_max_c": max(need("temperature.charge_max_c"), need("temperature.discharge_max_c")),
        "mass_kg": need("mass_kg"),
    }


def _form_factor(sheet: Datasheet) -> str:
    """``cylindrical 21700 (21.1 mm x 70.15 mm)`` or ``pouch (120 mm x 80 mm x 6 mm)``."""
    keys = ("diameter_mm", "height_mm") if sheet.get("dimensions.diameter_mm") is not None else \
        ("length_mm", "width_mm", "thickness_mm")
    sizes = [sheet.get(f"dimensions.{k}") for k in keys]
    if any(s is None for s in sizes):
        return sheet.form_factor
    return f"{sheet.form_factor} ({' x '.join(f'{s:g} mm' for s in sizes)})"


_NMC_SOC, _NMC_V = ocv_tables.NMC811_GRAPHITE
_LFP_SOC, _LFP_V = ocv_tables.LFP_GRAPHITE
_POUCH_SOC, _POUCH_V = ocv_tables.LAYERED_OXIDE_GRAPHITE_POUCH
_SSB_SOC, _SSB_V = ocv_tables.NMC811_LI_METAL
#: Graphite OCP on the LFP cell's SOC grid: the same graphite curve (O'Regan 2022) over the
#: graphite window of the NMC811 cell, read at the table's SOC points (a generic graphite anode
#: balanced like the LG M50's).
_GRAPHITE_ON_LFP_V = tuple(
    interpolate(_NMC_SOC, ocv_tables.GRAPHITE_OCP_NMC811_V, s) for s in _LFP_SOC)
NMC_21700 = CellPreset(
    name="nmc_21700",
    **rating_of("lg_inr21700_m50"),
    capacity_ah=4.921,
    ocv_soc=_NMC_SOC,
    ocv_v=_NMC_V,
    entropic_v_per_k=-2.23e-5,
    r0_ohm=0.0100,
    r0_activation_j_mol=10400.0,
    rct_ohm=0.0044,
    rct_activation_j_mol=57380.0,
    rct_tau_s=0.02,
    rct_tafel_factor=2.0,
    rct_alpha=0.9,
    r2_ohm=0.01328,
    r2_activation_j_mol=21520.0,
    r2_tau_s=27.4,
    r3_ohm=0.001758,                    # these twelve: refitted with the electrolyte depletion
    r3_activation_j_mol=18480.0,        # law against all ten DFN discharges, the DCIR and the
    r3_tau_s=60.0,                      # charges (electrolyte_fit.py, docs/calibration.md)
    r3_limiting_current_a=25.03,
    r3_limiting_activation_j_mol=18600.0,
    electrolyte_tau_s=21.13,
    limiting_current_depth_factor=4.3,
    limiting_current_soc_share=0.2,  # 1C from rested 15 / 30 % SOC at 25 / -20 °C vs the DFN (docs/calibration.md)
    diffusion_tau_s=479.4,
    diffusion_activation_j_mol=9121.0,
    diffusion_gain=0.1314,
    diffusion_gain_activation_j_mol=1842.0,
    diffusion_r_ohm=0.02937,
    r_soc_low=1.5,
    r_soc_low_width=0.05,
    r_soc_high=0.2,
    r_soc_high_width=0.05,
    inductance_h=2.0e-7,
    heat_capacity_core_j_per_k=58.82,
    heat_capacity_surface_j_per_k=6.54,
    conductance_core_surface_w_per_k=0.6,
    surface_area_m2=0.00531,  # pi*d*h + 2*pi*r^2 for d = 21 mm, h = 70 mm
    convection_w_per_m2k=10.0,
    exotherm_energy_j=70000.0,
    exotherm_activation_j_mol=150000.0,
    exotherm_rate_per_s=arc_onset_rate_per_s(70000.0, 58.82 + 6.54),  # onsets: abuse_onsets.py
    exotherm_reference_c=ONSETS["nmc811"].cathode_c,
    separator_melt_c=ONSETS["nmc811"].separator_melt_c,
    separator_melt_short_ohm=0.002,
    ejecta_heat_fraction=0.6,
    diffusion_charge_gain_factor=0.2767,   # charge factors: refitted with the implicit CV hold to
    diffusion_charge_r_factor=0.24,     # the CV phases too (C/2 at 0 °C and 25 °C, 1C at 25 °C),
    r2_charge_factor=0.6195,               # docs/calibration.md
    r2_charge_high=8.69,
    r2_charge_high_width=0.05,
    limiting_current_charge_factor=0.4128,
    anode_ocp_v=ocv_tables.GRAPHITE_OCP_NMC811_V,
    entropic_table_v_per_k=ocv_tables.NMC811_GRAPHITE_ENTROPIC_V_PER_K,
)

LFP_26650 = CellPreset(
    name="lfp_26650",
    **rating_of("lfp_26650"),
    capacity_ah=2.35,
    ocv_soc=_LFP_SOC,
    ocv_v=_LFP_V,
    entropic_v_per_k=0.0,
    r0_ohm=0.0060,
    r0_activation_j_mol=10400.0,
    rct_ohm=0.0025,
    rct_activation_j_mol=60000.0,
    rct_tau_s=0.01,
    rct_tafel_factor=2.0,
    rct_alpha=0.9,
    r2_ohm=0.0040,
    r2_activation_j_mol=21520.0,
    r2_tau_s=20.0,
    r3_ohm=0.0008,
    r3_activation_j_mol=24390.0,
    r3_tau_s=60.0,
    r3_limiting_current_a=25.0,
    r3_limiting_activation_j_mol=17700.0,
    # electrolyte depletion time (salt diffusion across the electrode, ~ L²/D_e): the nmc_21700's
    # fitted value x (0.6)², a high-power cell's electrodes assumed ~0.6x the M50's thickness
    electrolyte_tau_s=NMC_21700.electrolyte_tau_s * 0.36,
    diffusion_tau_s=360.0,
    diffusion_activation_j_mol=60000.0,
    diffusion_gain=0.5,
    diffusion_r_ohm=0.0150,
    r_soc_low=1.0,
    r_soc_low_width=0.04,
    r_soc_high=0.2,
    r_soc_high_width=0.05,
    inductance_h=2.0e-7,
    heat_capacity_core_j_per_k=70.0,
    heat_capacity_surface_j_per_k=8.0,
    conductance_core_surface_w_per_k=0.7,
    surface_area_m2=0.00637,  # d = 26 mm, h = 65 mm
    convection_w_per_m2k=10.0,
    exotherm_energy_j=25000.0,
    exotherm_activation_j_mol=160000.0,
    exotherm_rate_per_s=arc_onset_rate_per_s(25000.0, 70.0 + 8.0),  # onsets: abuse_onsets.py
    exotherm_reference_c=ONSETS["lfp"].cathode_c,
    separator_melt_c=ONSETS["lfp"].separator_melt_c,
    separator_melt_short_ohm=0.002,
    ejecta_heat_fraction=0.5,
    anode_ocp_v=_GRAPHITE_ON_LFP_V,
)

#: The 60 Ah pouch, calibrated on its own DFN reference (PyBaMM ``Ecker2015`` electrodes x 384
#: layers, ``tests/data/reference/ecker2015_60ah_*``; ``sim_instruments/cell/pouch_calibration.py``,
#: ``docs/calibration.md``): OCV, graphite OCP and capacity are the reference cell's; Rct and the
#: activation energies come from its kinetics and transport functions (``DERIVED`` there); R0, the
#: kinetics' slope and activation, the electrolyte depletion and the solid-diffusion element are
#: fitted (``fit_pouch``, with the cold rate series); the heat capacity is the reference's.
NMC_POUCH_60AH = CellPreset(
    name="nmc_pouch_60ah",
    **rating_of("nmc_pouch_60ah"),
    capacity_ah=65.35,  # reference cell between OCV 2.75 and 4.2 V (ecker2015_60ah_ocv.csv)
    ocv_soc=_POUCH_SOC,
    ocv_v=_POUCH_V,
    entropic_v_per_k=0.0,
    r0_ohm=0.000115,                 # fitted
    r0_activation_j_mol=19600.0,     # derived (pouch_calibration.DERIVED)
    rct_ohm=0.000518,                # derived
    rct_activation_j_mol=52900.0,    # fitted within cathode 43.6 .. graphite 53.4 kJ/mol
    rct_tau_s=0.05,
    rct_tafel_factor=3.27,           # fitted within 2 .. 8 (porous electrode)
    rct_alpha=0.9,
    r2_ohm=0.0,                      # derived: the reference has no film arc
    r2_activation_j_mol=17100.0,
    r2_tau_s=27.4,
    r3_ohm=1e-06,                 # fitted
    r3_activation_j_mol=17100.0,     # derived
    r3_tau_s=37.0,  # electrolyte diffusion time ∝ thickness²: (60/76 µm)² x the M50's 60 s
    r3_limiting_current_a=305.0,     # fitted
    r3_limiting_activation_j_mol=17100.0,  # derived
    electrolyte_tau_s=843.0,         # fitted (electrolyte depletion, model.py)
    limiting_current_depth_factor=1.21,  # fitted
    diffusion_gain_activation_j_mol=4120.0,  # fitted
    diffusion_tau_s=31.9,           # fitted
    diffusion_activation_j_mol=48500.0,  # fitted within graphite 30.3 .. cathode 80.6 kJ/mol
    diffusion_gain=0.151,           # fitted
    diffusion_r_ohm=0.000278,        # fitted
    r_soc_low=1.5,
    r_soc_low_width=0.05,
    r_soc_high=0.2,
    r_soc_high_width=0.05,
    inductance_h=5.0e-8,
    heat_capacity_core_j_per_k=920.0,  # core + surface = the reference's 994 J/K
    heat_capacity_surface_j_per_k=74.0,
    conductance_core_surface_w_per_k=9.0,
    surface_area_m2=0.0696,
    convection_w_per_m2k=10.0,
    exotherm_energy_j=840000.0,
    exotherm_activation_j_mol=150000.0,
    exotherm_rate_per_s=arc_onset_rate_per_s(840000.0, 920.0 + 74.0),  # onsets: abuse_onsets.py
    exotherm_reference_c=ONSETS["nmc622"].cathode_c,
    separator_melt_c=ONSETS["nmc622"].separator_melt_c,
    separator_melt_short_ohm=0.0002,
    ejecta_heat_fraction=0.6,
    anode_ocp_v=ocv_tables.GRAPHITE_OCP_ECKER2015_POUCH_V,
    # reversible heat: the layered-oxide / graphite dOCV/dT of O'Regan et al. 2022 (NMC811 and
    # graphite measured on LG M50 cells; the layered oxides share its shape and sign, e.g.
    # Viswanathan et al., J. Power Sources 195 (2010) 3720) on the same SOC grid. The Ecker2015
    # reference has none (0 V/K): the fit compares like for like (pouch_calibration.py).
    entropic_table_v_per_k=ocv_tables.NMC811_GRAPHITE_ENTROPIC_V_PER_K,
    # charge-direction factors: those fitted for the NMC/graphite 21700 on the ORegan2022 CC-CV
    # charges (docs/calibration.md), the same electrode pair; the pouch's thinner electrodes load
    # the electrolyte less on charge (x 0.69 as the 21700, on its own higher limiting current).
    # The R2 factors act on R2 = 0 here (no film arc).
    diffusion_charge_gain_factor=0.3,
    diffusion_charge_r_factor=0.24,
    r2_charge_factor=0.5,
    r2_charge_high=8.0,
    r2_charge_high_width=0.05,
    limiting_current_charge_factor=0.69,
)

SOLID_STATE_POUCH = CellPreset(
    name="solid_state_pouch",
    **rating_of("solid_state_pouch"),
    capacity_ah=10.0,
    ocv_soc=_SSB_SOC,
    ocv_v=_SSB_V,
    entropic_v_per_k=0.0,
    r0_ohm=0.0120,
    r0_activation_j_mol=28000.0,
    rct_ohm=0.0050,
    rct_activation_j_mol=45000.0,
    rct_tau_s=0.05,
    rct_tafel_factor=2.0,
    rct_alpha=0.85,
    r2_ohm=0.0060,
    r2_activation_j_mol=21520.0,
    r2_tau_s=40.0,
    r3_ohm=0.0005,
    r3_activation_j_mol=24390.0,
    r3_tau_s=60.0,
    r3_limiting_current_a=0.0,
    r3_limiting_activation_j_mol=17700.0,
    diffusion_tau_s=1308.0,
    diffusion_activation_j_mol=17950.0,
    diffusion_gain=0.0699,
    diffusion_r_ohm=0.0200,
    r_soc_low=1.5,
    r_soc_low_width=0.05,
    r_soc_high=0.2,
    r_soc_high_width=0.05,
    inductance_h=5.0e-8,
    heat_capacity_core_j_per_k=300.0,
    heat_capacity_surface_j_per_k=36.0,
    conductance_core_surface_w_per_k=6.0,
    surface_area_m2=0.0472,
    convection_w_per_m2k=10.0,
    exotherm_energy_j=0.0,
    exotherm_activation_j_mol=150000.0,
    exotherm_rate_per_s=0.0,
    exotherm_reference_c=150.0,
    separator_melt_c=None,
    separator_melt_short_ohm=0.002,
    ejecta_heat_fraction=0.5,
)

#: An extreme-fast-charge (XFC) NMC811/graphite pouch: the ``nmc_21700`` chemistry (same OCV,
#: graphite OCP, entropy and ageing laws) with thin electrodes and small particles, the usual
#: route to 10-minute charging (about 2 mAh/cm² instead of the M50's ~5 mAh/cm²). Per ampere-hour,
#: the electrolyte resistance scales with thickness² and the limiting current with 1/thickness²,
#: charge-transfer and film resistances with thickness (electrode area per Ah), solid-diffusion
#: time with particle radius² (about half the M50's); see docs/calibration.md.
XFC_NMC_POUCH = replace(
    NMC_21700,
    name="xfc_nmc_pouch",
    **rating_of("xfc_nmc_pouch"),  # 5C charge: no plating from 20 °C up; not derated below (docs/calibration.md)
    capacity_ah=4.921,
    r0_ohm=0.0030,                  # pouch tabs and foils, thin coating (M50: 0.010)
    rct_ohm=NMC_21700.rct_ohm * 0.3,  # x electrode thickness ratio (~0.4) and finer particles
    r2_ohm=NMC_21700.r2_ohm * 0.3,    # film / contact arc, per electrode area
    r3_ohm=NMC_21700.r3_ohm * 0.16,   # electrolyte: x thickness ratio²
    # electrolyte limiting current per Ah: x 1/thickness ratio² (∝ D_e·c0/L per area, and the
    # area per Ah ∝ 1/L); its depletion time constant (salt diffusion across the electrode,
    # ~ L²/D_e): x thickness ratio²
    r3_limiting_current_a=NMC_21700.r3_limiting_current_a * 6.0,
    electrolyte_tau_s=NMC_21700.electrolyte_tau_s * 0.16,
    diffusion_tau_s=NMC_21700.diffusion_tau_s * 0.2,  # solid diffusion: particle radius ~0.45x
    diffusion_r_ohm=NMC_21700.diffusion_r_ohm * 0.2,
    heat_capacity_core_j_per_k=88.0,
    heat_capacity_surface_j_per_k=10.0,
    conductance_core_surface_w_per_k=6.0,
    surface_area_m2=0.0216,   # 2 x 120 x 80 mm² faces + edges
    convection_w_per_m2k=10.0,
    exotherm_energy_j=95000.0,
    exotherm_rate_per_s=arc_onset_rate_per_s(95000.0, 88.0 + 10.0),  # NMC811 onsets as nmc_21700
    separator_melt_short_ohm=0.002,
)

PRESETS: dict[str, CellPreset] = {
    p.name: p for p in (NMC_21700, LFP_26650, NMC_POUCH_60AH, SOLID_STATE_POUCH, XFC_NMC_POUCH)
}


def get_preset(name: str) -> CellPreset:
    """Return the preset called ``name``; ``KeyError`` naming the valid presets otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        valid = ", ".join(sorted(PRESETS))
        raise KeyError(f"unknown cell preset {name!r}; valid presets: {valid}") from None
