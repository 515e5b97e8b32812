"""Ageing metrics: capacity per check and fade, coulombic efficiency per cycle, DC resistance from
the pulses of a reference performance test (RPT), plating events; for ``/cycles``-style tables,
the report and the fade plot.

* **Capacity checks**: the full discharges (from a full charge, i.e. after a Hold at the cell's
  maximum voltage that ended on current, to the cell's minimum voltage) written the same way (same
  step text: same rate and cut-off): the C/3 discharge of an RPT when the run repeats one, else the
  one that occurs most often;
  fade = 1 - Q / Q(first check), %.
* **DC resistance** of a pulse step (``Pulse discharge at 1C for 10 seconds, ...``): for each
  pulse, ``R = (V(end of the on-phase) - V(last sample before it)) / (I_on - I_before)`` in Ω
  (the 10 s DCR of HPPC when the pulse lasts 10 s); the SOC is the one the step before it ended
  at (``until 50 % SOC``), when it says. Growth is relative to the first RPT's pulse of the same
  direction and SOC.
Units: Ah, Ω, %, s.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

import numpy as np

from bench.analysis.cycles import cycle_flags, full_discharges
from bench.runfile.reader import RunFile

__all__ = ["ageing_metrics", "capacity_checks", "cycle_flags", "cycled", "pulse_resistances"]

_SOC = re.compile(r"until\s+(\d+(?:\.\d+)?)\s*%\s*SOC", re.IGNORECASE)
def capacity_checks(run: RunFile) -> list[dict[str, Any]]:
    """The capacity checks (see the module docstring) with ``cycle``, ``step``, ``capacity_ah``,
    ``fade_pct``, ``test_time_s``."""
    cell = run.attrs.get("cell") or {}
    v_min, v_max = cell.get("voltage_min_v"), cell.get("voltage_max_v")
    full_ids = {s["step_count"] for s in full_discharges(run, float(v_min) if v_min is not None else None)}
    full, charged_full = [], False
    for step in run.steps:  # a check starts from a full charge: a Hold at v_max that ended on current
        reason = str(step["end_reason"])
        if step["kind"] == "cv" and v_max is not None and step["voltage_end_v"] >= float(v_max) - 0.02 \
                and "SOC" not in reason and reason != "time" and not reason.startswith("safety"):
            charged_full = True
        elif step["kind"] in ("cc", "cp", "pulse") and step["discharge_ah"] > step["charge_ah"]:
            if step["step_count"] in full_ids and charged_full:
                full.append(step)
            charged_full = False
    if not full:
        return []
    counts = Counter(s["text"] for s in full)
    rpt = [(n, t) for t, n in counts.items() if "C/3" in t and n >= 2]  # the RPT's C/3 check, when there is one
    text = max(rpt)[1] if rpt else counts.most_common(1)[0][0]
    # fade compares like with like: the same step at the same chamber temperature as the first
    # check (a -20 °C discharge is a retention figure, not fade)
    same = [s for s in full if s["text"] == text]
    same = [s for s in same if _same_setpoint(s["chamber_setpoint_c"], same[0]["chamber_setpoint_c"])]
    q0 = float(same[0]["discharge_ah"])
    return [{"cycle": int(s["cycle"]), "step": s["text"], "capacity_ah": round(float(s["discharge_ah"]), 6),
             "fade_pct": round(100.0 * (1.0 - float(s["discharge_ah"]) / q0), 4) if q0 > 0 else None,
             "test_time_s": round(float(s["end_time_s"]), 1)} for s in same]


def _same_setpoint(a: float, b: float, tolerance_k: float = 2.0) -> bool:
    """Two chamber setpoints the same condition (both unset, or within ``tolerance_k``)."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= tolerance_k


