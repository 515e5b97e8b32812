"""Hot box (thermal abuse, GB/T 31485-2015 6.2.7 heating test; UL 1642 / IEC 62133 oven test):
what the heat did to the cell, inferred from the recorded voltage, cell-surface and chamber-air
temperatures.

The chamber's heating soak is the abuse (``abuse_applied`` as it starts). From then on:

* hold at the test temperature: how long the chamber air stayed within ``band_k`` (2 K, the
  standards' ±2 °C) of ``test_temperature_c`` before heating stopped; a hold shorter than the
  protocol's ``hold`` means the cell was not exposed as the standard asks, and without a runaway
  the claim is then not tested (no hazard level is reported);
* runaway confirmed: GB 38031-2025 C.5.3.7 on the data after heating started (the rule of
  :func:`bench.analysis.nail.runaway_confirmation`; in an oven the cell is above its maximum
  operating temperature, so dT/dt >= 1 K/s held > 3 s confirms it);
* self-heating: the cell surface above the chamber air while the chamber heats (from the start of
  heating to the end of the heating step or the trip that stopped it; once the air cools, a cell
  lagging behind it is warmer without making heat);
* venting (liquid electrolyte): runaway confirmed, or self-heating above ``vent_self_heating_k``
  (10 K: decomposition at that rate gasses the cell), or the voltage collapsed below half its
  value at the start of heating (separator collapse or a current-interrupt device opening, both
  beyond the venting pressure in cylindrical cells);
* fire / explosion: as for the nail (:mod:`bench.analysis.nail`): runaway and a peak at or above
  ``fire_temperature_c``; runaway and the thermocouple lost while hot;
* defect: voltage at the end below 90 % of its value at the start of heating; a recovered dip
  below it: level 1. No leakage is assumed (an oven makes no hole).

The EUCAR level is :func:`bench.analysis.nail.eucar_level` of these. The run's safety trips
(the runaway confirmation stops the heating) are evidence here, not a verdict.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bench.analysis.nail import (
    FIRE_TEMPERATURE_C,
    RECOVERED_FRACTION,
    eucar_level,
    max_heating_rate,
    runaway_confirmation,
)
from bench.runfile.reader import RunFile

#: The standards' tolerance on the oven temperature, K (GB/T 31485, UL 1642, IEC 62133: ±2 °C).
BAND_K = 2.0
#: Cell surface above the chamber air beyond which venting is inferred, K.
VENT_SELF_HEATING_K = 10.0
#: Voltage below this fraction of its value at the start of heating: collapsed (short / CID).
COLLAPSE_FRACTION = 0.5


def _number(params: dict[str, Any], name: str, default: float) -> float:
    try:
        return float(str(params.get(name, default)).split()[0])
    except (ValueError, IndexError):
        return default


def _seconds(text: Any, default: float) -> float:
    """``30 minutes`` / ``1 hour`` / ``600 s`` -> seconds (default when unreadable)."""
    from protocols.quantities import QuantityError, parse_quantity

    try:
        q = parse_quantity(str(text))
    except (QuantityError, ValueError):
        return default
    return float(q.value) if q.dimension == "time" else default


def _hold_s(time_s: np.ndarray, air_c: np.ndarray, target_c: float, band_k: float, until_s: float) -> float:
    """Seconds the air spent within ``band_k`` of ``target_c`` before ``until_s`` (sample-weighted)."""
    if time_s.size < 2:
        return 0.0
    dt = np.diff(time_s)
    inside = (np.abs(air_c[:-1] - target_c) <= band_k) & (time_s[:-1] < until_s)
    return float(np.sum(dt[inside]))


def hot_box_analysis(run: RunFile) -> tuple[dict[str, Any], dict[str, Any]]:
    """Metrics (``eucar_hazard_level``, ``runaway_confirmed``, ``self_heating_max_k``...) and conditions."""
    attrs = run.attrs
    params = attrs.get("parameters", {}) or {}
    cell = attrs.get("cell", {}) or {}
    target_c = _number(params, "test_temperature_c", 130.0)
    hold_wanted_s = _seconds(params.get("hold", "30 minutes"), 1800.0)
    band_k = _number(params, "band_k", BAND_K)
    vent_k = _number(params, "vent_self_heating_k", VENT_SELF_HEATING_K)
    fire_c = _number(params, "fire_temperature_c", FIRE_TEMPERATURE_C)
    chemistry = str(cell.get("chemistry", ""))
    electrolyte = str(params.get("electrolyte", "solid" if "solid" in chemistry.lower() else "liquid"))
    t_max_op = float(cell.get("temperature_max_c", 60.0))
    conditions: dict[str, Any] = {
        "standard": str(params.get("standard", "GB/T 31485-2015 6.2.7 heating")),
        "test_temperature_c": target_c, "hold_required_s": hold_wanted_s, "band_k": band_k,
        "heating_rate": str(params.get("heating_rate", "")), "electrolyte": electrolyte,
        "vent_self_heating_k": vent_k, "fire_temperature_c": fire_c,
    }
    applied = [e for e in run.events if e["kind"] == "abuse_applied"]
    if not applied:
        conditions["heating"] = "the heating step never started: no verdict"
        return {}, conditions
    t_a = float(applied[0]["time_s"])
    trips = [e for e in run.events if e["kind"] == "safety_trip" and float(e["time_s"]) >= t_a]
    time_s = np.asarray(run.column("Test Time / s"), dtype=float)
    voltage = np.asarray(run.column("Voltage / V"), dtype=float)
    temp = np.asarray(run.column("Surface Temperature T1 / degC"), dtype=float)
    air = np.asarray(run.column("Ambient Temperature / degC"), dtype=float)
    before, after = time_s <= t_a, time_s > t_a
    if not after.any():
        conditions["observation"] = "no sample after heating started"
        return {}, conditions
    v0 = float(voltage[before][-1]) if before.any() else float(voltage[after][0])
    ta, va, ya, aa = time_s[after], voltage[after], temp[after], air[after]
    finite = np.isfinite(ya)
    peak = float(ya[finite].max()) if finite.any() else math.nan
    runaway_at = runaway_confirmation(ta, va, ya, voltage_initial_v=v0, temperature_max_c=t_max_op)
    stopped_at = float(trips[0]["time_s"]) if trips else None
    heating_steps = [s for s in run.steps if float(s["start_time_s"]) >= t_a - 1e-6]
    heating_end = float(heating_steps[0]["end_time_s"]) if heating_steps else math.inf
    if stopped_at is not None:
        heating_end = min(heating_end, stopped_at)
    hold_s = _hold_s(ta, aa, target_c, band_k, heating_end)
    both = finite & np.isfinite(aa) & (ta <= heating_end)
    self_heating = float(np.max(ya[both] - aa[both])) if both.any() else math.nan
    hot = np.concatenate(([False], ya[:-1] >= t_max_op)) if ya.size else np.zeros(0, bool)
    v_min, v_end = float(va.min()), float(va[-1])
    runaway = runaway_at is not None
    liquid = electrolyte != "solid"
    venting = liquid and (runaway or self_heating > vent_k or v_min < COLLAPSE_FRACTION * v0)
    fire = runaway and peak >= fire_c
    explosion = runaway and bool(np.any(~finite & hot))
    level = eucar_level(explosion=explosion, fire=fire, venting=venting, leakage=False,
                        defect=v_end < RECOVERED_FRACTION * v0, dipped=v_min < RECOVERED_FRACTION * v0)
    exposed = hold_s >= hold_wanted_s - 1e-6
    metrics: dict[str, Any] = {
        "heating_start_s": round(t_a, 1),
        "hold_at_test_temperature_s": round(hold_s, 1),
        "chamber_air_max_c": round(float(np.nanmax(aa)), 2) if np.isfinite(aa).any() else None,
        "voltage_at_heating_v": round(v0, 4),
        "voltage_min_after_v": round(v_min, 4),
        "voltage_end_v": round(v_end, 4),
        "voltage_drop_fraction": round((v0 - v_min) / v0, 4) if v0 > 0 else None,
        "temperature_max_after_c": round(peak, 2),
        "self_heating_max_k": round(self_heating, 2),
        "dtdt_max_k_per_s": round(max_heating_rate(ta, ya), 3),
        "runaway_confirmed": int(runaway),
        "runaway_time_after_heating_s": None if runaway_at is None else round(runaway_at - t_a, 1),
        "heating_stopped_after_s": None if stopped_at is None else round(stopped_at - t_a, 1),
        "observed_after_heating_s": round(float(ta[-1]) - t_a, 1),
        "venting_inferred": int(venting),
        "fire_inferred": int(fire),
        "explosion_inferred": int(explosion),
    }
    if stopped_at is not None:
        conditions["heating_stopped_by"] = f"safety trip {trips[0]['data'].get('rule', '')}: {trips[0]['message']}"
        conditions["chamber_setpoint_after_trip_c"] = trips[0]["data"].get("chamber_setpoint_c")
    if exposed or runaway or venting:
        metrics["eucar_hazard_level"] = level
        metrics["eucar_hazard_level_max"] = 7 if level >= 5 else level
    else:
        conditions["not_measured"] = (f"the chamber held {target_c:g} °C ±{band_k:g} K for {hold_s:.0f} s, less than "
                                      f"the {hold_wanted_s:.0f} s the standard asks, and nothing happened: not tested")
    return metrics, conditions
