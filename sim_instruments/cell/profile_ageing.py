"""Fade under multi-step fast-charge profiles, against the PyBaMM DFN ``OKane2022`` references
(``tests/data/reference/okane2022_dfn_fastcharge_<profile>_<T>C.csv``, made by
``scripts/make_fast_charge_references.py``; issue 30 item 3).

Each cycle, as in the references: 1C discharge to the cut-off, 10 min rest, the profile's charge
stages (each "charge at I for t or until the maximum voltage": a stage that reaches the voltage
ends, and so do the stages after it), 10 min rest. The fade compared is the loss of the cell's
OCV capacity between the end of cycle 1 and the end of the last cycle (the DFN's eSOH
"Capacity [A.h]"; the simulated cell's :attr:`CellModel.aged_capacity_ah`): the discharge after a
70 % charge does not see it (the cell is never emptied of what it holds above the cut-off).

Run ``python -m sim_instruments.cell.calibration --profiles`` for the table of
``docs/calibration.md``. Units: A, Ah, °C, s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim_instruments.cell.model import CellModel
from sim_instruments.cell.presets import CellPreset, get_preset

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "tests" / "data" / "reference"
#: Profile name -> C-rate of each of four stages of 17.5 % of the nominal capacity (the
#: ``PROFILES`` of scripts/make_fast_charge_references.py).
PROFILES: dict[str, tuple[float, ...]] = {
    "cc1C": (1.0, 1.0, 1.0, 1.0),
    "uniform1p6C": (1.6, 1.6, 1.6, 1.6),
    "front3to1C": (3.0, 2.0, 1.5, 1.0),
    "back1to3C": (1.0, 1.5, 2.0, 3.0),
}
STAGE_FRACTION = 0.175
#: Reference cases available: (profile, ambient °C).
REFERENCE_CASES: tuple[tuple[str, float], ...] = tuple(
    (name, t) for t in (25.0, 10.0) for name in PROFILES)
#: Physics step while charging / otherwise, s.
CHARGE_DT_S = 2.0
OTHER_DT_S = 10.0


@dataclass
class ProfileAgeing:
    """Per-cycle figures of a profile-ageing run (Ah, °C, V)."""

    capacity_ah: list[float] = field(default_factory=list)
    charge_ah: list[float] = field(default_factory=list)
    max_temperature_c: list[float] = field(default_factory=list)
    min_anode_v: list[float] = field(default_factory=list)
    sei_ah: float = 0.0
    dead_lithium_ah: float = 0.0
    lam_ah: float = 0.0

    @property
    def fade_pct(self) -> float:
        """OCV-capacity loss from the end of cycle 1 to the end of the last cycle, %."""
        return 100.0 * (1.0 - self.capacity_ah[-1] / self.capacity_ah[0])


def load_profile_reference(profile: str, ambient_c: float, directory: Path = REFERENCE_DIR) -> ProfileAgeing:
    """Read one DFN reference (one row per cycle)."""
    data = np.genfromtxt(directory / f"okane2022_dfn_fastcharge_{profile}_{ambient_c:.0f}C.csv",
                         delimiter=",", skip_header=1, ndmin=2)
    out = ProfileAgeing(list(data[:, 8]), list(data[:, 2]), list(data[:, 3]), list(data[:, 4]))
    out.sei_ah = float(data[-1, 10] + data[-1, 11])
    return out


def _cc(cell: CellModel, current_a: float, stop_v: float, ambient_c: float, dt_s: float,
        duration_s: float) -> tuple[float, float, float]:
    """CC for ``duration_s`` or until the terminal voltage passes ``stop_v``; returns the charge
    moved (Ah, magnitude), the highest surface temperature (°C) and the lowest anode potential
    (V; NaN for a discharge)."""
    sign = 1.0 if current_a > 0.0 else -1.0
    q, t, t_max, phi_min = 0.0, 0.0, cell.temperature_surface_c, float("nan")
    while t < duration_s - 1e-9:
        if sign * (cell.terminal_voltage_v(current_a) - stop_v) >= 0.0:
            break
        h = min(dt_s, duration_s - t)
        if sign > 0.0:
            phi = cell.anode_potential_v(current_a)
            phi_min = phi if not phi_min <= phi else phi_min
        cell.step(h, current_a, ambient_c)
        t += h
        q += abs(current_a) * h / 3600.0
        t_max = max(t_max, cell.temperature_surface_c)
    return q, t_max, phi_min


def _rest(cell: CellModel, duration_s: float, ambient_c: float) -> None:
    for _ in range(int(round(duration_s / OTHER_DT_S))):
        cell.step(OTHER_DT_S, 0.0, ambient_c)


def simulate_profile(
    preset: CellPreset | str = "nmc_21700",
    rates: tuple[float, ...] = PROFILES["cc1C"],
    cycles: int = 15,
    ambient_c: float = 25.0,
    cell: CellModel | None = None,
) -> ProfileAgeing:
    """``cycles`` reference cycles with the charge profile ``rates`` (C-rates of equal-charge
    stages) on a fresh cell at SOC 1 in air at ``ambient_c``."""
    p = get_preset(preset) if isinstance(preset, str) else preset
    if cell is None:
        cell = CellModel(p, soc=1.0, temperature_c=ambient_c, seed=None)
    c = p.nominal_capacity_ah
    out = ProfileAgeing()
    for _ in range(cycles):
        _cc(cell, -c, p.voltage_min_v, ambient_c, OTHER_DT_S, 1e6)
        _rest(cell, 600.0, ambient_c)
        q_ch, t_max, phi_min = 0.0, -1e9, float("inf")
        for rate in rates:
            q, tm, phi = _cc(cell, rate * c, p.voltage_max_v, ambient_c, CHARGE_DT_S,
                             3600.0 * STAGE_FRACTION / rate)
            q_ch += q
            t_max = max(t_max, tm)
            phi_min = min(phi_min, phi) if phi == phi else phi_min
        _rest(cell, 600.0, ambient_c)
        out.capacity_ah.append(cell.aged_capacity_ah)
        out.charge_ah.append(q_ch)
        out.max_temperature_c.append(t_max)
        out.min_anode_v.append(phi_min)
    out.sei_ah = cell.sei_lithium_ah
    out.dead_lithium_ah = cell.dead_lithium_ah
    out.lam_ah = getattr(cell, "lam_ah", 0.0)
    return out


def profile_figures(preset: CellPreset | str = "nmc_21700", cycles: int = 15) -> dict[str, float]:
    """Fade (%), peak temperature (°C), lowest anode potential (mV) and charge accepted (Ah) of
    every reference case, simulated and reference (``_ref``), plus the spread of fade across the
    profiles at each temperature (harshest / gentlest)."""
    fig: dict[str, float] = {}
    for name, ambient in REFERENCE_CASES:
        try:
            ref = load_profile_reference(name, ambient)
        except OSError:
            continue
        sim = simulate_profile(preset, PROFILES[name], min(cycles, len(ref.capacity_ah)), ambient)
        case = f"{name}_{ambient:.0f}C"
        for tag, run in (("", sim), ("_ref", ref)):
            fig[f"{case}_fade_pct{tag}"] = run.fade_pct
            fig[f"{case}_max_temperature_c{tag}"] = max(run.max_temperature_c)
            fig[f"{case}_min_anode_mv{tag}"] = 1e3 * min(run.min_anode_v)
            fig[f"{case}_charge_ah{tag}"] = run.charge_ah[-1]
        fig[f"{case}_dead_lithium_mah"] = 1e3 * sim.dead_lithium_ah
    return fig
