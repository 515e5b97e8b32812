"""Open-circuit voltage tables, OCV(SOC), for the cell presets.

Each table is a pair of tuples ``(soc, ocv_v)`` with SOC strictly increasing from 0 to 1 (SOC is the
fraction of the preset's true capacity still in the cell; 0 = OCV at the discharge cut-off,
1 = OCV at the charge cut-off). Volts at 25 °C. Linear interpolation in between.

Sources:

* ``NMC811_GRAPHITE``: shape fitted so that the ``nmc_21700`` preset reproduces the reference
  C/3, 25 °C discharge curve of the PyBaMM ``ORegan2022`` parameter set (LG M50 21700) shipped in
  ``tests/data/reference`` (fit: ``python -m sim_instruments.cell.calibration --fit-ocv``). The knee
  below 5 % SOC (graphite fully delithiated) is extrapolated to 2.5 V at SOC 0.
* ``LFP_GRAPHITE``: a generic LFP/graphite curve: steep rise to the 3.2-3.3 V two-phase plateau with
  the graphite staging step near 60-70 % SOC, steep end of charge towards 3.6 V.
* ``NMC622_GRAPHITE_POUCH``: generic NMC622/graphite large-format curve (2.75-4.2 V).
* ``NMC811_LI_METAL``: NMC811 against a lithium-metal anode (solid-state cell): the NMC curve lifted
  by the graphite potential it no longer has (about 0.1 V), 3.0-4.25 V.
"""

from __future__ import annotations

OcvTable = tuple[tuple[float, ...], tuple[float, ...]]

NMC811_GRAPHITE: OcvTable = (
    (0.0, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5,
     0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.98, 1.0),
    (2.5, 2.75, 2.9, 3.1, 3.1941, 3.2366, 3.3121, 3.3967, 3.4487, 3.5138, 3.5482, 3.5772,
     3.6126, 3.6468, 3.6842, 3.7365, 3.8026, 3.8635, 3.9153, 3.9605, 4.0094, 4.055, 4.0931,
     4.1096, 4.1412, 4.2),
)

LFP_GRAPHITE: OcvTable = (
    (0.0, 0.01, 0.02, 0.04, 0.07, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.65, 0.7, 0.8, 0.9,
     0.95, 0.97, 0.98, 0.99, 1.0),
    (2.0, 2.6, 2.9, 3.1, 3.18, 3.21, 3.23, 3.25, 3.265, 3.28, 3.29, 3.295, 3.31, 3.325, 3.33,
     3.335, 3.345, 3.37, 3.40, 3.46, 3.6),
)

NMC622_GRAPHITE_POUCH: OcvTable = (
    (0.0, 0.01, 0.02, 0.04, 0.07, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9,
     0.95, 1.0),
    (2.75, 3.0, 3.2, 3.35, 3.43, 3.48, 3.53, 3.57, 3.6, 3.62, 3.66, 3.71, 3.79, 3.87, 3.95,
     4.05, 4.11, 4.2),
)

NMC811_LI_METAL: OcvTable = (
    (0.0, 0.01, 0.02, 0.04, 0.07, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9,
     0.95, 1.0),
    (3.0, 3.25, 3.38, 3.48, 3.54, 3.58, 3.62, 3.65, 3.68, 3.7, 3.75, 3.8, 3.87, 3.95, 4.03,
     4.12, 4.18, 4.25),
)
