"""Calibration of the ``nmc_21700`` preset against the PyBaMM ORegan2022 reference discharges.

Run ``python -m sim_instruments.cell.calibration`` from the repository root to print the table of
calibration figures (the one in ``docs/calibration.md``); ``--charge`` prints the charge /
anode-potential / plating figures, ``--fade`` the cycling-ageing fade; ``--preset nmc_pouch_60ah``
the 60 Ah pouch's figures against its own Ecker2015 DFN reference (``--fit``: re-derive its fitted
parameters; :mod:`sim_instruments.cell.pouch_calibration`). The reference CSVs live in
``tests/data/reference`` (columns: time_s, current_a (discharge positive), voltage_v,
discharge_capacity_ah, cell_temperature_c).

The functions here are used by ``tests/sim_instruments/test_calibration.py`` too.
"""

from __future__ import annotations

import argparse
import math
import sys

from sim_instruments.cell.discharge_runs import (
    REFERENCE_DIR,
    Discharge,
    load_reference,
    rms_voltage_error_v,
    simulate_discharge,
)
from sim_instruments.cell.model import CellModel
from sim_instruments.cell.presets import CellPreset, get_preset

#: The discharge-run helpers live in ``discharge_runs`` (shared with ``pouch_calibration``, which
#: this module's CLI calls); they stay importable from here.
__all__ = [
    "REFERENCE_DIR", "REFERENCE_RUNS", "Discharge", "calibration_figures", "load_reference", "main",
    "pulse_dcir_ohm", "rms_voltage_error_v", "short_circuit_figures", "simulate_discharge",
]


#: (file stem, discharge current A, ambient °C) of the four reference runs.
REFERENCE_RUNS: dict[str, tuple[float, float]] = {
    "oregan2022_dfn_lumped_1C_25C": (5.0, 25.0),
    "oregan2022_dfn_lumped_1C_m20C": (5.0, -20.0),
    "oregan2022_dfn_lumped_C3_25C": (5.0 / 3.0, 25.0),
    "oregan2022_dfn_lumped_C3_m20C": (5.0 / 3.0, -20.0),
}


def pulse_dcir_ohm(
    preset: CellPreset | str,
    temperature_c: float,
    soc: float = 0.5,
    current_a: float = 5.0,
    duration_s: float = 10.0,
    dt_s: float = 0.1,
) -> float:
    """DCIR from a simulated discharge pulse on a rested cell: (V_rest - V_end) / I, Ω."""
    p = get_preset(preset) if isinstance(preset, str) else preset
    cell = CellModel(p, soc=soc, temperature_c=temperature_c, seed=None)
    v0 = cell.terminal_voltage_v(0.0)
    i = -abs(current_a)
    for _ in range(int(round(duration_s / dt_s))):
        cell.step(dt_s, i, temperature_c)
    return (v0 - cell.terminal_voltage_v(i)) / abs(current_a)


def calibration_figures(preset: CellPreset | str = "nmc_21700", dt_s: float = 1.0) -> dict[str, float]:
    """Every calibration figure of ``docs/calibration.md``, measured on ``preset``."""
    sims = {stem: simulate_discharge(preset, i, t, dt_s) for stem, (i, t) in REFERENCE_RUNS.items()}
    refs = {stem: load_reference(stem) for stem in REFERENCE_RUNS}
    c1_25 = sims["oregan2022_dfn_lumped_1C_25C"]
    c1_m20 = sims["oregan2022_dfn_lumped_1C_m20C"]
    c3_25 = sims["oregan2022_dfn_lumped_C3_25C"]
    c3_m20 = sims["oregan2022_dfn_lumped_C3_m20C"]
    fig = {
        "capacity_1C_25C_ah": c1_25.final_capacity_ah,
        "capacity_C3_25C_ah": c3_25.final_capacity_ah,
        "capacity_1C_m20C_ah": c1_m20.final_capacity_ah,
        "capacity_C3_m20C_ah": c3_m20.final_capacity_ah,
        "retention_1C_m20C": c1_m20.final_capacity_ah / c1_25.final_capacity_ah,
        "retention_C3_m20C": c3_m20.final_capacity_ah / c3_25.final_capacity_ah,
        "self_heating_1C_m20C_k": c1_m20.max_temperature_c - (-20.0),
        "max_temperature_1C_25C_c": c1_25.max_temperature_c,
        "max_temperature_C3_m20C_c": c3_m20.max_temperature_c,
        "dcir_10s_50soc_25C_ohm": pulse_dcir_ohm(preset, 25.0),
        "dcir_10s_50soc_m20C_ohm": pulse_dcir_ohm(preset, -20.0),
    }
    fig["dcir_ratio_m20C_to_25C"] = fig["dcir_10s_50soc_m20C_ohm"] / fig["dcir_10s_50soc_25C_ohm"]
    for stem in REFERENCE_RUNS:
        fig[f"rms_{stem.split('lumped_')[1]}_v"] = rms_voltage_error_v(sims[stem], refs[stem])
    return fig


