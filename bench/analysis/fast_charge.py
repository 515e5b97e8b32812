"""Fast charge: time from 10 % (and 20 %) to 80 % SOC, charge and energy in, temperatures, fade.

A *fast charge* in the step table is a run of consecutive charging steps (its CC and CV stages)
of which one ends at ``80 % SOC``. SOC is coulomb counting against the cell's **rated**
capacity (the protocol's ``cell: capacity_ah``, the same basis the engine's ``% SOC`` end
conditions use), anchored at 0 % by a discharge to the cell's cut-off voltage and at 100 % by a
hold at its maximum voltage that ended on current. Crossing times are interpolated between
samples. Fade (cycling variants) compares the first and the last full discharge to the cut-off.
Units: s, Ah, Wh, A, °C, K; SOC and fade in percent.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from bench.analysis.cycles import DRIVEN, net_throughput_ah, throughput
from bench.analysis.moved import extreme_c, moved_ah
from bench.runfile.reader import RunFile

#: Conditions key: metric -> why an analysis could not measure it (the claim's "not tested" reason,
#: bench.report.claims).
NOT_MEASURED = "not_measured"
_END_80 = re.compile(r"\b80\s*%\s*SOC", re.IGNORECASE)
#: A fast charge may start this far above a threshold SOC and still count as starting at it.
START_TOLERANCE = 0.005
DEFAULT_COOLING = "chamber air, natural convection (no cold plate)"


def _charging(step: dict[str, Any]) -> bool:
    return step["kind"] in DRIVEN and step["charge_ah"] > step["discharge_ah"]


def soc_at_step_starts(steps: list[dict[str, Any]], cell: dict[str, Any]) -> list[float]:
    """SOC (fraction, rated-capacity basis) at the start of each step; NaN before the first anchor."""
    capacity = float(cell.get("capacity_ah", math.nan))
    v_max, v_min = float(cell.get("voltage_max_v", math.inf)), float(cell.get("voltage_min_v", -math.inf))
    soc = float(cell.get("initial_soc", math.nan))
    out = []
    for step in steps:
        out.append(soc)
        soc += net_throughput_ah(step) / capacity
        reason = str(step["end_reason"])
        if reason.startswith("safety") or reason == "time":
            continue
        if step["kind"] == "cv" and step["voltage_end_v"] >= v_max - 0.02 and "SOC" not in reason:
            soc = 1.0
        elif step["kind"] in DRIVEN and step["discharge_ah"] > step["charge_ah"] and reason.rstrip().endswith(" V") \
                and step["voltage_end_v"] <= v_min + 0.01:
            soc = 0.0
    return out


def find_fast_charges(steps: list[dict[str, Any]]) -> list[list[int]]:
    """Index lists (into ``steps``) of each fast charge: a run of consecutive charging steps (its
    stages, CC and CV) of which at least one ends at 80 % SOC."""
    out: list[list[int]] = []
    run: list[int] = []
    for index, step in enumerate([*steps, None]):
        if step is not None and _charging(step):
            run.append(index)
            continue
        if run and any(_END_80.search(str(steps[i]["text"])) for i in run):
            out.append(run)
        run = []
    return out


def _crossing(t: np.ndarray, soc: np.ndarray, level: float) -> float | None:
    """First time ``soc`` reaches ``level`` (linear between samples); the start when within tolerance."""
    if soc.size == 0:
        return None
    if soc[0] >= level:
        return float(t[0]) if soc[0] <= level + START_TOLERANCE else None
    above = np.flatnonzero(soc >= level)
    if above.size == 0:
        return None
    k = int(above[0])
    t0, t1, s0, s1 = t[k - 1], t[k], soc[k - 1], soc[k]
    return float(t0 + (level - s0) * (t1 - t0) / (s1 - s0)) if s1 > s0 else float(t1)


def analyse_fast_charge(run: RunFile, indices: list[int], steps: list[dict[str, Any]], soc_starts: list[float],
                        capacity_ah: float, samples: np.ndarray | None = None) -> dict[str, Any]:
    """Times, Ah, Wh and temperatures of one fast charge (steps ``indices``)."""
    chosen = [steps[i] for i in indices]
    counts = [s["step_count"] for s in chosen]
    if samples is None:  # the caller passes the table when it analyses many charges (read once)
        samples = run.samples
    counts_col = samples["Step Count / 1"]
    lo, hi = int(np.searchsorted(counts_col, min(counts), "left")), int(np.searchsorted(counts_col, max(counts), "right"))
    window = samples[lo:hi] if np.all(counts_col[lo:hi] >= min(counts)) else samples  # step counts only grow
    mine = window[np.isin(window["Step Count / 1"], counts)]
    t = np.asarray(mine["Test Time / s"], dtype=float)
    cell_t = np.asarray(mine["Surface Temperature T1 / degC"], dtype=float)
    q = moved_ah(mine)  # the engine's counters: exact on rows recorded by change
    soc0 = soc_starts[indices[0]]
    soc = soc0 + q / capacity_ah
    result: dict[str, Any] = {"cycle": chosen[0]["cycle"], "start_time_s": round(chosen[0]["start_time_s"], 1),
                              "soc_start_pct": round(100 * soc0, 3) if math.isfinite(soc0) else None,
                              "soc_end_pct": round(100 * float(soc[-1]), 3) if soc.size and math.isfinite(soc0) else None}
    t80 = _crossing(t, soc, 0.80) if math.isfinite(soc0) else None
    for low in (10, 20):
        t_low = _crossing(t, soc, low / 100.0) if math.isfinite(soc0) else None
        result[f"time_{low}_80_s"] = round(t80 - t_low, 2) if t80 is not None and t_low is not None else None
    moved = [throughput(s) for s in chosen]  # what went in, past a stage's 4.2 V crossing included
    result["charge_ah"] = round(sum(m["charge_ah"] for m in moved), 6)
    result["charge_wh"] = round(sum(m["charge_wh"] for m in moved), 6)
    finite = cell_t[np.isfinite(cell_t)]
    result["temperature_start_c"] = round(float(finite[0]), 3) if finite.size else None
    hottest = extreme_c(mine, chosen, highest=True)  # the steps' maxima: every acquired sample
    result["temperature_max_c"] = round(hottest, 3) if finite.size else None
    result["temperature_rise_k"] = round(hottest - float(finite[0]), 3) if finite.size else None
    result["stages"] = [{
        "step": s["text"], "end": s["end_reason"],
        "mean_current_a": round(m["charge_ah"] * 3600.0 / (s["end_time_s"] - s["start_time_s"]), 4)
        if s["end_time_s"] > s["start_time_s"] else None,
        "duration_s": round(s["end_time_s"] - s["start_time_s"], 1),
    } for s, m in zip(chosen, moved, strict=True)]
    result["chamber_setpoint_c"] = chosen[0]["chamber_setpoint_c"] if math.isfinite(chosen[0]["chamber_setpoint_c"]) \
        else None
    return result


def _cycler_driver(config: dict[str, Any]) -> str:
    """The cycler driver of a run's bench config; on a multi-channel bench (``[[cycler]]``), the
    run's own channel's."""
    cycler = config.get("cycler") or {}
    if isinstance(cycler, list):
        channel = int(config.get("channel", 0) or 0)
        cycler = cycler[channel] if 0 <= channel < len(cycler) else {}
    return str(cycler.get("driver", "")) if isinstance(cycler, dict) else ""


def fast_charge(run: RunFile) -> tuple[dict[str, Any], dict[str, Any]]:
    """``analysis: fast_charge``: headline metrics from the first fast charge, every fast charge
    under ``fast_charges`` (conditions), fade when the run cycled."""
    attrs = run.attrs
    cell = dict(attrs.get("cell") or {})
    capacity = float(cell.get("capacity_ah", math.nan))
    parameters = attrs.get("parameters") or {}
    steps = run.steps
    socs = soc_at_step_starts(steps, cell)
    samples = run.samples
    charges = [analyse_fast_charge(run, idx, steps, socs, capacity, samples) for idx in find_fast_charges(steps)]
    metrics: dict[str, Any] = {}
    conditions: dict[str, Any] = {
        "soc_basis": f"rated capacity {capacity:g} Ah (cell.capacity_ah), coulomb counting from the last "
                     "full discharge to the cut-off (0 %) or hold at the maximum voltage (100 %)",
        "cooling": str(parameters.get("cooling", DEFAULT_COOLING)),
        "cycler": _cycler_driver(attrs.get("bench_config") or {}),
    }
    if not charges:
        conditions["fast_charge"] = "no charge step ending at 80 % SOC"
        return metrics, conditions
    first = charges[0]
    for key in ("time_10_80_s", "time_20_80_s", "charge_ah", "charge_wh", "temperature_max_c", "temperature_rise_k"):
        metrics[key] = first[key]
    metrics["fast_charges"] = len(charges)
    if len(charges) > 1:
        last = charges[-1]
        metrics["time_10_80_last_s"] = last["time_10_80_s"]
        metrics["time_20_80_last_s"] = last["time_20_80_s"]
    metrics["temperature_max_all_c"] = max((c["temperature_max_c"] for c in charges
                                            if c["temperature_max_c"] is not None), default=None)
    for low in (10, 20):
        times = [c[f"time_{low}_80_s"] for c in charges]
        metrics[f"time_{low}_80_max_s"] = None if any(t is None for t in times) else max(times)
    if len(charges) > 1:  # fade over the capacity checks (full charge -> full discharge at one rate)
        from bench.analysis.generic import fade

        fade(run, metrics, conditions)
    _plating(run, charges, metrics, conditions)
    conditions["fast_charge"] = {k: v for k, v in first.items() if k not in metrics}
    if len(charges) > 1:
        conditions["fast_charges"] = [{k: c[k] for k in ("cycle", "time_10_80_s", "time_20_80_s", "charge_ah",
                                                          "temperature_max_c", "temperature_rise_k")} for c in charges]
    return metrics, conditions


def _plating(run: RunFile, charges: list[dict[str, Any]], metrics: dict[str, Any], conditions: dict[str, Any]) -> None:
    """``plating_flagged_charges``: fast charges the plating detector flags (only those followed
    by a rest long enough to test; absent when none was); their evidence under ``plating``."""
    from bench.analysis.plating import detect_plating

    starts = {c["start_time_s"] for c in charges}
    followed = [p for p in detect_plating(run) if p["start_time_s"] in starts]
    tested = [p for p in followed if p["relaxation"].get("tested")]
    if not tested:  # the detector's own reason (a readback too coarse, a rest too short), else no rest
        reasons = sorted({str(p["relaxation"]["reason"]) for p in followed if p["relaxation"].get("reason")})
        why = "; ".join(reasons) if reasons else "no fast charge was followed by a rest"
        conditions["plating"] = f"not tested: {why}"
        conditions.setdefault(NOT_MEASURED, {})["plating_flagged_charges"] = why
        return
    metrics["plating_flagged_charges"] = sum(1 for p in tested if p["plating_flag"])
    metrics["plating_tested_charges"] = len(tested)
    conditions["plating"] = [{"cycle": p["cycle"], "flag": p["plating_flag"],
                              "relaxation_rebound_sigma": p["relaxation"].get("sigma"),
                              "dvdq_found": p["dvdq_next_discharge"].get("found"),
                              "ce_drop_vs_median": p["ce_drop_vs_median"]} for p in tested]

