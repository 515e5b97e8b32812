"""Charge, plating and relaxation calibration of ``nmc_21700`` against the PyBaMM DFN
``ORegan2022`` CC-CV charges (``tests/data/reference``, README in ``/work/shared/reference``).

Every reference charge starts from a rested cell at PyBaMM's ``initial_soc=0.1``; its OCV
(3.2614 V, from the ORegan2022 electrode OCPs at PyBaMM's initial stoichiometries) is where the
simulated cell starts too. SOC on the reference's scale is ``10 % + charge / 5.048 Ah``; the
simulated charges are reported on the same scale so the onset SOCs compare directly.

Used by :mod:`sim_instruments.cell.calibration` (``python -m sim_instruments.cell.calibration``
prints these figures) and ``tests/sim_instruments/test_charge_calibration.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim_instruments.cell.model import CellModel
from sim_instruments.cell.presets import CellPreset, get_preset

#: Where the reference curves are kept in the repository.
REFERENCE_DIR = Path(__file__).resolve().parents[2] / "tests" / "data" / "reference"
#: OCV of the reference cell at ``initial_soc=0.1`` (rested), V.
START_OCV_V = 3.2614
#: The reference's SOC scale: 10 % at the start, 5.048 Ah per 100 %.
REFERENCE_SOC0 = 0.10
REFERENCE_SCALE_AH = 5.048
#: CV phase ends at C/20, A.
CV_END_A = 0.25

#: Reference charges: stem -> (CC current A, ambient °C, CV hold?, rest after, s).
CHARGE_RUNS: dict[str, tuple[float, float, bool, float]] = {
    "oregan2022_dfn_lumped_charge_C2_25C": (2.5, 25.0, True, 0.0),
    "oregan2022_dfn_lumped_charge_1C_25C": (5.0, 25.0, True, 0.0),
    "oregan2022_dfn_lumped_charge_3C_25C": (15.0, 25.0, True, 0.0),
    "oregan2022_dfn_lumped_charge_1C_5C": (5.0, 5.0, True, 0.0),
    "oregan2022_dfn_lumped_charge_1C_25C_cc_rest1h": (5.0, 25.0, False, 3600.0),
    "oregan2022_dfn_lumped_charge_C2_25C_cccv_rest1h": (2.5, 25.0, True, 3600.0),
}


@dataclass
class Charge:
    """A simulated or reference charge (arrays share one index; current + = charge, A)."""

    time_s: np.ndarray
    current_a: np.ndarray
    voltage_v: np.ndarray
    charge_ah: np.ndarray
    temperature_c: np.ndarray
    anode_potential_v: np.ndarray
    #: Reversibly plated lithium, Ah (zeros for a reference: the DFN has no plating reaction).
    plated_ah: np.ndarray
    #: Index of the first sample of the CV phase or of the rest (len: no such phase).
    cc_end: int

    @property
    def soc(self) -> np.ndarray:
        """SOC on the reference's scale."""
        return REFERENCE_SOC0 + self.charge_ah / REFERENCE_SCALE_AH

    @property
    def cc_charge_ah(self) -> float:
        """Charge when the CC phase reached 4.2 V, Ah."""
        return float(self.charge_ah[self.cc_end - 1])

    def charging(self) -> np.ndarray:
        """Mask of the samples while current flows."""
        return self.current_a > 1e-9

    @property
    def min_anode_potential_v(self) -> float:
        """Lowest anode potential while charging, V."""
        return float(np.min(self.anode_potential_v[self.charging()]))

    @property
    def onset_soc(self) -> float | None:
        """SOC (reference scale) where the anode potential first reaches 0 V while charging;
        None if it never does."""
        below = np.nonzero((self.anode_potential_v <= 0.0) & self.charging())[0]
        return None if below.size == 0 else float(self.soc[below[0]])

    @property
    def self_heating_k(self) -> float:
        """Highest temperature less the start temperature, K."""
        return float(np.max(self.temperature_c) - self.temperature_c[0])


def load_charge_reference(stem: str, directory: Path = REFERENCE_DIR) -> Charge:
    """Read a reference charge CSV (PyBaMM current sign flipped: + = charge)."""
    data = np.genfromtxt(directory / f"{stem}.csv", delimiter=",", skip_header=1)
    current = -data[:, 1]
    cv = np.nonzero((data[:, 2] >= 4.2 - 1e-4) | (current < 1e-9))[0]
    cc_end = int(cv[0]) if cv.size else len(current)
    return Charge(data[:, 0], current, data[:, 2], data[:, 3], data[:, 4], data[:, 5],
                  np.zeros(len(current)), cc_end)


