"""Cycling-ageing calibration against the PyBaMM DFN ``OKane2022`` reference
(``tests/data/reference/okane2022_dfn_ageing_S1_0p3C_25C.csv``; README in
``/work/shared/reference``) and a fast-charge ageing run.

Reference cycle (25 °C ambient): 1C discharge to 2.5 V, 10 min rest, 0.3C CC to 4.2 V, CV to
C/50, 10 min rest; 120 cycles from a fresh cell at 4.2 V. :func:`simulate_cycling` runs the same
cycle on the simulated cell (exact for constant current, so steps of 10 s are used) and returns
the discharge capacity of every cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim_instruments.cell.model import CellModel
from sim_instruments.cell.presets import CellPreset, get_preset

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "tests" / "data" / "reference"
OKANE_STEM = "okane2022_dfn_ageing_S1_0p3C_25C"
#: Longest step of a CV hold, s.
CV_STEP_S = 2.0


@dataclass
class Cycling:
    """Per-cycle results of a cycling run (Ah, °C)."""

    discharge_capacity_ah: list[float] = field(default_factory=list)
    max_temperature_c: list[float] = field(default_factory=list)
    plated_max_ah: list[float] = field(default_factory=list)
    dead_lithium_ah: float = 0.0
    sei_ah: float = 0.0

    def fade(self) -> np.ndarray:
        """Fade of each cycle's discharge capacity vs cycle 1, fraction."""
        q = np.asarray(self.discharge_capacity_ah)
        return 1.0 - q / q[0]


def load_okane_reference(directory: Path = REFERENCE_DIR) -> np.ndarray:
    """Discharge capacity (Ah) of each reference cycle."""
    data = np.genfromtxt(directory / f"{OKANE_STEM}.csv", delimiter=",", skip_header=1)
    return data[:, 1]


def _cc(cell: CellModel, current_a: float, until_v: float, ambient_c: float, dt_s: float,
        out: Cycling | None = None) -> float:
    """CC until the terminal voltage passes ``until_v``; returns |charge| moved, Ah."""
    q = 0.0
    t_max = cell.temperature_surface_c
    plated = 0.0
    sign = 1.0 if current_a > 0.0 else -1.0
    v = cell.terminal_voltage_v(current_a)
    dq = abs(current_a) * dt_s / 3600.0
    for _ in range(int(20 * 3600 / dt_s)):
        if sign * (v - until_v) >= 0.0:
            break
        cell.step(dt_s, current_a, ambient_c)
        v_new = cell.terminal_voltage_v(current_a)
        t_max = max(t_max, cell.temperature_surface_c)
        plated = max(plated, cell.plated_lithium_ah)
        if sign * (v_new - until_v) >= 0.0:  # crossed within this step: interpolate the charge
            q += dq * (until_v - v) / (v_new - v)
            break
        q += dq
        v = v_new
    if out is not None:
        out.max_temperature_c.append(t_max)
        out.plated_max_ah.append(plated)
    return q


def _cv(cell: CellModel, voltage_v: float, current_max_a: float, until_a: float, ambient_c: float,
        dt_s: float) -> float:
    """Hold ``voltage_v`` (current capped at ``current_max_a``) until it falls to ``until_a``.

    Steps of at most :data:`CV_STEP_S`: like a cycler's voltage loop (and the simulated bench's
    1 s physics steps), the hold recomputes its current faster than the cell's RC elements
    move; 10 s steps would let the near-full charge polarisation make the loop oscillate."""
    q = 0.0
    dt_s = min(dt_s, CV_STEP_S)
    for _ in range(int(20 * 3600 / dt_s)):
        i = min(current_max_a, cell.current_for_voltage_a(voltage_v, dt_s))
        if i <= until_a:
            break
        cell.step(dt_s, i, ambient_c)
        q += i * dt_s / 3600.0
    return q


def _rest(cell: CellModel, duration_s: float, ambient_c: float, dt_s: float) -> None:
    for _ in range(int(round(duration_s / dt_s))):
        cell.step(dt_s, 0.0, ambient_c)


def simulate_cycling(
    preset: CellPreset | str = "nmc_21700",
    cycles: int = 120,
    ambient_c: float = 25.0,
    charge_c_rate: float = 0.3,
    discharge_c_rate: float = 1.0,
    cv_end_c_rate: float = 1.0 / 50.0,
    rest_s: float = 600.0,
    dt_s: float = 10.0,
    cell: CellModel | None = None,
) -> Cycling:
    """The reference cycle (defaults) ``cycles`` times on a fresh cell rested at SOC 1."""
    p = get_preset(preset) if isinstance(preset, str) else preset
    if cell is None:
        cell = CellModel(p, soc=1.0, temperature_c=ambient_c, seed=None)
    c = p.nominal_capacity_ah
    out = Cycling()
    for _ in range(cycles):
        out.discharge_capacity_ah.append(_cc(cell, -discharge_c_rate * c, p.voltage_min_v, ambient_c, dt_s))
        _rest(cell, rest_s, ambient_c, dt_s)
        _cc(cell, charge_c_rate * c, p.voltage_max_v, ambient_c, dt_s, out)
        _cv(cell, p.voltage_max_v, charge_c_rate * c, cv_end_c_rate * c, ambient_c, dt_s)
        _rest(cell, rest_s, ambient_c, dt_s)
    out.dead_lithium_ah = cell.dead_lithium_ah
    out.sei_ah = cell.sei_lithium_ah
    return out


