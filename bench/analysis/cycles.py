"""Per-cycle summaries (capacity, energy, coulombic and energy efficiency) and dQ/dV curves.

Built from the run file's ``/steps`` table (one row per finished step, Ah and Wh counted by the
engine from every sample; a step that ended on a voltage limit at the crossing, see
:mod:`bench.engine.crossing`), so it works for any protocol. Units: Ah, Wh, s, V, °C; efficiencies
are fractions (discharge / charge within the cycle). dQ/dV is computed on request from the
samples of one charge or discharge step: charge binned on a uniform voltage grid, Ah/V.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bench.analysis.moved import moved_ah
from bench.runfile.reader import RunFile

#: Step kinds that move charge.
DRIVEN = ("cc", "cv", "cp", "pulse")


def cycle_table(run: RunFile) -> list[dict[str, Any]]:
    """One row per cycle: ``cycle``, ``charge_ah``, ``discharge_ah``, ``charge_wh``,
    ``discharge_wh`` (all the charge and energy moved, :func:`throughput`, as the run file's
    ``/cycles``), ``discharge_capacity_ah`` (the cycle's discharges taken at their voltage
    crossings, independent of the sample period: the capacity to plot and trend),
    ``coulombic_efficiency``, ``energy_efficiency`` (throughput ratios; None when the cycle did
    not both charge and discharge), ``start_time_s``, ``end_time_s``, ``temperature_max_c``,
    ``temperature_min_c``, ``steps``, ``flags`` (why the cycle's numbers are not a result: CE
    above 1, a discharge above the rated capacity; empty when they are) and
    ``discharge_is_result`` (its discharge capacity stands even when its CE does not: see
    :func:`discharge_is_result`)."""
    rows: dict[int, dict[str, Any]] = {}
    for step in run.steps:
        cycle = int(step["cycle"])
        row = rows.setdefault(cycle, {
            "cycle": cycle, "charge_ah": 0.0, "discharge_ah": 0.0, "charge_wh": 0.0, "discharge_wh": 0.0,
            "discharge_capacity_ah": 0.0,
            "start_time_s": step["start_time_s"], "end_time_s": step["end_time_s"],
            "temperature_max_c": -math.inf, "temperature_min_c": math.inf, "steps": 0,
        })
        row["steps"] += 1
        row["end_time_s"] = step["end_time_s"]
        for key, value in throughput(step).items():
            if math.isfinite(value):
                row[key] += value
        if step["discharge_ah"] > step["charge_ah"] and math.isfinite(step["discharge_ah"]):
            row["discharge_capacity_ah"] += step["discharge_ah"]
        for key, pick in (("temperature_max_c", max), ("temperature_min_c", min)):
            value = step[key]
            if math.isfinite(value):
                row[key] = pick(row[key], value)
    rated = (run.attrs.get("cell") or {}).get("capacity_ah")
    out = []
    for cycle in sorted(rows):
        row = rows[cycle]
        row["flags"] = cycle_flags(row["charge_ah"], row["discharge_ah"], float(rated) if rated else None)
        row["discharge_is_result"] = discharge_is_result(row["discharge_ah"], float(rated) if rated else None)
        row["coulombic_efficiency"] = _ratio(row["discharge_ah"], row["charge_ah"])
        row["energy_efficiency"] = _ratio(row["discharge_wh"], row["charge_wh"])
        for key in ("temperature_max_c", "temperature_min_c"):
            if not math.isfinite(row[key]):
                row[key] = None
        out.append({k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()})
    return out


def throughput(step: dict[str, Any]) -> dict[str, float]:
    """All the charge and energy a ``/steps`` row moved (``charge_ah``, ``discharge_ah``,
    ``charge_wh``, ``discharge_wh``; Ah, Wh): a step that ended on a voltage limit records its
    figures at the crossing and what was counted after it as ``past_crossing_ah`` / ``_wh``
    (signed, + = into the cell), added back here on the side the step moved charge on. Files
    written before those columns existed hold the throughput already."""
    out = {key: float(step[key]) for key in ("charge_ah", "discharge_ah", "charge_wh", "discharge_wh")}
    past_ah, past_wh = float(step.get("past_crossing_ah") or 0.0), float(step.get("past_crossing_wh") or 0.0)
    if past_ah == past_ah and past_ah:
        if out["charge_ah"] >= out["discharge_ah"]:
            out["charge_ah"] += past_ah
        else:
            out["discharge_ah"] -= past_ah
    if past_wh == past_wh and past_wh:
        if out["charge_wh"] >= out["discharge_wh"]:
            out["charge_wh"] += past_wh
        else:
            out["discharge_wh"] -= past_wh
    return out


def net_throughput_ah(step: dict[str, Any]) -> float:
    """Net charge a ``/steps`` row moved, Ah (+ = into the cell), past any crossing included."""
    moved = throughput(step)
    return moved["charge_ah"] - moved["discharge_ah"]


#: A cycle is flagged when its CE exceeds 1 by more than this (counting tolerance).
CE_TOLERANCE = 0.005
#: ... or its discharge exceeds the rated capacity by more than this fraction.
CAPACITY_TOLERANCE = 0.05


def cycle_flags(charge_ah: float, discharge_ah: float, rated_ah: float | None) -> list[str]:
    """Why a cycle's numbers are not a result: CE above 1 (it did not start and end at the same
    state of charge) or a discharge above the cell's rated capacity (several discharges summed)."""
    flags = []
    if charge_ah > 1e-9 and discharge_ah / charge_ah > 1.0 + CE_TOLERANCE:
        flags.append(f"coulombic efficiency {discharge_ah / charge_ah:.3f} > 1: not a closed cycle")
    if rated_ah and rated_ah > 0 and discharge_ah > rated_ah * (1.0 + CAPACITY_TOLERANCE):
        flags.append(f"discharge {discharge_ah:.3f} Ah above the cell's {rated_ah:g} Ah")
    return flags