def start_soc(preset: CellPreset) -> float:
    """The preset's SOC at the reference's rested start OCV."""
    return float(np.interp(START_OCV_V, preset.ocv_v, preset.ocv_soc))


def simulate_charge(
    preset: CellPreset | str,
    current_a: float,
    ambient_c: float,
    cv: bool = True,
    rest_s: float = 0.0,
    dt_s: float = 1.0,
    soc: float | None = None,
    cell: CellModel | None = None,
) -> Charge:
    """CC at ``current_a`` (A) to the preset's maximum voltage, then (``cv``) hold it until C/20
    of the nominal capacity, then rest ``rest_s``; cell soaked at ``ambient_c`` in air at the same
    temperature (or the given ``cell`` as it is)."""
    p = get_preset(preset) if isinstance(preset, str) else preset
    if cell is None:
        cell = CellModel(p, soc=start_soc(p) if soc is None else soc, temperature_c=ambient_c, seed=None)
    v_max = p.voltage_max_v
    i_end = p.nominal_capacity_ah / 20.0
    rows: list[tuple[float, ...]] = []
    t, q = 0.0, 0.0
    phase, cc_end, rest_left = "cc", -1, rest_s
    for _ in range(int(48 * 3600 / dt_s)):
        if phase == "cc":
            i = current_a
            if cell.terminal_voltage_v(i) >= v_max:
                phase = "cv" if cv else "rest"
                cc_end = len(rows)
        if phase == "cv":
            i = min(current_a, cell.current_for_voltage_a(v_max, dt_s))
            if i <= i_end:
                phase = "rest"
        if phase == "rest":
            i = 0.0
            if rest_left <= 0.0:
                break
            rest_left -= dt_s
        rows.append((t, i, cell.terminal_voltage_v(i), q, cell.temperature_surface_c,
                     cell.anode_potential_v(i), cell.plated_lithium_ah))
        cell.step(dt_s, i, ambient_c)
        t += dt_s
        q += i * dt_s / 3600.0
    rows.append((t, 0.0, cell.terminal_voltage_v(0.0), q, cell.temperature_surface_c,
                 cell.anode_potential_v(0.0), cell.plated_lithium_ah))
    a = np.array(rows)
    return Charge(a[:, 0], a[:, 1], a[:, 2], a[:, 3], a[:, 4], a[:, 5], a[:, 6],
                  cc_end if cc_end >= 0 else len(rows))


def charge_figures(preset: CellPreset | str = "nmc_21700", dt_s: float = 1.0) -> dict[str, float]:
    """Simulated and reference figures of every reference charge (keys ``<case>_<figure>`` and
    ``<case>_<figure>_ref``); onset SOC NaN where 0 V is never reached."""
    fig: dict[str, float] = {}
    for stem, (current, ambient, cv, rest) in CHARGE_RUNS.items():
        case = stem.split("charge_")[1]
        sim = simulate_charge(preset, current, ambient, cv, rest, dt_s)
        ref = load_charge_reference(stem)
        for tag, run in (("", sim), ("_ref", ref)):
            onset = run.onset_soc
            fig[f"{case}_cc_charge_ah{tag}"] = run.cc_charge_ah
            fig[f"{case}_min_anode_mv{tag}"] = 1e3 * run.min_anode_potential_v
            fig[f"{case}_onset_soc{tag}"] = float("nan") if onset is None else onset
            fig[f"{case}_self_heating_k{tag}"] = run.self_heating_k
            if rest:
                fig[f"{case}_rest_end_v{tag}"] = float(run.voltage_v[-1])
        fig[f"{case}_plated_mah"] = 1e3 * float(np.max(sim.plated_ah))
    return fig


def relaxation_plateau_end_s(time_s: np.ndarray, voltage_v: np.ndarray, window_s: float = 60.0,
                             rise: float = 0.05) -> float | None:
    """Plating signature of a post-charge rest: the time (s after the rest began) at which the
    relaxation rate ``-dV/dt`` (averaged over ``window_s``) rises again by more than ``rise``
    (fraction) for two windows in a row, the end of a stripping plateau; None if it only decays
    (a rest after a charge that plated nothing). ``time_s`` / ``voltage_v``: the rest alone."""
    t = np.asarray(time_s, dtype=float)
    v = np.asarray(voltage_v, dtype=float)
    edges = np.arange(t[0], t[-1], window_s)
    if len(edges) < 4:
        return None
    vw = np.interp(edges, t, v)
    rate = -np.diff(vw) / window_s
    for k in range(1, len(rate) - 2):
        if rate[k + 1] > rate[k] * (1.0 + rise) and rate[k + 2] > rate[k] * (1.0 + rise):
            return float(edges[k + 1] - t[0])
    return None
