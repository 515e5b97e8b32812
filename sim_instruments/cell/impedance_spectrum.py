"""Electrochemical impedance of a cell from equivalent-circuit parameters (no I/O).

``Z(f) = R0 + j·2πf·L + Σ ZARC_k + Z_W + 1/(j·2πf·C)`` in ohms, with

* ZARC (an R in parallel with a constant-phase element): ``R / (1 + (j·ω·τ)^α)``; α = 1 is an ideal
  RC, α slightly below 1 the depressed arcs real cells show;
* a Warburg diffusion element: semi-infinite ``σ·√2/√(jω)`` (σ in Ω·s^-1/2), or, when
  ``warburg_tau_s`` is given, the bounded (transmissive) form ``σ·√2·tanh(√(jωτ))/√(jω)`` whose DC
  resistance is ``σ·√(2τ)``;
* an optional series capacitance ``C`` (the cell's differential charge capacity dQ/dOCV).

:func:`cell_impedance_ohm` builds the spectrum of a cell (any object with the cell model's
``impedance_parameters()``, see :class:`ImpedanceSource`) from the same present parameters its DC
model uses, so Re Z(high f) ≈ R0 and
Re Z(f → 0) ≈ R0 + Rct + R2 + R3 + R_diffusion = the long-pulse small-signal DC resistance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import numpy as np


class ImpedanceSource(Protocol):
    """What :func:`cell_impedance_ohm` needs of a cell: its present small-signal circuit values
    (the keys of :meth:`~sim_instruments.cell.state_view.CellStateView.impedance_parameters`).

    A structural type, so this module imports nothing of ``sim_instruments.cell`` (the cell model
    imports this module: no import cycle)."""

    def impedance_parameters(self) -> dict[str, float]: ...


def impedance_ohm(
    frequencies_hz: np.ndarray | Sequence[float],
    r0_ohm: float,
    arcs: Sequence[tuple[float, float, float]],
    warburg_sigma: float = 0.0,
    *,
    warburg_tau_s: float | None = None,
    capacitance_f: float | None = None,
    inductance_h: float = 0.0,
) -> np.ndarray:
    """Complex impedance (Ω) at ``frequencies_hz`` (Hz, > 0).

    ``arcs``: ``(r_ohm, tau_s, alpha)`` ZARC elements; ``warburg_sigma``: Warburg coefficient,
    Ω·s^-1/2; ``warburg_tau_s``: diffusion time of a bounded Warburg (None: semi-infinite);
    ``capacitance_f``: series capacitance, F (None: none); ``inductance_h``: series inductance, H.
    """
    f = np.asarray(frequencies_hz, dtype=float)
    if np.any(f <= 0.0):
        raise ValueError("frequencies must be > 0 Hz")
    w = 2.0 * math.pi * f
    jw = 1j * w
    z = np.full(f.shape, complex(r0_ohm), dtype=complex)
    if inductance_h:
        z += jw * inductance_h
    for r_ohm, tau_s, alpha in arcs:
        z += r_ohm / (1.0 + (jw * tau_s) ** alpha)
    if warburg_sigma > 0.0:
        sqrt_jw = np.sqrt(jw)
        if warburg_tau_s is None:
            z += warburg_sigma * math.sqrt(2.0) / sqrt_jw
        else:
            x = np.sqrt(jw * warburg_tau_s)
            z += warburg_sigma * math.sqrt(2.0) * np.tanh(x) / sqrt_jw
    if capacitance_f is not None and capacitance_f > 0.0:
        z += 1.0 / (jw * capacitance_f)
    return z


def warburg_sigma_for(r_dc_ohm: float, tau_s: float) -> float:
    """Warburg coefficient σ (Ω·s^-1/2) of a bounded Warburg with DC resistance ``r_dc_ohm``."""
    return r_dc_ohm / math.sqrt(2.0 * tau_s)


def cell_impedance_ohm(
    cell: ImpedanceSource, frequencies_hz: np.ndarray | Sequence[float], include_capacitance: bool = True
) -> np.ndarray:
    """Impedance spectrum (Ω) of ``cell`` in its present state (temperature, SOC, polarisation).

    The DC model's diffusion element is a first-order lag with time constant τ_d and DC resistance
    R_d; its spectrum is drawn as the bounded Warburg with the same DC resistance and the same
    low-frequency relaxation time (τ_W = 3·τ_d, matching the first moment).
    """
    p = cell.impedance_parameters()
    tau_w = 3.0 * p["diffusion_tau_s"]
    return impedance_ohm(
        frequencies_hz,
        p["r0_ohm"],
        [
            (p["rct_ohm"], p["rct_tau_s"], p["rct_alpha"]),
            (p["r2_ohm"], p["r2_tau_s"], 1.0),
            (p["r3_ohm"], p["r3_tau_s"], 1.0),
        ],
        warburg_sigma_for(p["diffusion_r_ohm"], tau_w),
        warburg_tau_s=tau_w,
        capacitance_f=p["capacitance_f"] if include_capacitance else None,
        inductance_h=p["inductance_h"],
    )
