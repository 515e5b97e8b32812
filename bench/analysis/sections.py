"""Report sections every run gets: the per-cycle table (with flags), impedance fits, ageing
(capacity checks, RPT pulse resistances, per-charge plating evidence), and their terminal lines."""

from __future__ import annotations

from typing import Any

from bench.analysis.ageing import capacity_checks, pulse_resistances
from bench.analysis.cycles import cycle_table
from bench.analysis.eis_fit import eis_summary
from bench.analysis.plating import detect_plating
from bench.runfile.reader import RunFile


def report_sections(run: RunFile) -> dict[str, Any]:
    """Report sections every run gets: ``cycles`` (per-cycle table) and, when the run holds
    impedance spectra, ``eis`` (fit and Kramers-Kronig check per spectrum)."""
    sections: dict[str, Any] = {"cycles": cycle_table(run)}
    if len(run.table("eis/spectra")):
        sections["eis"] = eis_summary(run)
    sections["ageing"] = {"capacity_checks": capacity_checks(run), "pulses": pulse_resistances(run),
                          "plating": detect_plating(run)}
    return sections


#: Cycle rows printed at the start and at the end of a long run's table (the rest summarised).
CYCLE_LINES = 10


def _cycle_line(row: dict[str, Any]) -> str:
    ce = f"{row['coulombic_efficiency']:.4f}" if row["coulombic_efficiency"] is not None else "  -   "
    t_max = f"{row['temperature_max_c']:.1f}" if row["temperature_max_c"] is not None else "-"
    return (f"         {row['cycle']:5d}  {row['charge_ah']:9.4f}  {row['discharge_ah']:12.4f}  "
            f"{row['charge_wh']:9.3f}  {row['discharge_wh']:12.3f}  {ce}  {t_max}")


def _cycles_summary(rows: list[dict[str, Any]]) -> str:
    """One line for the cycles between the first and last rows shown: ranges of Ah, CE, T max."""
    def span(key: str, fmt: str) -> str:
        values = [row[key] for row in rows if row.get(key) is not None]
        return f"{min(values):{fmt}}..{max(values):{fmt}}" if values else "-"

    return (f"         ... {len(rows)} cycles ({rows[0]['cycle']}-{rows[-1]['cycle']}): discharge "
            f"{span('discharge_ah', '.4f')} Ah, CE {span('coulombic_efficiency', '.4f')}, "
            f"T max {span('temperature_max_c', '.1f')} °C (bench report --json lists every cycle)")


def format_sections(report: dict[str, Any]) -> list[str]:
    """Terminal lines for the per-cycle table (when there is more than one cycle) and EIS fits."""
    lines: list[str] = []
    cycles = report.get("cycles") or []
    if len(cycles) > 1:
        lines.append("Cycles:  cycle  charge Ah  discharge Ah  charge Wh  discharge Wh  CE      T max °C")
        # a long loop (thousands of cycles): the first and last rows and a summary of the rest
        shown = cycles if len(cycles) <= 2 * CYCLE_LINES else cycles[:CYCLE_LINES]
        lines += [_cycle_line(row) for row in shown]
        if len(cycles) > 2 * CYCLE_LINES:
            lines.append(_cycles_summary(cycles[CYCLE_LINES:-CYCLE_LINES]))
            lines += [_cycle_line(row) for row in cycles[-CYCLE_LINES:]]
    flagged = [row for row in cycles if row.get("flags")]
    for row in flagged[:CYCLE_LINES]:
        if row.get("discharge_is_result"):
            lines.append(f"Cycle {row['cycle']}: {'; '.join(row['flags'])}: its charge and CE are not results; "
                         f"its discharge capacity ({row['discharge_ah']:.4f} Ah) is")
        else:
            lines.append(f"Cycle {row['cycle']} is not a result: {'; '.join(row['flags'])}")
    if len(flagged) > CYCLE_LINES:
        lines.append(f"... {len(flagged) - CYCLE_LINES} more cycles are not results (bench report --json lists them)")
    ageing = report.get("ageing") or {}
    checks = ageing.get("capacity_checks") or []
    if len(checks) > 1:
        lines.append("Capacity checks: " + ", ".join(f"cycle {c['cycle']} {c['capacity_ah']:.4f} Ah ({c['fade_pct']:+.2f} % fade)"
                                                    for c in checks))
    pulses = ageing.get("pulses") or []
    if pulses:
        lines.append("DC resistance (pulses): " + ", ".join(
            f"cycle {p['cycle']} {p['soc_pct'] if p['soc_pct'] is not None else '?'} % SOC {p['direction']} "
            f"{1000 * p['r_dc_ohm']:.2f} mΩ" for p in pulses[:12]) + (" ..." if len(pulses) > 12 else ""))
    plating = ageing.get("plating") or []
    if plating:
        flagged_charges = [p for p in plating if p["plating_flag"]]
        lines.append(f"Plating check: {len(plating)} charge(s) followed by a rest, {len(flagged_charges)} flagged"
                     + "".join(f"; cycle {p['cycle']} at {p['start_time_s']:.0f} s (relaxation rebound "
                               f"{p['relaxation'].get('sigma')} σ, dV/dQ {p['dvdq_next_discharge'].get('found')}, "
                               f"CE drop {p['ce_drop_vs_median']})" for p in flagged_charges[:10]))
    for entry in report.get("eis") or []:
        head = (f"EIS spectrum {entry['spectrum']} at {entry['temperature_c']} °C, SOC {100 * entry['soc']:.0f} %, "
                f"{entry['amplitude']:g} {'A' if entry['mode'] == 'galvanostatic' else 'V'} {entry['mode']}, "
                f"{entry['valid_points']}/{entry['points']} points")
        if "r0_ohm" in entry:
            head += (f": R0 = {1000 * entry['r0_ohm']:.3f} mΩ, Rct = {1000 * entry['rct_ohm']:.3f} mΩ, "
                     f"fit rms {entry['fit_rms_pct']:.3f} %")
        else:
            head += f": no fit ({entry.get('fit_error', '')})"
        if "kk_residual_max_pct" in entry:
            head += f", Kramers-Kronig max residual {entry['kk_residual_max_pct']:.2f} % " \
                    f"({'valid' if entry['kk_valid'] else 'NOT valid'})"
        lines.append(head)
    return lines
