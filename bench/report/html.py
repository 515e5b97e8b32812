"""``bench report RUN.h5 --html DIR``: a self-contained report page with PNG plots.

``DIR/index.html`` holds the verdict, each headline claim written out with the conditions it was
measured under (rate, cut-off, soak, chamber temperature, cooling), the pass criteria, all
metrics and conditions, the per-cycle table, the impedance fits and the safety events. Plots
(PNG, rendered offscreen with pyqtgraph): ``overview.png`` (voltage, current, temperatures vs
time, capacity per cycle and Nyquist when the run has them: the plots package's run view),
``capacity.png`` (charge and discharge capacity per cycle, axis from 0), ``nyquist.png`` (every
spectrum with its circuit fit, equal scales, frequency markers) and ``dqdv.png`` (the last full
discharge, or the step ``--dqdv`` names). Every figure is also written as SVG beside its PNG.
Without Qt the page is written without plots and says why.
"""

from __future__ import annotations

import html
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")


def write_html_report(run_path: str | Path, out_dir: str | Path, report: dict[str, Any], *,
                      dqdv: dict[str, Any] | None = None) -> Path:
    """Write ``out_dir/index.html`` (+ PNGs) for the run at ``run_path``; returns the page's path.

    ``report`` is :func:`bench.report.verdict.build_report`'s object; ``dqdv`` the optional curve of
    :func:`bench.analysis.cycles.dqdv`. Raises OSError naming the directory when it cannot be written.
    """
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"{out}: cannot create the report directory ({exc.strerror})") from None
    figures, problem = _figures(Path(run_path), out, report, dqdv)
    page = out / "index.html"
    page.write_text(_page(report, figures, problem, dqdv), encoding="utf-8")
    return page


# -- claims: each headline number with its conditions -----------------------------------------------
def claims(report: dict[str, Any]) -> list[str]:
    """Sentences stating each headline result with the conditions it was measured under."""
    m, c = report.get("metrics", {}), report.get("conditions", {})
    out: list[str] = []
    cooling = c.get("cooling") or "not stated"
    if m.get("retention_pct") is not None and "reference_discharge" in c:
        ref, cold, soak = c["reference_discharge"], c["cold_discharge"], c.get("cold_soak", {})
        within = soak.get("time_to_within_2k_s")
        out.append(
            f"Capacity retention {m['retention_pct']:.1f} % = {m['capacity_cold_ah']:.3f} Ah at "
            f"{cold['chamber_setpoint_c']:g} °C / {m['capacity_reference_ah']:.3f} Ah at {ref['chamber_setpoint_c']:g} °C; "
            f"both discharged at {ref['current_a']:g} A ({_c(ref)}) to {ref['cutoff_v']} V and {cold['cutoff_v']} V; "
            f"cold discharge after a {_hours(soak.get('duration_s'))} soak at {soak.get('setpoint_c', cold['chamber_setpoint_c']):g} °C "
            f"(cell within 2 K of it after {_hours(within) if within is not None else 'never'}); cell "
            f"{m.get('cell_temperature_min_c')} to {m.get('cell_temperature_max_c')} °C during the cold discharge; "
            f"cooling: {cooling}.")
    fast = c.get("fast_charge")
    if isinstance(fast, dict) and ("time_10_80_s" in m or "time_20_80_s" in m):
        stages = "; ".join(f"{s['step']} (mean {s['mean_current_a']} A, ended at {s['end']})" for s in fast["stages"])
        times = ", ".join(f"{label} {_minutes(m.get(key))}" for label, key in
                          (("10->80 %", "time_10_80_s"), ("20->80 %", "time_20_80_s")) if m.get(key) is not None)
        out.append(
            f"Fast charge {times or '(80 % not reached)'}; {m.get('charge_ah')} Ah / {m.get('charge_wh')} Wh in; "
            f"cell up to {m.get('temperature_max_c')} °C (rise {m.get('temperature_rise_k')} K); stages: {stages}; "
            f"chamber {fast.get('chamber_setpoint_c')} °C; SOC basis: {c.get('soc_basis')}; cooling: {cooling}.")
    if m.get("fade_pct") is not None:
        out.append(f"Capacity fade {m['fade_pct']:.2f} % from {m.get('capacity_first_check_ah')} Ah to "
                   f"{m.get('capacity_last_check_ah')} Ah over {m.get('fast_charges')} fast charges "
                   f"(capacity checks: {', '.join(str(x['step']) for x in c.get('capacity_checks', [])[:1])}).")
    for entry in report.get("eis") or []:
        if "r0_ohm" in entry:
            kk = entry.get("kk_residual_max_pct")
            out.append(
                f"Impedance spectrum {entry['spectrum']}: R0 {1000 * entry['r0_ohm']:.3f} mΩ, charge transfer "
                f"{1000 * entry['rct_ohm']:.3f} mΩ (fit rms {entry['fit_rms_pct']:.3f} %), at {entry['temperature_c']} °C, "
                f"SOC {100 * entry['soc']:.0f} %, {entry['frequency_max_hz']:g}-{entry['frequency_min_hz']:g} Hz, "
                f"{entry['amplitude']:g} {'A' if entry['mode'] == 'galvanostatic' else 'V'} {entry['mode']}; "
                f"Kramers-Kronig max residual {kk} % ({'valid' if entry.get('kk_valid') else 'not valid'}).")
    if not out and m.get("discharge_capacity_ah") is not None:
        out.append(f"Discharge capacity {m['discharge_capacity_ah']} Ah at {c.get('discharge_current_a')} A "
                   f"({c.get('discharge_step')}, ended at {c.get('discharge_end')}); chamber setpoints "
                   f"{c.get('chamber_setpoints_c')} °C; cooling: {cooling}.")
    return out


