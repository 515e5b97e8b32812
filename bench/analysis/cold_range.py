"""Driving range at a cold temperature from repeated drive cycles (``analysis: cold_range``).

The method (protocols/library/cold_range.yaml): full charge at room temperature, a drive-cycle
profile replayed again and again to the cut-off voltage (the warm range); full charge again,
soak at the cold temperature, the same replay to the same cut-off (the cold range). The energy
the cell delivers to the cut-off is the range of a vehicle with that pack (the distance per Wh
is the vehicle's, the same at both temperatures). So:

    range retention   = E(cold) / E(warm) x 100 %          (Wh / Wh, net discharge energy)
    range degradation = 100 % - range retention

A Replay step counts when it ended on its cut-off voltage; one that ended on time ("at most"),
a trip, or a soak out of band leaves the claim not tested. Each pass of the profile is a drive
cycle; ``drive_cycles`` lists the Wh of each (the last one partial), from the samples.
Units: Wh, V, °C, s; percent.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bench.analysis.cold import COLD_MAX_C, ROOM_MIN_C, _not_at_temperature, _setpoint, _soak_before
from bench.analysis.replay import replay_conditions
from bench.runfile.reader import RunFile

DEFINITION = ("range retention = E(cold) / E(warm) x 100 %, E = net energy delivered (Wh) by the same drive-cycle "
              "replay from a full charge to the same cut-off voltage; range degradation = 100 % - retention")


def cold_range(run: RunFile) -> tuple[dict[str, Any], dict[str, Any]]:
    """Metrics ``range_energy_warm_wh``, ``range_energy_cold_wh``, ``range_retention_pct``,
    ``range_degradation_pct``, ``drive_cycles_warm`` / ``_cold`` (passes, fractional), and the
    conditions: profile and scaling, soak, cut-off, Wh per drive cycle."""
    replays = [s for s in run.steps if s["kind"] == "replay"]
    metrics: dict[str, Any] = {}
    conditions: dict[str, Any] = {"definition": DEFINITION}
    profiles = {int(d.get("step_index", -1)): d for d in replay_conditions(run)}
    warm = next((s for s in replays if _setpoint(s) >= ROOM_MIN_C), None)
    cold = next((s for s in replays if _setpoint(s) <= COLD_MAX_C and (warm is None or s["start_time_s"] > warm["start_time_s"])), None)
    if warm is None or cold is None:
        conditions["cold_range"] = "not tested: no drive-cycle replay at room temperature followed by one at a cold setpoint"
        return metrics, conditions
    samples = run.samples
    cycles: dict[str, list[float]] = {}
    reasons: list[str] = []
    for name, step in (("warm", warm), ("cold", cold)):
        profile = profiles.get(int(step["step_index"]), {})
        energy = step["discharge_wh"] - step["charge_wh"]
        metrics[f"range_energy_{name}_wh"] = round(energy, 6)
        duration = float(profile.get("duration_s", math.nan))
        per_cycle = _wh_per_pass(samples, step, duration)
        cycles[name] = per_cycle
        metrics[f"drive_cycles_{name}"] = round((step["end_time_s"] - step["start_time_s"]) / duration, 3) \
            if duration > 0 else None
        conditions[f"{name}_replay"] = {
            "step": step["text"], "chamber_setpoint_c": _setpoint(step), "end": step["end_reason"],
            "end_voltage_v": round(step["voltage_end_v"], 4), "duration_s": round(step["end_time_s"] - step["start_time_s"], 1),
            "wh_per_drive_cycle": [round(x, 5) for x in per_cycle],
        }
        if not str(step["end_reason"]).rstrip().endswith(" V"):  # the cut-off condition reads "2.5 V"
            reasons.append(f"the {name} replay ended on {step['end_reason']!r}, not on its cut-off voltage")
    first = profiles.get(int(warm["step_index"]))
    if first:
        conditions["profile"] = {k: v for k, v in first.items() if k != "step_index"}
    conditions["cutoff"] = f"{warm['end_reason']} (25 °C) / {cold['end_reason']} (cold)"
    soak = _soak_before(run, cold, samples)
    if soak:
        conditions["cold_soak"] = soak
    untested = _not_at_temperature(run, soak, cold)
    if untested:
        reasons.append(untested)
    warm_wh = metrics["range_energy_warm_wh"]
    if warm_wh > 0 and not reasons:
        retention = 100.0 * metrics["range_energy_cold_wh"] / warm_wh
        metrics["range_retention_pct"] = round(retention, 3)
        metrics["range_degradation_pct"] = round(100.0 - retention, 3)
    elif reasons:
        conditions["cold_range"] = "not tested: " + "; ".join(reasons)
        conditions.setdefault("not_tested", []).append("range_degradation_pct: " + "; ".join(reasons))
    return metrics, conditions


def _wh_per_pass(samples: np.ndarray, step: dict[str, Any], duration_s: float) -> list[float]:
    """Net discharge energy (Wh) of each pass of the profile in ``step`` (trapezoid of V x I)."""
    mine = samples[samples["Step Count / 1"] == step["step_count"]]
    if not mine.size or not duration_s > 0:
        return []
    t = np.asarray(mine["Test Time / s"], dtype=float) - step["start_time_s"]
    power = np.asarray(mine["Voltage / V"], dtype=float) * np.asarray(mine["Current / A"], dtype=float)
    passes = int(math.ceil(max(t[-1], 0.0) / duration_s - 1e-9)) or 1
    out = [0.0] * passes
    mid = 0.5 * (t[1:] + t[:-1])
    pieces = -0.5 * (power[1:] + power[:-1]) * np.diff(t) / 3600.0
    index = np.minimum((mid // duration_s).astype(int), passes - 1)
    for i, wh in zip(index, pieces, strict=True):
        out[int(i)] += float(wh)
    return out