def pulse_resistances(run: RunFile) -> list[dict[str, Any]]:
    """One row per pulse of every pulse step: ``cycle``, ``soc_pct``, ``direction``,
    ``current_a``, ``r_dc_ohm``, ``duration_s``, ``test_time_s``."""
    steps = run.steps
    pulses = [k for k, s in enumerate(steps) if s["kind"] == "pulse"]
    if not pulses:
        return []
    samples = run.samples
    counts = samples["Step Count / 1"]
    t_all = np.asarray(samples["Test Time / s"], dtype=float)
    v_all = np.asarray(samples["Voltage / V"], dtype=float)
    i_all = np.asarray(samples["Current / A"], dtype=float)
    out: list[dict[str, Any]] = []
    for k in pulses:
        step = steps[k]
        soc = None
        for j in range(k - 1, -1, -1):
            match = _SOC.search(str(steps[j]["text"]))
            if match:
                soc = float(match.group(1))
                break
            if steps[j]["kind"] not in ("rest", "pulse"):
                break
        idx = np.flatnonzero(counts == step["step_count"])
        if idx.size < 2:
            continue
        before = int(idx[0]) - 1
        i = i_all[idx]
        on = np.abs(i) > 0.5 * np.nanmax(np.abs(i))
        starts = np.flatnonzero(on & ~np.concatenate(([False], on[:-1])))
        for s in starts:
            e = s
            while e + 1 < on.size and on[e + 1]:
                e += 1
            ref = int(idx[s]) - 1 if s > 0 else before
            if ref < 0:
                continue
            di = i[e] - i_all[ref]
            if abs(di) < 1e-6:
                continue
            r = (v_all[idx[e]] - v_all[ref]) / di
            out.append({"cycle": int(step["cycle"]), "soc_pct": soc,
                        "direction": "charge" if i[e] > 0 else "discharge", "current_a": round(float(i[e]), 4),
                        "r_dc_ohm": round(float(r), 6), "duration_s": round(float(t_all[idx[e]] - t_all[ref]), 2),
                        "test_time_s": round(float(t_all[idx[e]]), 1)})
    first: dict[tuple[Any, str], float] = {}
    for row in out:
        key = (row["soc_pct"], row["direction"])
        first.setdefault(key, row["r_dc_ohm"])
        base = first[key]
        row["r_growth_pct"] = round(100.0 * (row["r_dc_ohm"] / base - 1.0), 3) if base > 0 else None
    return out


def ageing_metrics(run: RunFile) -> tuple[dict[str, Any], dict[str, Any]]:
    """Metrics ``dcr_first_ohm``, ``dcr_last_ohm``, ``dcr_growth_pct`` (mean over the last RPT's
    pulses of their growth) when the run has pulses; conditions: the pulse table."""
    pulses = pulse_resistances(run)
    metrics: dict[str, Any] = {}
    conditions: dict[str, Any] = {}
    if not pulses:
        return metrics, conditions
    discharge = [p for p in pulses if p["direction"] == "discharge"]
    rows = discharge or pulses
    last_cycle = rows[-1]["cycle"]
    last = [p for p in rows if p["cycle"] == last_cycle]
    first = [p for p in rows if p["cycle"] == rows[0]["cycle"]]
    metrics["dcr_first_ohm"] = round(float(np.mean([p["r_dc_ohm"] for p in first])), 6)
    metrics["dcr_last_ohm"] = round(float(np.mean([p["r_dc_ohm"] for p in last])), 6)
    growth = [p["r_growth_pct"] for p in last if p["r_growth_pct"] is not None and math.isfinite(p["r_growth_pct"])]
    if growth and rows[0]["cycle"] != last_cycle:
        metrics["dcr_growth_pct"] = round(float(np.mean(growth)), 3)
    conditions["dcr_method"] = ("(V at the end of the pulse - V before it) / (I pulse - I before), per pulse; "
                                "growth vs the first RPT's pulse at the same SOC and direction")
    return metrics, conditions


def cycled(run: RunFile) -> int:
    """Cycles of cycling: the full discharges (to the cell's minimum voltage) written like the one
    that occurs most often (the cycling step, not the RPT's check)."""
    v_min = (run.attrs.get("cell") or {}).get("voltage_min_v")
    full = full_discharges(run, float(v_min) if v_min is not None else None)
    return Counter(s["text"] for s in full).most_common(1)[0][1] if full else 0
