"""Metrics every run has: capacity and energy of the last full discharge, temperatures, time."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bench.runfile.reader import RunFile


def _finite(values: np.ndarray) -> np.ndarray:
    return values[np.isfinite(values)]


def generic_metrics(run: RunFile) -> tuple[dict[str, Any], dict[str, Any]]:
    """Metrics and conditions from the step table and the sample temperatures."""
    steps = run.steps
    metrics: dict[str, Any] = {}
    conditions: dict[str, Any] = {}
    discharges = [s for s in steps if s["kind"] in ("cc", "cp") and s["discharge_ah"] > s["charge_ah"]]
    charges = [s for s in steps if s["kind"] in ("cc", "cv", "cp") and s["charge_ah"] > s["discharge_ah"]]
    if discharges:
        last = discharges[-1]
        metrics["discharge_capacity_ah"] = round(last["discharge_ah"], 6)
        metrics["discharge_energy_wh"] = round(last["discharge_wh"], 6)
        duration = last["end_time_s"] - last["start_time_s"]
        if duration > 0:
            conditions["discharge_current_a"] = round(last["discharge_ah"] * 3600.0 / duration, 4)
        conditions["discharge_step"] = last["text"]
        conditions["discharge_end"] = last["end_reason"]
    if charges:
        metrics["charge_capacity_ah"] = round(sum(s["charge_ah"] for s in charges if s["cycle"] == charges[-1]["cycle"]), 6)
    temps = _finite(run.column("Surface Temperature T1 / degC"))
    if temps.size:
        metrics["temperature_max_c"] = round(float(temps.max()), 3)
        metrics["temperature_min_c"] = round(float(temps.min()), 3)
    time_col = run.column("Test Time / s")
    metrics["test_time_s"] = float(time_col[-1]) if time_col.size else 0.0
    metrics["samples"] = int(time_col.size)
    metrics["cycles"] = int(max((s["cycle"] for s in steps), default=0))
    setpoints = sorted({s["chamber_setpoint_c"] for s in steps if not math.isnan(s["chamber_setpoint_c"])})
    if setpoints:
        conditions["chamber_setpoints_c"] = setpoints
    ambient = _finite(run.column("Ambient Temperature / degC"))
    if ambient.size:
        conditions["ambient_mean_c"] = round(float(ambient.mean()), 2)
    return metrics, conditions
