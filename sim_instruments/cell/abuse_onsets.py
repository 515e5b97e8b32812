"""Onset temperatures of the self-heating reactions by chemistry, from the accelerating-rate
calorimetry (ARC) and DSC literature, and how the presets' lumped exotherm takes them.

Sources (figures as the reviews summarise them; ranges, of which the value used is named):

* [Feng2018] X. Feng et al., "Thermal runaway mechanism of lithium ion battery for electric
  vehicles: A review", Energy Storage Materials 10 (2018) 246-267: SEI decomposition from
  ~80-120 °C (the first self-heating, ARC T1); PE separators melt at ~130 °C, PP at ~165 °C, and
  their collapse (the large internal short) is one of the three runaway triggers; oxygen release
  of the charged layered cathode: the higher the nickel content the lower (NCM811 ~150-200 °C,
  NCM622 higher); LiFePO4 releases little oxygen and its cells reach runaway, if at all, far
  later and milder (>= ~250 °C).
* [Wang2012] Q. Wang et al., "Thermal runaway caused fire and explosion of lithium ion battery",
  J. Power Sources 208 (2012) 210-224: SEI decomposition ~90-120 °C; PE melts ~130 °C, PP
  ~165 °C; cathode decomposition of charged layered oxides ~180-250 °C (LiFePO4 the most stable).

How the model uses them (sim_instruments/cell/thermal.py: one lumped Arrhenius exotherm):

* ``cathode_c`` is the onset of the lumped exotherm (the cathode-electrolyte reaction chain that
  carries most of the heat): ``exotherm_reference_c``, with the rate constant there chosen so that
  the adiabatic self-heating rate of the fresh cell is the ARC detection threshold, 0.02 K/min
  (:func:`arc_onset_rate_per_s`). The onset is then what an ARC run on the simulated cell would
  report, not a free rate.
* ``separator_melt_c``: the separator's collapse, where the simulated cell gets its internal short
  (``separator_melt_c`` of the preset; None for a solid electrolyte).
* ``sei_c``: reported in docs/analysis.md; not a separate reaction in the lumped model (its heat,
  a few % of the total, is inside ``exotherm_energy_j``).
"""

from __future__ import annotations

from dataclasses import dataclass

#: ARC detection threshold: adiabatic self-heating rate that defines an onset, K/s (0.02 K/min).
ARC_ONSET_K_PER_S = 0.02 / 60.0


@dataclass(frozen=True)
class AbuseOnsets:
    """Onset temperatures of one chemistry, °C, and where each comes from."""

    sei_c: float | None
    separator_melt_c: float | None
    cathode_c: float
    source: str


ONSETS: dict[str, AbuseOnsets] = {
    # NMC811/graphite-SiOx (LG M50), PE-based separator: SEI 100 (range 80-120), separator collapse
    # 150 (PE melts ~130, collapses above), NCM811 oxygen release 160 (range 150-200).
    "nmc811": AbuseOnsets(100.0, 150.0, 160.0, "[Feng2018] SEI 80-120, PE ~130, NCM811 O2 150-200; [Wang2012]"),
    # NMC622/graphite: same SEI and separator, cathode onset later than NCM811 (190 of ~180-250).
    "nmc622": AbuseOnsets(100.0, 150.0, 190.0, "[Feng2018] NCM622 above NCM811; [Wang2012] layered oxides 180-250"),
    # LFP/graphite: SEI as graphite cells; a ceramic-coated separator (the class member's choice, as
    # LFP cells for storage and EVs use) that keeps the electrodes apart after the PE base melts,
    # up to 220; olivine cathode onset 250 (>= ~250).
    "lfp": AbuseOnsets(100.0, 220.0, 250.0, "[Feng2018] LFP >= ~250, SEI 80-120; separator: ceramic-coated "
                       "(class member's assumption, not a literature figure)"),
}


def arc_onset_rate_per_s(energy_j: float, heat_capacity_j_per_k: float) -> float:
    """First-order rate constant (1/s) at the onset temperature for which a fresh cell of heat
    capacity ``heat_capacity_j_per_k`` releasing ``energy_j`` in total self-heats at the ARC
    threshold: ``k·E/C = 0.02 K/min``."""
    return ARC_ONSET_K_PER_S * heat_capacity_j_per_k / energy_j
