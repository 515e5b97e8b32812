"""Open-circuit voltage tables, OCV(SOC), for the cell presets.

Each table is a pair of tuples ``(soc, ocv_v)`` with SOC strictly increasing from 0 to 1 (SOC is the
fraction of the preset's true capacity still in the cell; 0 = OCV at the discharge cut-off,
1 = OCV at the charge cut-off). Volts at 25 °C. Linear interpolation in between.

Sources:

* ``NMC811_GRAPHITE``: full-cell OCV ``U_pos(y) - U_neg(x)`` evaluated from the published LG M50
  electrode OCP fits of Chen et al., J. Electrochem. Soc. 167 (2020) 080534, with the
  stoichiometry windows (graphite x 0.0264 -> 0.8686, NMC y 0.8575 -> 0.2639 from SOC 0 to 1)
  fitted together with the circuit parameters to the PyBaMM ``ORegan2022`` reference discharges in
  ``tests/data/reference`` (see ``docs/calibration.md``); a sub-10 mV linear correction pins the
  ends to exactly 2.5 V and 4.2 V.
* ``LFP_GRAPHITE``: a generic LFP/graphite curve: steep rise to the 3.2-3.3 V two-phase plateau with
  the graphite staging step near 60-70 % SOC, steep end of charge towards 3.6 V.
* ``LAYERED_OXIDE_GRAPHITE_POUCH``: the 60 Ah pouch's reference cell (PyBaMM ``Ecker2015``
  electrodes x 384 layers, Ecker et al., J. Electrochem. Soc. 162 (2015) A1836 / A1849: a Kokam
  pouch's layered-oxide cathode and graphite): ``U_pos(y) - U_neg(x)`` from the set's
  ``nco_ocp_Ecker2015`` / ``graphite_ocp_Ecker2015`` on PyBaMM's electrode-SOH line, SOC 0 at
  OCV 2.75 V and 1 at 4.2 V; made and written to ``tests/data/reference/ecker2015_60ah_ocv.csv``
  by ``scripts/make_fast_charge_references.py pouch-ocv`` (rounded to 0.1 mV here).
* ``NMC811_LI_METAL``: NMC811 against a lithium-metal anode (solid-state cell): the NMC curve lifted
  by the graphite potential it no longer has (about 0.1 V), 3.0-4.25 V.
"""

from __future__ import annotations

OcvTable = tuple[tuple[float, ...], tuple[float, ...]]

NMC811_GRAPHITE: OcvTable = (
    (
     0.0000, 0.0100, 0.0200, 0.0300, 0.0400, 0.0500, 0.0600, 0.0700, 0.0800, 0.0900, 0.1000,
     0.1250, 0.1500, 0.1750, 0.2000, 0.2250, 0.2500, 0.2750, 0.3000, 0.3250, 0.3500, 0.3750,
     0.4000, 0.4250, 0.4500, 0.4750, 0.5000, 0.5250, 0.5500, 0.5750, 0.6000, 0.6250, 0.6500,
     0.6750, 0.7000, 0.7250, 0.7500, 0.7750, 0.8000, 0.8250, 0.8500, 0.8750, 0.9000, 0.9200,
     0.9400, 0.9600, 0.9800, 1.0000,
    ),
    (
     2.5000, 2.7025, 2.8496, 2.9571, 3.0366, 3.0964, 3.1429, 3.1811, 3.2149, 3.2472, 3.2800,
     3.3619, 3.4231, 3.4580, 3.4804, 3.5002, 3.5214, 3.5455, 3.5717, 3.5978, 3.6218, 3.6432,
     3.6629, 3.6822, 3.7024, 3.7245, 3.7482, 3.7726, 3.7962, 3.8180, 3.8380, 3.8571, 3.8776,
     3.9029, 3.9342, 3.9647, 3.9914, 4.0166, 4.0411, 4.0634, 4.0807, 4.0911, 4.0968, 4.1026,
     4.1143, 4.1349, 4.1643, 4.2000,
    ),
)

LFP_GRAPHITE: OcvTable = (
    (0.0, 0.01, 0.02, 0.04, 0.07, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.65, 0.7, 0.8, 0.9,
     0.95, 0.97, 0.98, 0.99, 1.0),
    (2.0, 2.6, 2.9, 3.1, 3.18, 3.21, 3.23, 3.25, 3.265, 3.28, 3.29, 3.295, 3.31, 3.325, 3.33,
     3.335, 3.345, 3.37, 3.40, 3.46, 3.6),
)

