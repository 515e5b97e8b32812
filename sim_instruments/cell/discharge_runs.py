"""Constant-current reference discharges: the curve type, the reference-CSV reader, the simulated
discharge and the V(Q) error, shared by the calibrations (:mod:`sim_instruments.cell.calibration`,
:mod:`sim_instruments.cell.pouch_calibration`).

Reference CSVs (``tests/data/reference``): columns time_s, current_a (discharge positive),
voltage_v, discharge_capacity_ah, cell_temperature_c.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim_instruments.cell.model import CellModel
from sim_instruments.cell.presets import CellPreset, get_preset

#: Where the reference curves are kept in the repository.
REFERENCE_DIR = Path(__file__).resolve().parents[2] / "tests" / "data" / "reference"


@dataclass
class Discharge:
    """A simulated or reference constant-current discharge (arrays share one index).

    ``capacity_ah`` is charge discharged, Ah; ``voltage_v`` terminal voltage, V; temperatures °C.
    """

    time_s: np.ndarray
    capacity_ah: np.ndarray
    voltage_v: np.ndarray
    temperature_c: np.ndarray
    temperature_core_c: np.ndarray
    #: Surface SOC of the simulated cell (empty for a reference curve).
    surface_soc: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def final_capacity_ah(self) -> float:
        """Charge delivered to the cut-off, Ah."""
        return float(self.capacity_ah[-1])

    @property
    def max_temperature_c(self) -> float:
        """Highest (surface) temperature during the discharge, °C."""
        return float(np.max(self.temperature_c))


def load_reference(stem: str, directory: Path = REFERENCE_DIR) -> Discharge:
    """Read one reference CSV (lumped thermal: surface = core temperature)."""
    data = np.genfromtxt(directory / f"{stem}.csv", delimiter=",", skip_header=1)
    return Discharge(data[:, 0], data[:, 3], data[:, 2], data[:, 4], data[:, 4])


def simulate_discharge(
    preset: CellPreset | str,
    current_a: float,
    temperature_c: float,
    dt_s: float = 1.0,
    cutoff_v: float | None = None,
    soc: float = 1.0,
) -> Discharge:
    """CC discharge at ``current_a`` (A, discharge positive) of a cell soaked at ``temperature_c``
    in air at the same temperature, from ``soc`` to ``cutoff_v`` (default: the preset's minimum).

    The cut-off crossing is interpolated within the last step.
    """
    p = get_preset(preset) if isinstance(preset, str) else preset
    cut = p.voltage_min_v if cutoff_v is None else cutoff_v
    cell = CellModel(p, soc=soc, temperature_c=temperature_c, seed=None)
    i = -abs(current_a)
    t, q = 0.0, 0.0
    ts, qs, vs, temps, cores, surf = [], [], [], [], [], []
    v = cell.terminal_voltage_v(i)
    limit = int(50.0 * 3600.0 / dt_s)
    for _ in range(limit):
        ts.append(t)
        qs.append(q)
        vs.append(v)
        temps.append(cell.temperature_surface_c)
        cores.append(cell.temperature_core_c)
        surf.append(cell.surface_soc)
        cell.step(dt_s, i, temperature_c)
        t += dt_s
        q += abs(i) * dt_s / 3600.0
        v_new = cell.terminal_voltage_v(i)
        if v_new <= cut:
            frac = (v - cut) / (v - v_new) if v != v_new else 1.0
            ts.append(t - dt_s * (1.0 - frac))
            qs.append(q - abs(i) * dt_s / 3600.0 * (1.0 - frac))
            vs.append(cut)
            temps.append(cell.temperature_surface_c)
            cores.append(cell.temperature_core_c)
            surf.append(cell.surface_soc)
            break
        v = v_new
    return Discharge(np.array(ts), np.array(qs), np.array(vs), np.array(temps), np.array(cores),
                     np.array(surf))


def rms_voltage_error_v(sim: Discharge, ref: Discharge) -> float:
    """RMS of V_sim - V_ref over the discharged-capacity range both curves cover, V."""
    q_end = min(sim.final_capacity_ah, ref.final_capacity_ah)
    grid = np.linspace(0.0, q_end, 400)
    diff = np.interp(grid, sim.capacity_ah, sim.voltage_v) - np.interp(
        grid, ref.capacity_ah, ref.voltage_v
    )
    return float(np.sqrt(np.mean(diff**2)))