def discharge_is_result(discharge_ah: float, rated_ah: float | None) -> bool:
    """A cycle's discharge capacity is a result whether or not the charge before it was full (a
    run from a half-charged cell still measures its first discharge); only one above the rated
    capacity (several discharges summed into one cycle) is not. CE alone needs a closed cycle."""
    if discharge_ah <= 1e-9:
        return False
    return not (rated_ah and rated_ah > 0 and discharge_ah > rated_ah * (1.0 + CAPACITY_TOLERANCE))


def _ratio(numerator: float, denominator: float) -> float | None:
    if numerator <= 1e-9 or denominator <= 1e-9:
        return None
    return numerator / denominator


def full_discharges(run: RunFile, voltage_min_v: float | None = None) -> list[dict[str, Any]]:
    """Discharge steps that ended on a voltage cut-off (not on time, SOC or a trip), in order.

    ``voltage_min_v``: only those ending at or below this voltage + 10 mV (None: any voltage end).
    """
    out = []
    for step in run.steps:
        if step["kind"] not in DRIVEN or step["discharge_ah"] <= step["charge_ah"]:
            continue
        reason = str(step["end_reason"])
        if not reason.rstrip().endswith(" V") or reason.startswith("safety"):
            continue
        if voltage_min_v is not None and step["voltage_end_v"] > voltage_min_v + 0.01:
            continue
        out.append(step)
    return out


def dqdv(run: RunFile, step_count: int | None = None, *, bin_v: float = 0.01) -> dict[str, Any]:
    """dQ/dV (Ah/V) of one step: ``step_count`` or else the last full discharge.

    Returns ``step_count``, ``text``, ``direction`` (``charge``/``discharge``), ``voltage_v`` (bin
    centres) and ``dqdv_ah_per_v`` (lists). Charge is the engine's counters along the step
    (:mod:`bench.analysis.moved`); bins with no samples are dropped. Raises ValueError when there
    is no such step.
    """
    steps = run.steps
    if step_count is None:
        candidates = full_discharges(run)
        if not candidates:
            raise ValueError(f"{run.path}: no discharge ending on a voltage cut-off for dQ/dV")
        step = candidates[-1]
    else:
        matches = [s for s in steps if s["step_count"] == step_count]
        if not matches:
            raise ValueError(f"{run.path}: no step {step_count} for dQ/dV")
        step = matches[0]
    samples = run.samples
    mask = samples["Step Count / 1"] == step["step_count"]
    t = np.asarray(samples["Test Time / s"][mask], dtype=float)
    v = np.asarray(samples["Voltage / V"][mask], dtype=float)
    if t.size < 3:
        raise ValueError(f"{run.path}: step {step['step_count']} has {t.size} samples, too few for dQ/dV")
    q_ah = moved_ah(samples[mask])  # the engine's counters: exact on rows recorded by change
    direction = "charge" if q_ah[-1] > 0 else "discharge"
    q_ah = np.abs(q_ah)
    edges = np.arange(np.floor(v.min() / bin_v) * bin_v, v.max() + bin_v, bin_v)
    if edges.size < 3:
        raise ValueError(f"{run.path}: step {step['step_count']} spans {v.max() - v.min():.4f} V, too little for dQ/dV")
    # charge at each voltage edge (monotone interpolation along the step's voltage path)
    order = np.argsort(v, kind="stable")
    q_at_edges = np.interp(edges, v[order], q_ah[order])
    dq = np.abs(np.diff(q_at_edges))
    counts, _ = np.histogram(v, bins=edges)
    keep = counts > 0
    centres = 0.5 * (edges[1:] + edges[:-1])
    curve = {"step_count": int(step["step_count"]), "text": step["text"], "direction": direction,
             "bin_v": bin_v, "voltage_v": centres[keep].round(6).tolist(),
             "dqdv_ah_per_v": (dq[keep] / bin_v).round(6).tolist()}
    curve["peaks"] = dqdv_peaks(curve["voltage_v"], curve["dqdv_ah_per_v"])
    return curve


def dqdv_peaks(voltage_v: list[float], dqdv_ah_per_v: list[float], count: int = 3) -> list[dict[str, float]]:
    """The ``count`` highest local maxima of a dQ/dV curve (the phase-transition plateaus an
    analyst compares between cycles), by height: ``voltage_v`` and ``dqdv_ah_per_v``."""
    y = np.asarray(dqdv_ah_per_v, dtype=float)
    if y.size < 3:
        return []
    interior = np.flatnonzero((y[1:-1] >= y[:-2]) & (y[1:-1] > y[2:])) + 1
    best = interior[np.argsort(y[interior])[::-1][:count]]
    return [{"voltage_v": round(float(voltage_v[k]), 4), "dqdv_ah_per_v": round(float(y[k]), 3)} for k in sorted(best)]


def format_dqdv(curve: dict[str, Any]) -> str:
    """One line for the terminal report: the step, its direction, the bins and the peaks."""
    peaks = ", ".join(f"{p['dqdv_ah_per_v']:g} Ah/V at {p['voltage_v']:.3f} V" for p in curve.get("peaks") or [])
    return (f"dQ/dV of step {curve['step_count']} ({curve['text']}, {curve['direction']}): "
            f"{len(curve['voltage_v'])} bins of {curve['bin_v'] * 1000:g} mV; peaks: {peaks or 'none'}")
