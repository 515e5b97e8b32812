"""Refit of ``nmc_21700``'s electrolyte depletion law with the kinetics and solid diffusion
(issue 30 item 2) against every PyBaMM DFN ``ORegan2022`` constant-current discharge kept in
``tests/data/reference`` (C/5, C/3, 1C, 2C at 25 °C; 2C at 0 °C; C/5, C/3, 1C, 1.5C, 2C at
-20 °C), the 10 s DCIR target and the CC-CV charge figures (:mod:`charge_calibration`).

``python -m sim_instruments.cell.electrolyte_fit`` prints the model against the DFN for every
discharge (capacity to 2.5 V, RMS of V(Q), peak temperature) with the shipped preset;
``--fit`` runs the two least-squares stages from the shipped values and prints the parameters
found (a few minutes on one core: ~0.5 s per evaluation of the ten discharges at dt 2-5 s):

1. discharge stage: the limiting current, its activation energy and depth-of-discharge factor,
   the electrolyte depletion time constant, R3 and its activation energy, the solid-diffusion gain, its two activation
   energies (time constant, gain) and the charge-transfer activation energy;
2. charge stage: the charge-direction factors (limiting-current load, near-full R2 term, R2)
   against the CC charges to 4.2 V, the anode-potential minima and the rest voltage.

Units: A, V, °C, s, Ω, J/mol.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from sim_instruments.cell.calibration import pulse_dcir_ohm
from sim_instruments.cell.charge_calibration import charge_figures
from sim_instruments.cell.discharge_runs import load_reference, rms_voltage_error_v, simulate_discharge
from sim_instruments.cell.presets import CellPreset, get_preset

log = logging.getLogger(__name__)

#: Every DFN discharge: (stem suffix, current A, ambient °C). 4.2 V -> 2.5 V from a full cell.
DISCHARGES: tuple[tuple[str, float, float], ...] = (
    ("C5_25C", 1.0, 25.0), ("C3_25C", 5.0 / 3.0, 25.0), ("1C_25C", 5.0, 25.0),
    ("2C_25C", 10.0, 25.0), ("2C_0C", 10.0, 0.0), ("C5_m20C", 1.0, -20.0),
    ("C3_m20C", 5.0 / 3.0, -20.0), ("1C_m20C", 5.0, -20.0), ("1p5C_m20C", 7.5, -20.0),
    ("2C_m20C", 10.0, -20.0),
)
#: Discharge-stage parameters: (preset field, lower bound, upper bound); searched in log space.
DISCHARGE_PARAMETERS: tuple[tuple[str, float, float], ...] = (
    ("r3_limiting_current_a", 6.0, 40.0),
    ("r3_limiting_activation_j_mol", 2000.0, 40000.0),
    ("electrolyte_tau_s", 2.0, 600.0),
    ("limiting_current_depth_factor", 0.2, 10.0),
    ("r3_ohm", 1e-4, 0.02),
    ("r3_activation_j_mol", 5000.0, 60000.0),
    ("diffusion_gain", 0.01, 2.0),
    ("diffusion_activation_j_mol", 5000.0, 80000.0),
    ("diffusion_gain_activation_j_mol", 1000.0, 60000.0),
    ("rct_activation_j_mol", 30000.0, 70000.0),
    ("diffusion_tau_s", 200.0, 5000.0),
    ("diffusion_r_ohm", 0.005, 0.1),
)
#: Charge-stage parameters (the charge-direction factors).
CHARGE_PARAMETERS: tuple[tuple[str, float, float], ...] = (
    ("limiting_current_charge_factor", 0.1, 2.0),
    ("r2_charge_high", 0.5, 40.0),
    ("r2_charge_factor", 0.1, 2.0),
)


def _dt(current_a: float) -> float:
    """Step of a fit run: 2 s from 1C up (the cold 2C ends within 72 s), 5 s below, s."""
    return 2.0 if current_a >= 5.0 else 5.0


def discharge_table(preset: CellPreset, dt_s: float | None = None) -> list[dict[str, float | str]]:
    """Model vs DFN for every discharge: capacity to 2.5 V (Ah), RMS of V(Q) over the range both
    cover (V), peak surface temperature (°C); ``dt_s`` None: the fit's steps."""
    rows: list[dict[str, float | str]] = []
    for stem, current, temp in DISCHARGES:
        ref = load_reference(f"oregan2022_dfn_lumped_{stem}")
        sim = simulate_discharge(preset, current, temp, dt_s=_dt(current) if dt_s is None else dt_s)
        rows.append({"case": stem, "current_a": current, "ambient_c": temp,
                     "capacity_ah": sim.final_capacity_ah, "capacity_ref_ah": ref.final_capacity_ah,
                     "rms_v": rms_voltage_error_v(sim, ref), "peak_c": sim.max_temperature_c,
                     "peak_ref_c": ref.max_temperature_c})
    return rows


#: The four calibration discharges (docs/calibration.md: capacity within 2 %, RMS bands).
CALIBRATION = {"C3_25C": 0.030, "1C_25C": 0.050, "C3_m20C": 0.080, "1C_m20C": 0.150}