def short_circuit_figures(
    preset: CellPreset | str, resistance_ohm: float, duration_s: float = 7200.0, dt_s: float = 1.0
) -> dict[str, float]:
    """Internal short of ``resistance_ohm`` on a full cell at 25 °C (air 25 °C), held for
    ``duration_s``: peak core / surface temperature (°C), fastest surface heating (K/s), time to
    runaway onset (s, NaN if none), final voltage (V), SOC drained and runaway flag (0/1)."""
    p = get_preset(preset) if isinstance(preset, str) else preset
    cell = CellModel(p, soc=1.0, temperature_c=25.0, seed=None)
    cell.set_internal_short(resistance_ohm)
    peak_core = peak_surface = 25.0
    max_rate = 0.0
    onset = math.nan
    t = 0.0
    for _ in range(int(round(duration_s / dt_s))):
        before = cell.temperature_surface_c
        cell.step(dt_s, 0.0, 25.0)
        t += dt_s
        max_rate = max(max_rate, (cell.temperature_surface_c - before) / dt_s)
        peak_core = max(peak_core, cell.temperature_core_c)
        peak_surface = max(peak_surface, cell.temperature_surface_c)
        if cell.runaway and math.isnan(onset):
            onset = t
    return {
        "peak_core_c": peak_core,
        "peak_surface_c": peak_surface,
        "max_surface_rate_k_per_s": max_rate,
        "runaway_onset_s": onset,
        "final_voltage_v": cell.terminal_voltage_v(0.0),
        "soc_drained": 1.0 - cell.soc,
        "runaway": 1.0 if cell.runaway else 0.0,
    }


def _format_table(fig: dict[str, float]) -> str:
    lines = ["| figure | value |", "|---|---|"]
    for key, value in fig.items():
        lines.append(f"| {key} | {value:.4g} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command line: print the calibration figures (discharge by default; ``--charge``: the
    ORegan2022 charges, anode potential and plating; ``--fade``: the OKane2022 cycling fade;
    ``--short-ohm``: internal-short figures)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="nmc_21700")
    parser.add_argument("--short-ohm", type=float, default=None,
                        help="instead: internal-short figures for this resistance (ohm)")
    parser.add_argument("--charge", action="store_true",
                        help="instead: the CC-CV charge / anode-potential / plating figures")
    parser.add_argument("--fade", action="store_true",
                        help="instead: fade over the OKane2022 reference's 120 cycles")
    parser.add_argument("--fast-charge-cycles", type=int, default=None, metavar="N",
                        help="instead: N 5C fast-charge ageing cycles (10 -> 80 %%) at --ambient")
    parser.add_argument("--ambient", type=float, default=25.0, help="ambient for --fast-charge-cycles, °C")
    parser.add_argument("--profiles", action="store_true",
                        help="instead: fade per charge profile vs the OKane2022 DFN references")
    parser.add_argument("--bounds", action="store_true",
                        help="instead: share of each calibration case's time on each model bound")
    parser.add_argument("--fit", action="store_true",
                        help="nmc_pouch_60ah only: re-fit its circuit to its Ecker2015 DFN reference")
    args = parser.parse_args(argv)
    preset = get_preset(args.preset)
    if args.fit and args.preset != "nmc_pouch_60ah":
        parser.error("--fit: only the nmc_pouch_60ah preset has a fit here (nmc_21700: docs/calibration.md)")
    if args.short_ohm is not None:
        sys.stdout.write(_format_table(short_circuit_figures(preset, args.short_ohm)))
        return 0
    if args.charge:
        from sim_instruments.cell.charge_calibration import charge_figures

        sys.stdout.write(_format_table(charge_figures(preset)))
        return 0
    if args.fast_charge_cycles is not None:
        from sim_instruments.cell.ageing_calibration import fast_charge_ageing

        sys.stdout.write(_format_table(fast_charge_ageing(preset, args.fast_charge_cycles, args.ambient)))
        return 0
    if args.profiles:
        from sim_instruments.cell.profile_ageing import profile_figures

        sys.stdout.write(_format_table(profile_figures(preset)))
        return 0
    if args.bounds:
        from sim_instruments.cell.clamp_report import clamp_report

        table = {f"{case}: {bound}": share for case, shares in clamp_report(preset).items()
                 for bound, share in shares.items()}
        sys.stdout.write(_format_table(table))
        return 0
    if args.fade:
        from sim_instruments.cell.ageing_calibration import fade_figures

        sys.stdout.write(_format_table(fade_figures(preset)))
        return 0
    if args.preset == "nmc_pouch_60ah":
        from sim_instruments.cell.pouch_calibration import fit_pouch, pouch_figures

        sys.stdout.write(_format_table(fit_pouch(preset) if args.fit else pouch_figures(preset)))
        return 0
    sys.stdout.write(_format_table(calibration_figures(preset)))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
