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
   start of the next discharge, which shows as a local maximum of ``-dV/dQ`` after an initial
   minimum in its first ``DVDQ_SPAN`` of the rated capacity (same rebound test, on ``dV/dQ``).
3. **Coulombic-efficiency drift.** Lithium that stays plated (dead lithium) is lost charge: the
   cycle's CE falls below the run's median CE by more than ``CE_DROP``.

A charge is flagged when the relaxation plateau is found, or when the dV/dQ signature and the CE
drop are both found. Each charge's evidence is returned with the flag. Units: V, s, Ah, V/s.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bench.runfile.reader import RunFile

#: Rebound test: significance (standard errors) and size relative to the minimum rate.
REBOUND_SIGMA = 4.0
REBOUND_FRACTION = 0.25
#: Shortest rest (s) and fewest samples the relaxation test needs.
MIN_REST_S = 120.0
MIN_SAMPLES = 12
#: dV/dQ test: the first fraction of the rated capacity of the next discharge.
DVDQ_SPAN = 0.3
#: CE drift: a cycle's CE this far below the run's median CE (fraction).
CE_DROP = 0.005


def _slopes(t: np.ndarray, v: np.ndarray, *, relative_window: float = 0.3, min_points: int = 5
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares slope dv/dt and its standard error at each sample, over a window of
    ``relative_window`` x (t - t0) (at least ``min_points`` samples): (centres, slopes, errors)."""
    t0 = t[0]
    centres, slopes, errors = [], [], []
    n = t.size
    for k in range(n):
        half = max(relative_window * (t[k] - t0) / 2.0, 0.0)
        lo = int(np.searchsorted(t, t[k] - half, side="left"))
        hi = int(np.searchsorted(t, t[k] + half, side="right"))
        while hi - lo < min_points and (lo > 0 or hi < n):
            lo, hi = max(0, lo - 1), min(n, hi + 1)
        if hi - lo < min_points:
            continue
        tt, vv = t[lo:hi], v[lo:hi]
        tm = tt - tt.mean()
        sxx = float((tm * tm).sum())
        if sxx <= 0:
            continue
        slope = float((tm * (vv - vv.mean())).sum() / sxx)
        resid = vv - vv.mean() - slope * tm
        dof = max(tt.size - 2, 1)
        err = math.sqrt(float((resid * resid).sum()) / dof / sxx)
        centres.append(t[k])
        slopes.append(slope)
        errors.append(err)
    return np.asarray(centres), np.asarray(slopes), np.asarray(errors)


def rebound(x: np.ndarray, rate: np.ndarray, err: np.ndarray) -> dict[str, Any]:
    """Largest rise of ``rate`` above its running minimum: ``rebound``, ``at`` (x of the rise),
    ``minimum`` (the rate it rose from), ``sigma`` (rise / combined standard error)."""
    best = {"rebound": 0.0, "at": None, "minimum": None, "sigma": 0.0}
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
    centres, slopes, errors = _slopes(t, v)
    rate = -slopes  # decay rate, V/s (positive while the voltage falls)
    # skip the first samples (the ohmic step and the fastest relaxation)
    keep = centres - t[0] >= 2.0 * float(np.median(np.diff(t)))
    r = rebound(centres[keep] - t[0], rate[keep], errors[keep])
    relative = r["rebound"] / abs(r["minimum"]) if r["minimum"] else math.inf if r["rebound"] > 0 else 0.0
    found = r["sigma"] >= REBOUND_SIGMA and relative >= REBOUND_FRACTION
    return {"found": bool(found), "tested": True, "rebound_v_per_s": r["rebound"], "at_s": r["at"],
            "sigma": round(r["sigma"], 2), "relative": round(relative, 3) if math.isfinite(relative) else None}


def dvdq_signature(charge_ah: np.ndarray, voltage_v: np.ndarray, capacity_ah: float) -> dict[str, Any]:
    """dV/dQ evidence at the start of a discharge: ``found``, ``at_ah``, ``sigma``. ``charge_ah``
    is the charge moved since the discharge started (positive)."""
    q = np.asarray(charge_ah, dtype=float)
    v = np.asarray(voltage_v, dtype=float)
    span = q <= DVDQ_SPAN * capacity_ah
    q, v = q[span], v[span]
    if q.size < MIN_SAMPLES:
        return {"found": False, "tested": False, "reason": "too few samples in the first part of the discharge"}
    centres, slopes, errors = _slopes(q, v, relative_window=0.0, min_points=max(5, q.size // 15))
    rate = -slopes  # V/Ah, positive while the voltage falls
    skip = centres >= 0.02 * capacity_ah
    r = rebound(centres[skip], rate[skip], errors[skip])
    relative = r["rebound"] / abs(r["minimum"]) if r["minimum"] else 0.0
    return {"found": bool(r["sigma"] >= REBOUND_SIGMA and relative >= REBOUND_FRACTION), "tested": True,
            "at_ah": r["at"], "sigma": round(r["sigma"], 2), "relative": round(relative, 3)}


def _charge_blocks(steps: list[dict[str, Any]]) -> list[list[int]]:
    blocks: list[list[int]] = []
    run: list[int] = []
    for k, step in enumerate([*steps, None]):
        if step is not None and step["kind"] in ("cc", "cv", "cp") and step["charge_ah"] > step["discharge_ah"]:
            run.append(k)
            continue
        if run:
            blocks.append(run)
        run = []
    return blocks


def detect_plating(run: RunFile) -> list[dict[str, Any]]:
    """Per charge followed by a rest: its evidence and ``plating_flag``."""
    steps = run.steps
    samples = run.samples
    cell = run.attrs.get("cell") or {}
    capacity = float(cell.get("capacity_ah") or math.nan)
    from bench.analysis.cycles import cycle_table

    ces = {row["cycle"]: row["coulombic_efficiency"] for row in cycle_table(run)}
    finite_ce = [c for c in ces.values() if c is not None and 0.5 < c <= 1.05]
    median_ce = float(np.median(finite_ce)) if finite_ce else math.nan
    step_col = samples["Step Count / 1"]
    out = []
    for block in _charge_blocks(steps):
        after = block[-1] + 1
        if after >= len(steps) or steps[after]["kind"] != "rest":
            continue
        rest = steps[after]
        mine = samples[step_col == rest["step_count"]]
        plateau = relaxation_plateau(mine["Test Time / s"], mine["Voltage / V"])
        dvdq: dict[str, Any] = {"found": False, "tested": False, "reason": "no discharge after the rest"}
        nxt = after + 1
        while nxt < len(steps) and steps[nxt]["kind"] == "rest":
            nxt += 1
        if nxt < len(steps) and steps[nxt]["kind"] in ("cc", "cp") and steps[nxt]["discharge_ah"] > steps[nxt]["charge_ah"]:
            d = samples[step_col == steps[nxt]["step_count"]]
            t = np.asarray(d["Test Time / s"], dtype=float)
            i = np.asarray(d["Current / A"], dtype=float)
            q = -np.concatenate([[0.0], np.cumsum(0.5 * (i[1:] + i[:-1]) * np.diff(t)) / 3600.0]) if t.size else t
            dvdq = dvdq_signature(q, np.asarray(d["Voltage / V"], dtype=float), capacity)
        cycle = int(steps[block[0]]["cycle"])
        ce = ces.get(cycle)
        ce_drop = (median_ce - ce) if ce is not None and math.isfinite(median_ce) else None
        ce_flag = ce_drop is not None and ce_drop > CE_DROP
        flag = bool(plateau["found"] or (dvdq["found"] and ce_flag))
        charged = sum(steps[k]["charge_ah"] for k in block)
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