LAYERED_OXIDE_GRAPHITE_POUCH: OcvTable = (
    NMC811_GRAPHITE[0],  # the same SOC grid
    (
     2.7500, 2.9608, 3.0903, 3.1872, 3.2611, 3.3180, 3.3622, 3.3970, 3.4248, 3.4475, 3.4663,
     3.5029, 3.5323, 3.5607, 3.5921, 3.6269, 3.6612, 3.6901, 3.7120, 3.7291, 3.7450, 3.7601,
     3.7710, 3.7772, 3.7809, 3.7840, 3.7876, 3.7923, 3.7985, 3.8064, 3.8163, 3.8283, 3.8427,
     3.8606, 3.8838, 3.9126, 3.9413, 3.9658, 3.9877, 4.0091, 4.0311, 4.0544, 4.0794, 4.1008,
     4.1236, 4.1479, 4.1734, 4.2000,
    ),
)

#: Graphite OCP vs Li of the same reference cell (``graphite_ocp_Ecker2015``), V, at the SOCs of
#: ``LAYERED_OXIDE_GRAPHITE_POUCH[0]``.
GRAPHITE_OCP_ECKER2015_POUCH_V: tuple[float, ...] = (
    0.8568, 0.6553, 0.5349, 0.4470, 0.3820, 0.3337, 0.2980, 0.2714, 0.2518, 0.2371, 0.2262,
    0.2093, 0.2002, 0.1935, 0.1862, 0.1774, 0.1690, 0.1629, 0.1587, 0.1540, 0.1464, 0.1367,
    0.1295, 0.1260, 0.1247, 0.1243, 0.1241, 0.1241, 0.1241, 0.1240, 0.1240, 0.1237, 0.1228,
    0.1202, 0.1136, 0.1025, 0.0923, 0.0870, 0.0851, 0.0845, 0.0843, 0.0842, 0.0842, 0.0842,
    0.0842, 0.0842, 0.0842, 0.0841,
)

NMC811_LI_METAL: OcvTable = (
    (0.0, 0.01, 0.02, 0.04, 0.07, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9,
     0.95, 1.0),
    (3.0, 3.25, 3.38, 3.48, 3.54, 3.58, 3.62, 3.65, 3.68, 3.7, 3.75, 3.8, 3.87, 3.95, 4.03,
     4.12, 4.18, 4.25),
)

# --- anode potential and entropic coefficient on the NMC811_GRAPHITE SOC grid -----------------
# Evaluated from PyBaMM 26.10's ``ORegan2022`` parameter set (O'Regan et al., Electrochim. Acta 425
# (2022) 140700: graphite OCP and both electrodes' entropic coefficients measured on LG M50 cells)
# at the stoichiometry windows of NMC811_GRAPHITE above (graphite x = 0.0264 + 0.8422·soc, NMC
# y = 0.8575 - 0.5936·soc). U_pos - U_neg reproduces NMC811_GRAPHITE to < 2 mV.

#: Graphite OCP vs Li, V, at the SOCs of NMC811_GRAPHITE[0].
GRAPHITE_OCP_NMC811_V: tuple[float, ...] = (
    1.1039, 0.9060, 0.7636, 0.6608, 0.5861, 0.5310, 0.4893, 0.4559, 0.4269, 0.3993, 0.3714,
    0.3014, 0.2522, 0.2293, 0.2189, 0.2112, 0.2021, 0.1902, 0.1764, 0.1629, 0.1519, 0.1442,
    0.1393, 0.1365, 0.1349, 0.1340, 0.1336, 0.1333, 0.1332, 0.1330, 0.1327, 0.1318, 0.1290,
    0.1215, 0.1090, 0.0988, 0.0941, 0.0926, 0.0922, 0.0921, 0.0920, 0.0920, 0.0920, 0.0920,
    0.0920, 0.0920, 0.0920, 0.0920,
)

#: Full-cell entropic coefficient dOCV/dT = dU_pos/dT - dU_neg/dT, V/K, at the same SOCs.
NMC811_GRAPHITE_ENTROPIC_V_PER_K: tuple[float, ...] = tuple(v * 1e-3 for v in (
    -0.2618, -0.3000, -0.3381, -0.3735, -0.4038, -0.4263, -0.4393, -0.4414, -0.4325, -0.4134,
    -0.3855, -0.2934, -0.1997, -0.1292, -0.0863, -0.0628, -0.0492, -0.0395, -0.0311, -0.0233,
    -0.0160, -0.0092, -0.0030, 0.0026, 0.0076, 0.0121, 0.0161, 0.0198, 0.0231, 0.0261, 0.0290,
    0.0317, 0.0342, 0.0367, 0.0392, 0.0416, 0.0440, 0.0463, 0.0487, 0.0511, 0.0537, 0.0575,
    0.0657, 0.0774, 0.0920, 0.1028, 0.1037, 0.0953,
))
