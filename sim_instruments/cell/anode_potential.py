"""Estimate of the negative-electrode (anode) potential vs Li of the simulated cell.

The equivalent circuit has no electrodes, so the anode potential is estimated from its parts::

    phi_n = U_n(soc_surface) · (1 - m·P/(P + P_half)) - (s_ct·v_ct + s_2·v_2 + s_3·v_3 + s_d·v_d + s_0·R0·I)

* ``U_n``: the anode's open-circuit potential vs Li at the surface SOC (for NMC811/graphite the
  graphite OCP of O'Regan et al. 2022 on the full cell's stoichiometry window, see
  :data:`~sim_instruments.cell.ocv_tables.GRAPHITE_OCP_NMC811_V`);
* ``s_*``: the anode's share of each overpotential of the circuit (charge transfer, the two RC
  pairs, the diffusion RC, the ohmic drop ``R0·I``), :class:`~sim_instruments.cell.degradation.
  DegradationParameters`; what is left is the cathode's;
* ``m·P/(P + P_half)``: while plated lithium ``P`` is left, the anode sits at a mixed potential
  between ``U_n`` and 0 V (lithium metal).

It stands for the separator side of the anode, where a DFN model sees the lowest potential and
where plating starts (``phi_n < 0 V``). Volts; current positive when charging.

Tables are resampled on a uniform SOC grid (:data:`GRID_SEGMENTS` segments) so the per-sample
lookup is an index computation, not a search.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

#: Segments of the uniform SOC grid of the anode-OCP and entropic tables (1 % SOC each).
GRID_SEGMENTS = 100


def interpolate(xs: Sequence[float], ys: Sequence[float], x: float) -> float:
    """Linear interpolation in a table with increasing ``xs``; constant beyond the ends."""
    if x <= xs[0]:
        return float(ys[0])
    if x >= xs[-1]:
        return float(ys[-1])
    i = bisect_right(xs, x) - 1
    return ys[i] + (ys[i + 1] - ys[i]) * (x - xs[i]) / (xs[i + 1] - xs[i])


def uniform_table(
    xs: Sequence[float], ys: Sequence[float], segments: int = GRID_SEGMENTS
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``(values, slopes)`` of the table resampled at SOC = k/segments, k = 0..segments:
    ``y(x) ≈ values[j] + slopes[j]·(x·segments - j)`` with ``j = int(x·segments)``."""
    values = tuple(interpolate(xs, ys, k / segments) for k in range(segments + 1))
    slopes = tuple(values[k + 1] - values[k] for k in range(segments)) + (0.0,)
    return values, slopes


def lookup(values: Sequence[float], slopes: Sequence[float], soc: float) -> float:
    """Value of a :func:`uniform_table` at ``soc``; linear extrapolation of the end segments
    beyond 0..1 (the same arithmetic as the cell model's inlined lookup)."""
    n = len(values) - 1
    f = soc * n
    j = int(f) if f > 0.0 else 0
    if j >= n:
        j = n - 1
    return values[j] + slopes[j] * (f - j)


def overpotential_share_v(
    shares: tuple[float, ...],
    v_ct: float, v_2: float, v_3: float, v_d: float, ohmic_v: float,
) -> float:
    """The anode's share of the circuit's overpotentials, V (positive while charging)."""
    s_ct, s_2, s_3, s_d, s_0 = shares
    return s_ct * v_ct + s_2 * v_2 + s_3 * v_3 + s_d * v_d + s_0 * ohmic_v
