"""Lithium-plating detection without a reference electrode, from terminal data only.

For every charge (a run of consecutive charging steps) followed by a rest, three signatures
(docs/analysis.md, "Plating detection"):

1. **Relaxation-voltage plateau.** After a charge the rest voltage decays; with no plating its
   rate ``r = -dV/dt`` falls monotonically (a sum of exponentials). Plated lithium strips back
   (or re-intercalates) during the rest and holds the negative electrode at the Li/Li+ potential
   until it is gone: the decay pauses and then resumes, so ``r`` falls to a minimum and rises
   again. The detector fits ``dV/dt`` by least squares over windows that widen with rest time
   (noise-robust late in the rest) and measures the largest *rebound* of ``r`` above its running
   minimum; it counts when the rebound exceeds ``REBOUND_SIGMA`` standard errors of the two
   slopes and ``REBOUND_FRACTION`` of the minimum rate.
2. **Differential voltage of the next discharge.** Stripping adds a high-voltage plateau at the
   start of the next discharge (it ends with a peak of ``-dV/dQ``). The OCV curve has dV/dQ
   features of its own, so the discharge is compared with the run's other discharges written the
   same way: its V(Q) over the first ``DVDQ_SPAN`` of the rated capacity standing above their
   median by ``DVDQ_SIGMA`` spreads counts.
3. **Coulombic-efficiency drift.** Lithium that stays plated (dead lithium) is lost charge: a
   closed cycle's CE falls below the median CE of the run's closed cycles by more than ``CE_DROP``.

A charge is flagged when the relaxation plateau is found (>= ``REBOUND_SIGMA``), or a weaker
plateau (>= ``SUPPORTED_SIGMA``) comes with the dV/dQ signature or the CE drop, or those two are
both found. Each charge's evidence is returned with the flag. Units: V, s, Ah, V/s.
"""

from __future__ import annotations

import math
import weakref
from typing import Any

import numpy as np

from bench.analysis.cycles import cycle_table, throughput
from bench.analysis.moved import moved_ah
from bench.runfile.reader import RunFile

#: Rebound test: significance (standard errors) and size relative to the minimum rate. The
#: largest rebound of a rest is a maximum over hundreds of windows, so a clean rest reaches ~4-5
#: standard errors now and then (11 of 522 rests of a 500-cycle cycle_life at 4 σ): alone, a
#: rebound counts from REBOUND_SIGMA; from SUPPORTED_SIGMA when dV/dQ or CE drift agrees.
REBOUND_SIGMA = 6.0
SUPPORTED_SIGMA = 4.0
REBOUND_FRACTION = 0.25
#: Shortest rest (s) and fewest samples the relaxation test needs.
MIN_REST_S = 300.0
#: A voltage readback in steps coarser than this (V) cannot show a stripping plateau: not tested.
MAX_RESOLUTION_V = 0.001
#: The first part of the rest the relaxation test ignores, s.
SKIP_S = 60.0
MIN_SAMPLES = 12
#: dV/dQ test: the first fraction of the rated capacity of the next discharge.
DVDQ_SPAN = 0.3
#: dV/dQ test: the discharge's voltage above the baseline's median by this many spreads.
DVDQ_SIGMA = 6.0
#: CE drift: a closed cycle's CE this far below the median CE of the run's closed cycles
#: (fraction); a cycle is closed when its CE is within CLOSED_CE (it started and ended at about the
#: same state of charge), else its CE says nothing about lost lithium.
CE_DROP = 0.005
CLOSED_CE = (0.95, 1.005)


def resolution_v(v: np.ndarray) -> float:
    """The voltage reading's step (V): the smallest change between consecutive samples, when the
    readings change in steps (a quantised readback); 0 when they vary continuously (noise)."""
    d = np.abs(np.diff(v))
    d = d[d > 0]
    if d.size < 5:
        return 0.0
    step = float(d.min())
    return step if np.all(np.abs(d / step - np.round(d / step)) < 0.01) else 0.0