def discharge_residuals(preset: CellPreset) -> list[float]:
    """Scaled errors (squared and summed: the cost): capacities of the calibration discharges in
    units of 1 % (half their band), of the others in units of 3 % of the DFN's C/5 capacity (the
    held-out checks allow 10 %); RMS of V(Q) in units of half the calibration band (others:
    100 mV); peak temperatures in units of 3 K; the 10 s DCIR at 25 °C in units of 1 mΩ and its
    -20 °C / 25 °C ratio in units of 0.2."""
    res: list[float] = []
    for row in discharge_table(preset):
        case = str(row["case"])
        cap, ref = float(row["capacity_ah"]), float(row["capacity_ref_ah"])
        band = CALIBRATION.get(case)
        res.append((cap - ref) / (0.01 * ref if band else 0.03 * 4.857))
        res.append(float(row["rms_v"]) / (0.5 * band if band else 0.100))
        res.append((float(row["peak_c"]) - float(row["peak_ref_c"])) / 3.0)
    d25 = pulse_dcir_ohm(preset, 25.0, dt_s=0.5)
    dm20 = pulse_dcir_ohm(preset, -20.0, dt_s=0.5)
    res += [(d25 - 0.020) / 0.001, (dm20 / d25 - 3.0) / 0.2]
    return res


def charge_residuals(preset: CellPreset) -> list[float]:
    """Scaled errors of the charge figures (dt 5 s): CC charge to 4.2 V at 0.5C / 1C / 3C
    (25 °C) and 1C (5 °C) in units of 1.5 %, anode-potential minima in units of 7.5 mV, the rest
    voltage after the 0.5C CC-CV in units of 5 mV and the self-heating in units of 15 % (half of
    each test band)."""
    fig = charge_figures(preset, dt_s=5.0)
    res: list[float] = []
    for case in ("C2_25C", "1C_25C", "3C_25C", "1C_5C"):
        res.append((fig[f"{case}_cc_charge_ah"] / fig[f"{case}_cc_charge_ah_ref"] - 1.0) / 0.015)
        res.append((fig[f"{case}_min_anode_mv"] - fig[f"{case}_min_anode_mv_ref"]) / 7.5)
        res.append((fig[f"{case}_self_heating_k"] / fig[f"{case}_self_heating_k_ref"] - 1.0) / 0.15)
    case = "C2_25C_cccv_rest1h"
    res.append((fig[f"{case}_rest_end_v"] - fig[f"{case}_rest_end_v_ref"]) / 0.005)
    return res


def fit_stage(preset: CellPreset, parameters: Sequence[tuple[str, float, float]],
              residuals: Callable[[CellPreset], list[float]], max_evaluations: int) -> CellPreset:
    """``scipy.optimize.least_squares`` (trust region, log-space parameters within their
    bounds) of ``residuals`` over ``parameters`` from ``preset``."""
    from scipy.optimize import least_squares

    names = [n for n, _, _ in parameters]
    lo = np.log([b for _, b, _ in parameters])
    hi = np.log([b for _, _, b in parameters])

    def build(x: np.ndarray) -> CellPreset:
        changes: dict[str, Any] = {n: float(v) for n, v in zip(names, np.exp(x), strict=True)}
        return replace(preset, **changes)

    best = [math.inf]

    def objective(x: np.ndarray) -> np.ndarray:
        r = np.asarray(residuals(build(x)))
        c = float(r @ r)
        if c < best[0]:
            best[0] = c
            log.info("cost %.3f %s", c, {n: f"{math.exp(v):.4g}" for n, v in zip(names, x, strict=True)})
        return r

    x0 = np.clip(np.log([getattr(preset, n) for n in names]), lo + 1e-9, hi - 1e-9)
    res = least_squares(objective, x0, bounds=(lo, hi), diff_step=0.05, max_nfev=max_evaluations,
                        x_scale=1.0)
    return build(res.x)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the model-vs-DFN table (``--fit``: refit first and print the parameters)."""
    ap = argparse.ArgumentParser(prog="python -m sim_instruments.cell.electrolyte_fit",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--fit", action="store_true", help="run the least-squares stages from the preset")
    ap.add_argument("--stage", choices=("discharge", "charge", "both"), default="both")
    ap.add_argument("--evaluations", type=int, default=40, help="most iterations per stage")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    preset = get_preset("nmc_21700")
    if args.fit:
        if args.stage in ("discharge", "both"):
            preset = fit_stage(preset, DISCHARGE_PARAMETERS, discharge_residuals, args.evaluations)
        if args.stage in ("charge", "both"):
            preset = fit_stage(preset, CHARGE_PARAMETERS, charge_residuals, args.evaluations)
        for name, _, _ in DISCHARGE_PARAMETERS + CHARGE_PARAMETERS:
            sys.stdout.write(f"{name}={getattr(preset, name):.4g}\n")
    sys.stdout.write("| discharge | DFN Ah | model Ah | diff | RMS V(Q) | peak DFN / model |\n|---|---|---|---|---|---|\n")
    for row in discharge_table(preset, dt_s=1.0):
        cap, ref = float(row["capacity_ah"]), float(row["capacity_ref_ah"])
        sys.stdout.write(f"| {row['case']} | {ref:.3f} | {cap:.3f} | {100.0 * (cap / ref - 1.0):+.1f} % | "
                         f"{1e3 * float(row['rms_v']):.0f} mV | {float(row['peak_ref_c']):.1f} / "
                         f"{float(row['peak_c']):.1f} °C |\n")
    d25 = pulse_dcir_ohm(preset, 25.0)
    sys.stdout.write(f"10 s DCIR 25 °C {1e3 * d25:.1f} mΩ, -20 °C / 25 °C {pulse_dcir_ohm(preset, -20.0) / d25:.2f}\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
