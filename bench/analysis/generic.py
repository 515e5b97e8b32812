"""Metrics every run has: capacity and energy of the last full discharge, temperatures, time."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bench.analysis.moved import extreme_c, time_mean
from bench.analysis.numbers import positive_or_none
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
    if temps.size:  # with the steps' extremes (every acquired sample, also between rows recorded by change)
        no_rows = np.zeros(0, dtype=[("Surface Temperature T1 / degC", "f8")])
        metrics["temperature_max_c"] = round(max(float(temps.max()), extreme_c(no_rows, steps, True)), 3)
        metrics["temperature_min_c"] = round(min(float(temps.min()), extreme_c(no_rows, steps, False)), 3)
    time_col = run.column("Test Time / s")
    metrics["test_time_s"] = float(time_col[-1]) if time_col.size else 0.0
    metrics["samples"] = int(time_col.size)
    metrics["cycles"] = int(max((s["cycle"] for s in steps), default=0))
    setpoints = sorted({s["chamber_setpoint_c"] for s in steps if not math.isnan(s["chamber_setpoint_c"])})
    if setpoints:
        conditions["chamber_setpoints_c"] = setpoints
    ambient_col = run.column("Ambient Temperature / degC")
    ambient = _finite(ambient_col)
    if ambient.size and len(setpoints) <= 1:  # the mean of -20 °C and 25 °C air is no condition
        # time-weighted: rows recorded by change are denser where things move
        conditions["ambient_mean_c"] = round(time_mean(time_col, ambient_col), 2)
    energy_density(run, metrics, conditions)
    from bench.analysis.ageing import capacity_checks, cycled
    from bench.analysis.replay import add_replay_conditions

    add_replay_conditions(run, conditions)

    metrics["cycled"] = cycled(run)
    checks = capacity_checks(run)
    if checks:  # the capacity this run measured (the cell's history in the catalog: bench runs list --cell-id)
        metrics["capacity_check_ah"] = checks[-1]["capacity_ah"]
    if not run.attrs.get("analysis"):
        fade(run, metrics, conditions)
    return metrics, conditions


def fade(run: RunFile, metrics: dict[str, Any], conditions: dict[str, Any]) -> None:
    """``fade_pct`` (1 - last / first capacity check, %) and ``fade_cycles`` (checks after the
    first) over :func:`bench.analysis.ageing.capacity_checks`; absent with fewer than two."""
    from bench.analysis.ageing import capacity_checks

    checks = capacity_checks(run)
    if len(checks) < 2 or checks[-1]["fade_pct"] is None:
        return
    metrics["fade_pct"] = checks[-1]["fade_pct"]
    metrics["fade_cycles"] = len(checks) - 1
    metrics["capacity_first_check_ah"] = checks[0]["capacity_ah"]
    metrics["capacity_last_check_ah"] = checks[-1]["capacity_ah"]
    conditions["capacity_checks"] = [{"cycle": c["cycle"], "step": c["step"], "discharge_ah": c["capacity_ah"]}
                                     for c in checks]


def energy_density(run: RunFile, metrics: dict[str, Any], conditions: dict[str, Any]) -> None:
    """``specific_energy_wh_per_kg`` and ``energy_density_wh_per_l`` from the energy of the last
    full discharge (to the cell's minimum voltage) at room temperature (:data:`ROOM_TEMPERATURE_C`)
    and the cell's ``mass_kg`` / ``volume_l``; absent when the run has no such discharge or the
    cell block states no mass / volume. The
    conditions (``energy_density``) give the step, its mean current and C-rate, the chamber
    setpoint and the cell temperatures: energy depends on all of them."""
    from bench.analysis.cycles import full_discharges

    cell = run.attrs.get("cell") or {}
    v_min = cell.get("voltage_min_v")
    full = [s for s in full_discharges(run, float(v_min) if v_min is not None else None) if _at_room_temperature(s)]
    if not full:  # a cold discharge's energy is not the cell's rated energy
        return
    step = full[-1]
    energy_wh = float(step["discharge_wh"])
    duration = step["end_time_s"] - step["start_time_s"]
    current = step["discharge_ah"] * 3600.0 / duration if duration > 0 else math.nan
    capacity = float(cell.get("capacity_ah") or math.nan)
    mass, volume = positive_or_none(cell.get("mass_kg")), positive_or_none(cell.get("volume_l"))
    info: dict[str, Any] = {
        "step": step["text"], "energy_wh": round(energy_wh, 4), "mean_current_a": round(current, 4),
        "c_rate": round(current / capacity, 4) if capacity > 0 else None,
        "chamber_setpoint_c": None if math.isnan(step["chamber_setpoint_c"]) else step["chamber_setpoint_c"],
        "cell_temperature_max_c": _round(step["temperature_max_c"]),
        "cell_temperature_min_c": _round(step["temperature_min_c"]),
        "mass_kg": mass, "volume_l": volume,
    }
    if mass is not None:
        metrics["specific_energy_wh_per_kg"] = round(energy_wh / mass, 2)
    if volume is not None:
        metrics["energy_density_wh_per_l"] = round(energy_wh / volume, 2)
    conditions["energy_density"] = info


#: Chamber setpoints that count as the rated (room-temperature) condition for energy, °C: IEC
#: 61960-3 measures rated capacity and energy at 20 ± 5 °C, GB/T 31486-2015 at 25 ± 2 °C.
ROOM_TEMPERATURE_C = (15.0, 30.0)


def _at_room_temperature(step: Any) -> bool:
    """A step under a room-temperature chamber setpoint (or with none: the lab's air)."""
    setpoint = float(step["chamber_setpoint_c"])
    return math.isnan(setpoint) or ROOM_TEMPERATURE_C[0] <= setpoint <= ROOM_TEMPERATURE_C[1]



def _round(value: float) -> float | None:
    return round(float(value), 2) if math.isfinite(value) else None