def _slopes(t: np.ndarray, v: np.ndarray, *, relative_window: float = 0.3, min_points: int = 5,
            floor_v: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares slope dv/dt and its standard error at each sample, over a window of
    ``relative_window`` x (t - t0) (at least ``min_points`` samples): (centres, slopes, errors).
    ``floor_v``: the smallest residual standard deviation assumed (a reading's resolution).
    Vectorised with prefix sums (one pass, no Python loop per sample)."""
    n = t.size
    if n < min_points:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    x = t - t[0]
    half = relative_window * x / 2.0
    lo = np.searchsorted(x, x - half, side="left")
    hi = np.searchsorted(x, x + half, side="right")
    short = hi - lo < min_points  # widen symmetric, then clamp to the ends
    need = np.where(short, min_points - (hi - lo), 0)
    lo = np.where(short, lo - (need + 1) // 2, lo)
    hi = np.where(short, hi + need // 2, hi)
    lo = np.clip(np.where(hi > n, lo - (hi - n), lo), 0, n)
    hi = np.clip(np.where(lo < 0, hi - lo, hi), 0, n)
    xs = x - x.mean()
    vs = v - v.mean()
    c = [np.concatenate(([0.0], np.cumsum(a))) for a in (np.ones(n), xs, vs, xs * xs, xs * vs, vs * vs)]
    m, sx, sv, sxx, sxv, svv = (a[hi] - a[lo] for a in c)
    with np.errstate(divide="ignore", invalid="ignore"):
        cxx = sxx - sx * sx / m
        cxv = sxv - sx * sv / m
        cvv = svv - sv * sv / m
        slope = cxv / cxx
        resid = np.maximum(cvv - slope * cxv, 0.0)
        err = np.sqrt(np.maximum(resid / np.maximum(m - 2, 1), floor_v * floor_v) / cxx)
    ok = (m >= min_points) & (cxx > 0) & np.isfinite(slope)
    return t[ok], slope[ok], err[ok]


def rebound(x: np.ndarray, rate: np.ndarray, err: np.ndarray) -> dict[str, Any]:
    """Largest rise of ``rate`` above its running minimum: ``rebound``, ``at`` (x of the rise),
    ``minimum`` (the rate it rose from), ``sigma`` (rise / combined standard error)."""
    best: dict[str, Any] = {"rebound": 0.0, "at": None, "minimum": None, "sigma": 0.0}
    if rate.size < 3:
        return best
    k_min = 0
    for k in range(1, rate.size):
        if rate[k] < rate[k_min]:
            k_min = k
            continue
        rise = float(rate[k] - rate[k_min])
        if rise > best["rebound"]:
            sigma = rise / max(math.hypot(float(err[k]), float(err[k_min])), 1e-15)
            best = {"rebound": rise, "at": float(x[k]), "minimum": float(rate[k_min]), "sigma": sigma}
    return best


def relaxation_plateau(time_s: np.ndarray, voltage_v: np.ndarray) -> dict[str, Any]:
    """Relaxation-plateau evidence of one rest after a charge (see the module docstring):
    ``found``, ``rebound_v_per_s``, ``at_s`` (rest time of the rebound), ``sigma``, ``relative``."""
    t = np.asarray(time_s, dtype=float)
    v = np.asarray(voltage_v, dtype=float)
    ok = np.isfinite(t) & np.isfinite(v)
    t, v = t[ok], v[ok]
    if t.size < MIN_SAMPLES or t[-1] - t[0] < MIN_REST_S:
        return {"found": False, "tested": False, "reason": f"rest too short ({t.size} samples)"}
    step = resolution_v(v)
    if step > MAX_RESOLUTION_V:
        return {"found": False, "tested": False,
                "reason": f"voltage readings in steps of {1000 * step:g} mV: too coarse for the relaxation test"}
    centres, slopes, errors = _slopes(t, v, min_points=9, floor_v=step / math.sqrt(12.0))
    rate = -slopes  # decay rate, V/s (positive while the voltage falls)
    # skip the first minute (the ohmic step and the fastest charge-transfer relaxation, where a
    # short window's slope is not a rate of the slow decay); stripping takes minutes
    keep = centres - t[0] >= max(SKIP_S, 5.0 * float(np.median(np.diff(t))))
    r = rebound(centres[keep] - t[0], rate[keep], errors[keep])
    relative = r["rebound"] / abs(r["minimum"]) if r["minimum"] else math.inf if r["rebound"] > 0 else 0.0
    found = r["sigma"] >= REBOUND_SIGMA and relative >= REBOUND_FRACTION
    return {"found": bool(found), "tested": True, "rebound_v_per_s": r["rebound"], "at_s": r["at"],
            "sigma": round(r["sigma"], 2), "relative": round(relative, 3) if math.isfinite(relative) else None}


def dvdq_signature(charge_ah: np.ndarray, voltage_v: np.ndarray, baseline: list[tuple[np.ndarray, np.ndarray]],
                   capacity_ah: float) -> dict[str, Any]:
    """dV/dQ evidence at the start of a discharge, against the run's other discharges written the
    same way (``baseline``: their (Ah moved, V) curves). Stripping holds the voltage up at the
    start and then releases it: the discharge's V(Q) lies above the baseline's median and its
    -dV/dQ rises above the baseline's around the end of stripping. Returns ``found``,
    ``excess_v`` (largest V - baseline over the first ``DVDQ_SPAN`` of the capacity), ``at_ah``,
    ``sigma`` (excess over the baseline's spread); not tested with fewer than two baseline curves."""
    q = np.asarray(charge_ah, dtype=float)
    v = np.asarray(voltage_v, dtype=float)
    if len(baseline) < 2 or q.size < MIN_SAMPLES:
        return {"found": False, "tested": False, "reason": "fewer than two other discharges written the same way"}
    grid = np.linspace(0.02 * capacity_ah, DVDQ_SPAN * capacity_ah, 40)
    if q[-1] < grid[-1]:
        grid = grid[grid <= q[-1]]
    if grid.size < 5:
        return {"found": False, "tested": False, "reason": "discharge too short"}
    curves = np.array([np.interp(grid, bq, bv, right=np.nan) for bq, bv in baseline])
    base = np.nanmedian(curves, axis=0)
    spread = np.nanmedian(np.abs(curves - base), axis=0) * 1.4826 + 0.0005  # MAD + 0.5 mV floor
    excess = np.interp(grid, q, v) - base
    k = int(np.nanargmax(excess / spread))
    sigma = float(excess[k] / spread[k])
    return {"found": bool(sigma >= DVDQ_SIGMA and excess[k] > 0), "tested": True,
            "excess_v": round(float(excess[k]), 5), "at_ah": round(float(grid[k]), 4), "sigma": round(sigma, 2)}


def _charge_blocks(steps: list[dict[str, Any]]) -> list[list[int]]:
    """Runs of consecutive driven steps that do not discharge (a CC stage and its CV stage, even a
    CV stage that ended at once), holding some charge."""
    blocks: list[list[int]] = []
    run: list[int] = []
    for k, step in enumerate([*steps, None]):
        if step is not None and step["kind"] in ("cc", "cv", "cp") and step["charge_ah"] >= step["discharge_ah"]:
            run.append(k)
            continue
        if run and sum(steps[j]["charge_ah"] for j in run) > 1e-6:
            blocks.append(run)
        run = []
    return blocks


#: The evidence of each open run file, dropped with the run file object.
_EVIDENCE: weakref.WeakKeyDictionary[RunFile, list[dict[str, Any]]] = weakref.WeakKeyDictionary()


def detect_plating(run: RunFile) -> list[dict[str, Any]]:
    """Per charge followed by a rest: its evidence and ``plating_flag`` (computed once per open
    run file: the fast-charge analysis and the report sections share it)."""
    try:
        cached = _EVIDENCE.get(run)
    except TypeError:  # a reader that cannot be a weak key: compute again every time
        cached = None
    if cached is not None:
        return cached
    out = _detect(run)
    try:
        _EVIDENCE[run] = out
    except TypeError:  # (as above)
        pass
    return out


def _detect(run: RunFile) -> list[dict[str, Any]]:
    steps = run.steps
    samples = run.samples
    cell = run.attrs.get("cell") or {}
    capacity = float(cell.get("capacity_ah") or math.nan)
    ces = {row["cycle"]: row["coulombic_efficiency"] for row in cycle_table(run)
           if row["coulombic_efficiency"] is not None and CLOSED_CE[0] <= row["coulombic_efficiency"] <= CLOSED_CE[1]}
    finite_ce = list(ces.values())
    median_ce = float(np.median(finite_ce)) if finite_ce else math.nan
    step_col = np.ascontiguousarray(samples["Step Count / 1"])
    time_all = np.ascontiguousarray(samples["Test Time / s"], dtype=float)
    volt_all = np.asarray(samples["Voltage / V"], dtype=float)
    ordered = bool(np.all(np.diff(step_col) >= 0))

    def rows(step: dict[str, Any]) -> slice | np.ndarray:
        count = step["step_count"]
        if ordered:  # step counts only grow: a slice, no scan of the whole table
            return slice(int(np.searchsorted(step_col, count, "left")), int(np.searchsorted(step_col, count, "right")))
        return step_col == count

    curves: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def curve(step: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        if step["step_count"] not in curves:
            sel = rows(step)
            q = -moved_ah(samples[sel])  # the engine's counters: exact on rows recorded by change
            curves[step["step_count"]] = (q, volt_all[sel])
        return curves[step["step_count"]]

    found = []
    for block in _charge_blocks(steps):
        after = block[-1] + 1
        if after >= len(steps) or steps[after]["kind"] != "rest":
            continue
        nxt = after + 1
        while nxt < len(steps) and steps[nxt]["kind"] == "rest":
            nxt += 1
        discharge = steps[nxt] if nxt < len(steps) and steps[nxt]["kind"] in ("cc", "cp") \
            and steps[nxt]["discharge_ah"] > steps[nxt]["charge_ah"] else None
        found.append((block, steps[after], discharge))
    by_text: dict[str, list[dict[str, Any]]] = {}
    for _block, _rest, discharge in found:
        if discharge is not None:
            by_text.setdefault(discharge["text"], []).append(discharge)
    out = []
    for block, rest, discharge in found:
        sel = rows(rest)
        plateau = relaxation_plateau(time_all[sel], volt_all[sel])
        dvdq: dict[str, Any] = {"found": False, "tested": False, "reason": "no discharge after the rest"}
        if discharge is not None:
            others = [curve(d) for d in by_text[discharge["text"]] if d["step_count"] != discharge["step_count"]]
            q, v = curve(discharge)
            dvdq = dvdq_signature(q, v, others[:12], capacity)
        cycle = int(steps[block[0]]["cycle"])
        ce = ces.get(cycle)
        ce_drop = (median_ce - ce) if ce is not None and math.isfinite(median_ce) else None
        ce_flag = ce_drop is not None and ce_drop > CE_DROP
        weak = plateau.get("tested") and plateau.get("sigma", 0.0) >= SUPPORTED_SIGMA \
            and (plateau.get("relative") or 0.0) >= REBOUND_FRACTION
        flag = bool(plateau["found"] or (weak and (dvdq["found"] or ce_flag)) or (dvdq["found"] and ce_flag))
        charged = sum(throughput(steps[k])["charge_ah"] for k in block)  # all that went in (bench.analysis.cycles)
        duration = steps[block[-1]]["end_time_s"] - steps[block[0]]["start_time_s"]
        out.append({
            "cycle": cycle, "charge_steps": [steps[k]["text"] for k in block],
            "start_time_s": round(float(steps[block[0]]["start_time_s"]), 1),
            "charge_ah": round(float(charged), 5),
            "mean_current_a": round(charged * 3600.0 / duration, 4) if duration > 0 else None,
            "chamber_setpoint_c": None if math.isnan(steps[block[0]]["chamber_setpoint_c"])
            else float(steps[block[0]]["chamber_setpoint_c"]),
            "relaxation": plateau, "dvdq_next_discharge": dvdq,
            "coulombic_efficiency": ce, "ce_drop_vs_median": None if ce_drop is None else round(ce_drop, 5),
            "plating_flag": flag,
        })
    return out