def fade_figures(preset: CellPreset | str = "nmc_21700", dt_s: float = 10.0) -> dict[str, float]:
    """Fade after the reference's cycle count (simulated and reference), and the shape checks:
    the number of cycles whose capacity rose (monotonic: 0) and the share of the total fade in
    the first half of the cycles (front-loaded: > 0.5)."""
    ref = load_okane_reference()
    n = len(ref)
    sim = simulate_cycling(preset, cycles=n, dt_s=dt_s)
    q = np.asarray(sim.discharge_capacity_ah)
    fade = sim.fade()
    ref_fade = 1.0 - ref / ref[0]
    half = n // 2
    return {
        "cycles": float(n),
        "capacity_cycle1_ah": float(q[0]),
        "fade_last_pct": 100.0 * float(fade[-1]),
        "fade_last_pct_ref": 100.0 * float(ref_fade[-1]),
        "cycles_with_capacity_rise": float(np.sum(np.diff(q) > 1e-6)),
        "cycles_with_capacity_rise_ref": float(np.sum(np.diff(ref) > 1e-6)),
        "first_half_share_of_fade": float(fade[half] / fade[-1]),
        "first_half_share_of_fade_ref": float(ref_fade[half] / ref_fade[-1]),
        "sei_ah": sim.sei_ah,
        "dead_lithium_ah": sim.dead_lithium_ah,
    }


def fast_charge_ageing(
    preset: CellPreset | str = "xfc_nmc_pouch",
    cycles: int = 500,
    ambient_c: float = 25.0,
    charge_c_rate: float = 5.0,
    soc_end: float = 0.8,
) -> dict[str, float]:
    """A fast-charge ageing run of the simulated cell alone: ``cycles`` x (CC at ``charge_c_rate``
    to the maximum voltage, CV there, until ``soc_end``; 10 min rest; 1C discharge to the cut-off;
    10 min rest) at ``ambient_c``, with a 25 °C capacity check (C/3 after a 0.5C CC-CV to C/20 and
    1 h rest) before and after. Returns the capacities (Ah), fade (%), SEI / dead / peak plated
    lithium (mAh), resistance factor and equivalent cycles."""
    p = get_preset(preset) if isinstance(preset, str) else preset
    c = p.nominal_capacity_ah
    cell = CellModel(p, soc=0.5, temperature_c=25.0, seed=None)

    def check() -> float:
        _cc(cell, -c / 3.0, p.voltage_min_v, 25.0, 10.0)
        _rest(cell, 3600.0, 25.0, 10.0)
        _cc(cell, 0.5 * c, p.voltage_max_v, 25.0, 10.0)
        _cv(cell, p.voltage_max_v, 0.5 * c, c / 20.0, 25.0, 10.0)
        _rest(cell, 3600.0, 25.0, 10.0)
        q = _cc(cell, -c / 3.0, p.voltage_min_v, 25.0, 10.0)
        _rest(cell, 3600.0, ambient_c, 10.0)
        return q

    q0 = check()
    i_fast = charge_c_rate * c
    plated = 0.0
    for _ in range(cycles):
        for _ in range(1800):  # 2 s steps, at most 1 h
            if cell.charge_content_ah >= soc_end * cell.aged_capacity_ah:
                break
            i = i_fast
            if cell.terminal_voltage_v(i) >= p.voltage_max_v:
                i = min(i_fast, cell.current_for_voltage_a(p.voltage_max_v, 2.0))
            cell.step(2.0, i, ambient_c)
            plated = max(plated, cell.plated_lithium_ah)
        _rest(cell, 600.0, ambient_c, 10.0)
        _cc(cell, -c, p.voltage_min_v, ambient_c, 10.0)
        _rest(cell, 600.0, ambient_c, 10.0)
    q1 = check()
    return {
        "capacity_before_ah": q0, "capacity_after_ah": q1, "fade_pct": 100.0 * (1.0 - q1 / q0),
        "sei_mah": 1e3 * cell.sei_lithium_ah, "dead_lithium_mah": 1e3 * cell.dead_lithium_ah,
        "plated_peak_mah": 1e3 * plated, "resistance_factor": cell.resistance_factor,
        "equivalent_cycles": cell.equivalent_cycles,
    }