def _c(discharge: dict[str, Any]) -> str:
    rate = discharge.get("c_rate")
    return f"{rate:g}C" if isinstance(rate, (int, float)) else "C-rate unknown"


def _hours(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "?"
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def _minutes(seconds: Any) -> str:
    return f"{seconds / 60:.1f} min ({seconds:.0f} s)" if isinstance(seconds, (int, float)) else "n/a"


# -- figures ---------------------------------------------------------------------------------------
#: One plotted series: (x, y, legend, symbol or None for a line, colour index).
XySeries = tuple[list, list, str, str | None, int]


def _figures(run_path: Path, out: Path, report: dict[str, Any],
             dqdv: dict[str, Any] | None) -> tuple[list[tuple[str, str]], str]:
    """Render the PNGs; returns ([(file name, caption)], problem text or "")."""
    try:
        from bench.plot.render import qt_app, render_png

        qt_app(offscreen=True)
    except Exception as exc:  # noqa: BLE001 - no Qt: the page is still useful without plots
        logger.warning("report plots skipped: %s", exc)
        return [], f"plots not rendered: {exc}"
    figures: list[tuple[str, str]] = []
    render_png(run_path, out / "overview.png", width=1400, height=900, svg=True)
    figures.append(("overview.png", "Voltage, current and temperatures vs test time"
                    + ("; capacity per cycle" if report.get("cycles") else "")
                    + ("; Nyquist" if report.get("eis") else "")))
    # a discharge capacity is a result whether or not the charge before it was full; a charge
    # (and CE) only in a closed cycle (flagged cycles: CE > 1 or more than the rated capacity)
    rows = report.get("cycles") or []
    discharges = [r for r in rows if r.get("discharge_is_result", not r.get("flags")) and r["discharge_ah"] > 1e-6]
    charges = [r for r in rows if r["charge_ah"] > 1e-6 and not r.get("flags")]
    if discharges or charges:
        series: list[XySeries] = [([r["cycle"] for r in discharges], [r["discharge_ah"] for r in discharges],
                                   "discharge", "o", 1),
                                  ([r["cycle"] for r in charges], [r["charge_ah"] for r in charges], "charge", "t", 0)]
        _xy_png(out / "capacity.png", [s for s in series if s[0]], "Cycle / 1", "Capacity / Ah", "Capacity per cycle",
                integer_x=True, y_from_zero=True)
        left_out = len(rows) - len({r["cycle"] for r in discharges} | {r["cycle"] for r in charges})
        flagged = [r["cycle"] for r in rows if r.get("flags")]
        figures.append(("capacity.png", "Charge and discharge capacity per cycle (coulomb counted, Ah; axis from 0)"
                        + (f"; cycle(s) {', '.join(map(str, flagged))} not closed: their charge is not plotted"
                           if flagged else "")
                        + (f"; {left_out} rest-only or summed cycle(s) left out" if left_out > 0 else "")))
    ageing = report.get("ageing") or {}
    checks = ageing.get("capacity_checks") or []
    if len(checks) >= 2:  # fade needs a second check to compare with the first
        series = [([c["cycle"] for c in checks], [100.0 - (c["fade_pct"] or 0.0) for c in checks],
                   "capacity check, % of the first", "o", 0)]
        plated = [p for p in ageing.get("plating") or [] if p["plating_flag"]]
        if plated:
            series.append(([p["cycle"] for p in plated], [100.0] * len(plated), "plating flagged (charge)", "x", 1))
        _xy_png(out / "fade.png", series, "Cycle / 1", "Capacity / % of the first check", "Fade and plating events",
                integer_x=True)
        figures.append(("fade.png", "Capacity of each capacity check relative to the first (fade curve); charges "
                        "the plating detector flagged, at their cycle (x)"))
    drive = _drive_cycles(report.get("conditions") or {})
    if drive:
        _xy_png(out / "drive_cycles.png", drive, "Drive cycle / 1", "Energy / mWh", "Energy per drive cycle",
                integer_x=True, y_from_zero=True)
        figures.append(("drive_cycles.png", "Net energy the cell delivered in each drive cycle (one pass of the "
                        "replayed profile) to the cut-off, per chamber temperature; the last cycle is partial"))
    spectra = _spectra(run_path, report)
    if spectra:
        series = []
        marks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for n, (record, fit) in enumerate(spectra):
            z = record["z_ohm"] * 1000.0
            label = f"#{record['spectrum']} {record['temperature_c']:.0f} °C"
            series.append((z.real.tolist(), (-z.imag).tolist(), label, "o", n))
            if fit is not None:
                series.append((fit.real.tolist(), (-fit.imag).tolist(), f"{label} fit", None, n))
        last = spectra[-1][0]
        marks.append((last["z_ohm"].real * 1000.0, -last["z_ohm"].imag * 1000.0, np.asarray(last["frequencies_hz"])))
        _xy_png(out / "nyquist.png", series, "Z' / mΩ", "-Z'' / mΩ", "Impedance (Nyquist) with circuit fits",
                equal_axes=True, frequency_marks=marks)
        figures.append(("nyquist.png", "Impedance spectra (points) and R0 + L + 2 R||CPE + Warburg fits (lines)"))
    if dqdv is not None:
        _xy_png(out / "dqdv.png", [(dqdv["voltage_v"], dqdv["dqdv_ah_per_v"], dqdv["direction"], None, 0)],
                "Voltage / V", "dQ/dV / (Ah/V)", f"dQ/dV of step {dqdv['step_count']}: {dqdv['text']}")
        figures.append(("dqdv.png", f"Incremental capacity, {dqdv['bin_v'] * 1000:g} mV bins"))
    return figures, ""


def _drive_cycles(conditions: dict[str, Any]) -> list[XySeries]:
    """Wh per drive cycle of the warm and cold replays (cold_range analysis), one series each."""
    series: list[XySeries] = []
    for n, name in enumerate(("warm_replay", "cold_replay")):
        replay = conditions.get(name)
        if not isinstance(replay, dict):
            continue
        wh = replay.get("wh_per_drive_cycle")
        if wh:
            series.append((list(range(1, len(wh) + 1)), [1000.0 * x for x in wh],  # mWh: no axis multiplier
                           f"{replay.get('chamber_setpoint_c')} °C chamber",
                           "o", n))
    return series


def _spectra(run_path: Path, report: dict[str, Any]) -> list[tuple[dict[str, Any], np.ndarray | None]]:
    """Stored spectra with their fitted circuit (the report's ``eis`` entries) on a dense grid."""
    from bench.analysis.eis_fit import model_impedance, spectra
    from bench.runfile.reader import RunFile

    with RunFile(run_path) as run:
        records = spectra(run)
    fits = {entry["spectrum"]: entry for entry in report.get("eis") or [] if "r0_ohm" in entry}
    out: list[tuple[dict[str, Any], np.ndarray | None]] = []
    for record in records:
        fit = fits.get(record["spectrum"])
        f = record["frequencies_hz"][np.isfinite(record["z_ohm"].real)]
        if fit is None or f.size < 2:
            out.append((record, None))
            continue
        params = np.array([fit[k] for k in ("r0_ohm", "inductance_h", "rct_ohm", "tau_ct_s", "alpha_ct", "r2_ohm",
                                            "tau2_s", "alpha2", "warburg_sigma")], dtype=float)
        out.append((record, model_impedance(params, np.geomspace(f.max(), f.min(), 200)) * 1000.0))
    return out


def _xy_png(path: Path, series: list[XySeries], xlabel: str, ylabel: str,
            title: str, *, equal_axes: bool = False, width: int = 900, integer_x: bool = False,
            y_from_zero: bool = False,
            frequency_marks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None) -> None:
    """One XY plot to ``path`` (PNG) and beside it as SVG: ``series`` of (x, y, legend, symbol or
    None for a line, colour index). ``integer_x``: whole-number ticks (cycles); ``y_from_zero``:
    the y axis starts at 0 (capacity); ``frequency_marks``: (Z', -Z'', f) curves whose decade
    points get a frequency label (Nyquist)."""
    import pyqtgraph as pg
    import pyqtgraph.exporters  # noqa: F401 - registers the exporters
    from pyqtgraph.Qt import QtCore, QtWidgets

    from bench.plot.axes import IntegerAxis, capacity_range, label_frequencies
    from bench.plot.render import save_svg

    pg.setConfigOptions(background="w", foreground="k", antialias=True)
    plot = pg.PlotWidget(axisItems={"bottom": IntegerAxis("bottom")} if integer_x else None)
    plot.setAttribute(QtCore.Qt.WidgetAttribute.WA_DontShowOnScreen, True)
    plot.resize(width, int(width * 0.62))
    plot.show()  # lays the plot out (never on screen), so the export has the widget's proportions
    item = plot.getPlotItem()
    item.setTitle(title)
    item.setLabel("bottom", xlabel)
    item.setLabel("left", ylabel)
    item.showGrid(x=True, y=True, alpha=0.25)
    item.addLegend(offset=(-10, 10))
    for x, y, name, symbol, color_index in series:
        color = COLORS[color_index % len(COLORS)]
        xs = np.asarray(x, dtype=float)
        ys = np.asarray(y, dtype=float)
        keep = np.isfinite(xs) & np.isfinite(ys)
        if symbol is None:
            item.plot(xs[keep], ys[keep], pen=pg.mkPen(color, width=2), name=name)
        else:
            item.plot(xs[keep], ys[keep], pen=None, symbol=symbol, symbolSize=7, symbolBrush=color, symbolPen=color,
                      name=name)
    for real, minus_imag, frequency_hz in frequency_marks or []:
        label_frequencies(item, real, minus_imag, frequency_hz)
    if equal_axes:
        item.setAspectLocked(True)
    if y_from_zero:
        y_range = capacity_range([float(v) for _x, y, *_rest in series for v in y])
        if y_range is not None:
            item.setYRange(*y_range, padding=0)
    QtWidgets.QApplication.processEvents()
    exporter = pg.exporters.ImageExporter(item)
    exporter.parameters()["width"] = width
    exporter.export(str(path))
    save_svg(plot, path.with_suffix(".svg"))
    plot.close()
    plot.deleteLater()


# -- the page ----------------------------------------------------------------------------------
def _page(report: dict[str, Any], figures: list[tuple[str, str]], problem: str, dqdv: dict[str, Any] | None) -> str:
    e = html.escape
    verdict = str(report.get("verdict", "")).upper()
    color = {"PASS": "#1a7f37", "FAIL": "#c00000"}.get(verdict, "#9a6700")
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{e(str(report.get('protocol', '')))} - {e(verdict)}</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;"
        "margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}"
        "th{background:#f3f3f3}.claim{margin:.4em 0}img{max-width:100%;border:1px solid #ddd}"
        "code{background:#f6f6f6}</style></head><body>",
        f"<h1>{e(str(report.get('protocol', '')))}: <span style='color:{color}'>{e(verdict)}</span></h1>",
        f"<p>Run file <code>{e(str(report.get('run_file', '')))}</code>, started {e(str(report.get('started_utc', '')))} "
        f"(UTC), status <b>{e(str(report.get('status', '')))}</b>.</p>",
    ]
    sentences = claims(report)
    if sentences:
        parts.append("<h2>Results and their conditions</h2>")
        parts += [f"<p class='claim'>{e(s)}</p>" for s in sentences]
    if report.get("claims"):
        parts.append("<h2>Claims</h2><table><tr><th>claim</th><th>result</th><th>measured</th><th>figure</th>"
                     "<th>how it was measured</th><th>conditions</th></tr>")
        for r in report["claims"]:
            unit = f" {r['unit']}" if r.get("unit") else ""
            result = r["status"] + (" (marginal)" if r.get("marginal") else "") + \
                (f": {r['reason']}" if r.get("reason") else "")
            figure = f"{r['metric']} {r['op']} {r['value']:g}{unit}" + (f" ({r['source']})" if r.get("source") else "")
            color = {"met": "#1a7f37", "not met": "#c00000"}.get(r["status"], "#9a6700")
            parts.append(f"<tr><td>{e(str(r['name']))}</td><td style='color:{color}'>{e(result)}</td>"
                         f"<td>{e(_fmt(r['observed']))}{e(unit)}</td><td>{e(figure)}</td><td>{e(r['method'])}</td>"
                         f"<td>{_table(r.get('conditions') or {})}</td></tr>")
        parts.append("</table>")
    parts.append("<h2>Metrics</h2>" + _table(report.get("metrics", {})))
    parts.append("<h2>Conditions</h2>" + _table(report.get("conditions", {})))
    cycles = report.get("cycles") or []
    if cycles:
        keys: tuple[str, ...] = ("cycle", "charge_ah", "discharge_ah", "charge_wh", "discharge_wh", "coulombic_efficiency",
                "energy_efficiency", "temperature_max_c", "temperature_min_c", "flags")
        parts.append("<h2>Per-cycle summary</h2><p>A flagged cycle's numbers are not a result (CE above 1: it "
                     "did not start and end at one state of charge; more than the rated capacity).</p>"
                     + _rows([{**c, "flags": "; ".join(c.get("flags") or [])} for c in cycles], keys))
    ageing = report.get("ageing") or {}
    if ageing.get("capacity_checks") or ageing.get("pulses"):
        parts.append("<h2>Ageing</h2>")
        if ageing.get("capacity_checks"):
            parts.append(_rows(ageing["capacity_checks"], ("cycle", "step", "capacity_ah", "fade_pct")))
        if ageing.get("pulses"):
            parts.append(_rows(ageing["pulses"], ("cycle", "soc_pct", "direction", "current_a", "r_dc_ohm",
                                                  "r_growth_pct", "duration_s")))
    if ageing.get("plating"):
        parts.append("<h2>Plating check (per charge followed by a rest)</h2>" + _rows(
            [{"cycle": p["cycle"], "start_time_s": p["start_time_s"], "mean_current_a": p["mean_current_a"],
              "chamber_setpoint_c": p["chamber_setpoint_c"], "flag": p["plating_flag"],
              "relaxation_sigma": p["relaxation"].get("sigma"), "dvdq_found": p["dvdq_next_discharge"].get("found"),
              "ce_drop": p["ce_drop_vs_median"]} for p in ageing["plating"]],
            ("cycle", "start_time_s", "mean_current_a", "chamber_setpoint_c", "flag", "relaxation_sigma",
             "dvdq_found", "ce_drop")))
    if report.get("eis"):
        keys = ("spectrum", "temperature_c", "soc", "mode", "amplitude", "valid_points", "frequency_max_hz",
                "frequency_min_hz", "r0_ohm", "rct_ohm", "tau_ct_s", "alpha_ct", "fit_rms_pct", "kk_residual_max_pct",
                "kk_valid")
        parts.append("<h2>Impedance spectra</h2>" + _rows(report["eis"], keys))
    if dqdv is not None:
        parts.append(f"<h2>dQ/dV</h2><p>Step {dqdv['step_count']} ({e(dqdv['text'])}), {dqdv['direction']}, "
                     f"{len(dqdv['voltage_v'])} bins of {dqdv['bin_v'] * 1000:g} mV.</p>")
    parts.append("<h2>Safety events</h2>")
    if report.get("safety_events"):
        parts.append(_rows(report["safety_events"], ("rule", "time_s", "message", "latency_s", "output_off_confirmed")))
    else:
        parts.append("<p>None.</p>")
    parts.append("<h2>Plots</h2>")
    if problem:
        parts.append(f"<p>{e(problem)}</p>")
    for name, caption in figures:
        parts.append(f"<figure><img src='{e(name)}' alt='{e(caption)}'><figcaption>{e(caption)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if not math.isfinite(value) else f"{value:.6g}"
    if value is None:
        return "n/a"
    return str(value)


def _table(mapping: dict[str, Any]) -> str:
    e = html.escape
    rows = []
    for key, value in mapping.items():
        if value in ("", None, {}, []):
            continue
        if isinstance(value, dict):
            cell = _table(value)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            cell = _rows(value, tuple(value[0].keys()))
        else:
            cell = e(_fmt(value))
        rows.append(f"<tr><th>{e(str(key))}</th><td>{cell}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def _rows(items: list[dict[str, Any]], keys: tuple[str, ...]) -> str:
    e = html.escape
    head = "".join(f"<th>{e(k)}</th>" for k in keys)
    body = "".join("<tr>" + "".join(f"<td>{e(_fmt(item.get(k)))}</td>" for k in keys) + "</tr>" for item in items)
    return f"<table><tr>{head}</tr>{body}</table>"
