"""``bench report STUDY``: what an optimisation study proposed, batch by batch, what each run
scored, the ranking, the best profile against the constant-current baseline, and the conditions
(cell, temperature, M, objective and how it is computed). Text, JSON and an HTML page.

Ranking: runs that met the time claim first, by objective value (lower is better); then the
runs that did not meet it. The margin is the baseline's fade minus the best profile's, in
percentage points, both measured after M cycles (objective ``fade``) or estimated
(``early_fade``; the report says which).
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import optuna

from bench.optimize.objectives import OBJECTIVES, cycles_per_run
from bench.optimize.study import STORAGE_FILE, STUDY_FILE, STUDY_NAME, StudyConfig, StudyError


def is_study(path: str | Path) -> bool:
    """True for a study directory (or its ``study.json``)."""
    p = Path(path)
    return (p / STUDY_FILE).is_file() or (p.name == STUDY_FILE and p.is_file())


def build_study_report(path: str | Path) -> dict[str, Any]:
    """The report of the study in ``path`` (see the module docstring)."""
    directory = Path(path)
    if directory.name == STUDY_FILE:
        directory = directory.parent
    try:
        payload = json.loads((directory / STUDY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StudyError(f"{directory / STUDY_FILE}: cannot read the study ({exc})") from None
    config = StudyConfig(**payload["config"])
    storage = optuna.storages.RDBStorage(f"sqlite:///{directory / STORAGE_FILE}")
    try:
        study = optuna.load_study(study_name=STUDY_NAME, storage=storage)
    except KeyError:
        raise StudyError(f"{directory / STORAGE_FILE}: no study stored") from None
    trials = study.get_trials(deepcopy=False)
    rows = [_row(t) for t in trials]
    ran = [r for r in rows if r["status"] not in ("rejected", "interrupted", "running")]
    scored = [r for r in rows if r["status"] == "scored"]
    ranking = sorted(scored, key=lambda r: (not r["claim_met"], r["value"]))
    baseline = next((r for r in scored if r["baseline"]), None)
    best = next((r for r in ranking if r["claim_met"] and not r["baseline"]), None)
    batches: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        batches.setdefault(r["batch"], []).append(r)
    by_batch = []
    best_so_far = math.inf
    for number in sorted(batches):
        values = [r["value"] for r in batches[number] if r["status"] == "scored" and r["claim_met"]]
        batch_best = min(values) if values else None
        if batch_best is not None:
            best_so_far = min(best_so_far, batch_best)
        by_batch.append({"batch": number, "proposals": len(batches[number]),
                         "ran": sum(r in ran for r in batches[number]),
                         "rejected": sum(r["status"] == "rejected" for r in batches[number]),
                         "best_value": batch_best, "best_so_far": best_so_far if math.isfinite(best_so_far) else None})
    spec = OBJECTIVES[config.objective]
    margin = None
    if best is not None and baseline is not None and baseline["fade_pct"] is not None and best["fade_pct"] is not None:
        margin = round(baseline["fade_pct"] - best["fade_pct"], 4)
    report: dict[str, Any] = {
        "study": str(directory),
        "conditions": {
            "protocol": config.protocol, "cell": config.cell or "the protocol's cell",
            "temperature_c": config.temperature_c, "objective": config.objective, "objective_unit": spec.unit,
            "objective_method": spec.method, "cycles_m": config.cycles_m,
            "cycles_per_run": cycles_per_run(config.objective, config.objective_settings()),
            "claim": f"10 -> 80 % SOC in <= {config.claim_time_s:g} s", "budget_runs": config.budget,
            "batch": config.batch, "seed": config.seed, "executor": config.executor,
            "space": payload.get("space", {}).get("name", config.space_file),
            "cell_rate_max_c": payload.get("rate_max_c"), "sampler": "Optuna TPE (multivariate, constant liar, "
                                                                      "time claim as constraint)",
        },
        "counts": {"proposals": len(rows), "ran": len(ran), "scored": len(scored),
                   "rejected": sum(r["status"] == "rejected" for r in rows),
                   "tripped": sum(r["status"] == "tripped" for r in rows),
                   "failed": sum(r["status"] not in ("scored", "rejected", "tripped", "interrupted", "running")
                                 for r in rows),
                   "claim_met": sum(bool(r["claim_met"]) for r in scored)},
        "batches": by_batch,
        "ranking": ranking,
        "best": best,
        "baseline": baseline,
        "margin_fade_pct_points": margin,
        "verdict": _verdict(best, baseline, margin),
        "proposals": rows,
    }
    return report


def _verdict(best: dict[str, Any] | None, baseline: dict[str, Any] | None, margin: float | None) -> str:
    if best is None:
        return "no profile met the time claim"
    if baseline is None:
        return "best profile found; no constant-current baseline was scored to compare with"
    if margin is None:
        return "best profile found; fade not measured for the comparison"
    if margin > 0:
        return "a profile meets the time claim with less fade than the constant-current profile"
    return "no profile beat the constant-current profile on fade"


def _row(t: optuna.trial.FrozenTrial) -> dict[str, Any]:
    attrs = t.user_attrs
    measurement = attrs.get("measurement") or {}
    status = attrs.get("status") or ("running" if t.state == optuna.trial.TrialState.RUNNING else "unknown")
    return {
        "trial": t.number, "batch": attrs.get("batch", 0), "baseline": bool(attrs.get("baseline", False)),
        "rates_c": attrs.get("rates_c"), "status": status, "reason": attrs.get("reason", ""),
        "value": t.value if t.state == optuna.trial.TrialState.COMPLETE and status == "scored" else None,
        "claim_met": attrs.get("claim_met"), "time_10_80_s": measurement.get("time_10_80_s"),
        "fade_pct": measurement.get("fade_pct"), "temperature_max_c": measurement.get("temperature_max_c"),
        "run_file": attrs.get("run_file"), "exit_code": attrs.get("exit_code"),
    }


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _rates(rates: Any) -> str:
    return "/".join(f"{r:.2f}" for r in rates) if rates else "-"


def format_study_report(report: dict[str, Any]) -> str:
    """Readable summary: conditions, batches, top of the ranking, best vs baseline."""
    c = report["conditions"]
    lines = [f"Study {report['study']}: {report['verdict']}",
             f"  protocol {c['protocol']}, cell {c['cell']}, chamber {c['temperature_c'] or 'protocol default'} °C, "
             f"claim {c['claim']}",
             f"  objective {c['objective']} ({c['objective_unit']}): {c['objective_method']}",
             f"  M = {c['cycles_m']} cycles, {c['cycles_per_run']} per run; budget {c['budget_runs']} runs in "
             f"batches of {c['batch']}; {c['sampler']}; seed {c['seed']}"]
    n = report["counts"]
    lines.append(f"  proposals {n['proposals']}: ran {n['ran']}, scored {n['scored']}, rejected by the space "
                 f"{n['rejected']}, tripped {n['tripped']}, failed {n['failed']}, met the claim {n['claim_met']}")
    lines.append("Batches:  batch  ran  rejected  best   best so far")
    for b in report["batches"]:
        lines.append(f"          {b['batch']:5d}  {b['ran']:3d}  {b['rejected']:8d}  {_num(b['best_value']):>6}  "
                     f"{_num(b['best_so_far']):>6}")
    lines.append("Ranking (claim met first, then by objective):")
    lines.append("  rank trial  C-rates per stage          10->80 s  fade %   value   claim")
    for rank, r in enumerate(report["ranking"][:10], start=1):
        tag = " (baseline)" if r["baseline"] else ""
        lines.append(f"  {rank:4d} {r['trial']:5d}  {_rates(r['rates_c']):26s} {_num(r['time_10_80_s'], 1):>8}  "
                     f"{_num(r['fade_pct']):>6}  {_num(r['value']):>6}  {'met' if r['claim_met'] else 'NOT met'}{tag}")
    best, base = report["best"], report["baseline"]
    if best is not None:
        lines.append(f"Best profile: trial {best['trial']}, {_rates(best['rates_c'])} C, 10->80 % in "
                     f"{_num(best['time_10_80_s'], 1)} s, fade {_num(best['fade_pct'])} % after {c['cycles_per_run']} "
                     f"cycles; run file {best['run_file']}")
    if base is not None:
        lines.append(f"Constant-current baseline: trial {base['trial']}, {_rates(base['rates_c'])} C, 10->80 % in "
                     f"{_num(base['time_10_80_s'], 1)} s, fade {_num(base['fade_pct'])} %")
    if report["margin_fade_pct_points"] is not None:
        lines.append(f"Margin: {report['margin_fade_pct_points']:+.4f} percentage points of fade (baseline - best)")
    return "\n".join(lines)


def write_study_html(report: dict[str, Any], directory: str | Path) -> Path:
    """``DIRECTORY/index.html``: conditions, the objective by batch (inline SVG), the ranking."""
    out_dir = Path(directory)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = "".join(
        f"<tr><td>{r['trial']}</td><td>{r['batch']}</td><td>{html.escape(_rates(r['rates_c']))}</td>"
        f"<td>{_num(r['time_10_80_s'], 1)}</td><td>{_num(r['fade_pct'])}</td><td>{_num(r['value'])}</td>"
        f"<td>{'met' if r['claim_met'] else 'not met'}{' (baseline)' if r['baseline'] else ''}</td></tr>"
        for r in report["ranking"])
    conditions = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                         for k, v in report["conditions"].items())
    page = (f"<!doctype html><meta charset='utf-8'><title>CellBench study</title>"
            f"<h1>Study: {html.escape(report['verdict'])}</h1><table>{conditions}</table>"
            f"<h2>Objective by batch</h2>{_svg_by_batch(report)}"
            f"<h2>Ranking</h2><table><tr><th>trial</th><th>batch</th><th>C-rates</th><th>10-80 s</th>"
            f"<th>fade %</th><th>value</th><th>claim</th></tr>{rows}</table>"
            f"<pre>{html.escape(format_study_report(report))}</pre>")
    path = out_dir / "index.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path


def _svg_by_batch(report: dict[str, Any], width: int = 560, height: int = 280) -> str:
    """Every scored proposal's value (dots) and the best so far (line) against the batch number,
    on labelled axes with ticks and values (``Quantity / unit``)."""
    from bench.plot.ticks import integer_ticks, nice_step

    points = [(r["batch"], r["value"]) for r in report["proposals"] if r["status"] == "scored" and r["value"] is not None]
    if not points:
        return "<p>no scored proposals</p>"
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x0, x1 = min(xs) - 0.5, max(xs) + 0.5
    step = nice_step(max(max(ys) - min(ys), abs(max(ys)) * 1e-3, 1e-9) / 4)
    y0 = math.floor(min(ys) / step) * step
    y1 = math.ceil(max(ys) / step) * step
    if y1 <= y0:
        y1 = y0 + step
    left, right, top, bottom = 70, 20, 30, 45

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (width - left - right)

    def sy(y: float) -> float:
        return height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom)

    esc = html.escape
    unit = esc(report["conditions"]["objective_unit"])
    name = esc(report["conditions"]["objective"])
    parts = [f"<svg width='{width}' height='{height}' xmlns='http://www.w3.org/2000/svg' font-family='sans-serif' "
             f"font-size='11'>",
             f"<line x1='{left}' y1='{height - bottom}' x2='{width - right}' y2='{height - bottom}' stroke='black'/>",
             f"<line x1='{left}' y1='{top}' x2='{left}' y2='{height - bottom}' stroke='black'/>"]
    for batch in integer_ticks(x0, x1, width - left - right, 30.0):
        x = sx(batch)
        parts.append(f"<line x1='{x:.1f}' y1='{height - bottom}' x2='{x:.1f}' y2='{height - bottom + 4}' stroke='black'/>"
                     f"<text x='{x:.1f}' y='{height - bottom + 16}' text-anchor='middle'>{batch}</text>")
    n_ticks = int(round((y1 - y0) / step))
    for k in range(n_ticks + 1):
        value = y0 + k * step
        y = sy(value)
        parts.append(f"<line x1='{left - 4}' y1='{y:.1f}' x2='{left}' y2='{y:.1f}' stroke='black'/>"
                     f"<line x1='{left}' y1='{y:.1f}' x2='{width - right}' y2='{y:.1f}' stroke='#ddd'/>"
                     f"<text x='{left - 7}' y='{y + 4:.1f}' text-anchor='end'>{value:.4g}</text>")
    line = " ".join(f"{sx(b['batch']):.1f},{sy(b['best_so_far']):.1f}" for b in report["batches"]
                    if b["best_so_far"] is not None)
    parts.append(f"<polyline points='{line}' fill='none' stroke='#d62728' stroke-width='1.5'/>")
    parts += [f"<circle cx='{sx(x):.1f}' cy='{sy(y):.1f}' r='3' fill='#1f77b4'/>" for x, y in points]
    parts.append(f"<text x='{(left + width - right) / 2:.0f}' y='{height - 8}' text-anchor='middle'>Batch / 1</text>")
    parts.append(f"<text transform='translate(14 {(top + height - bottom) / 2:.0f}) rotate(-90)' text-anchor='middle'>"
                 f"{name} / {unit}</text>")
    parts.append(f"<text x='{left}' y='16'>dots: each scored proposal; red line: best so far (claim met)</text></svg>")
    return "".join(parts)
