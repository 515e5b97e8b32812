"""Nail penetration (GB/T 31485-2015 6.2.8 / 5.2.8): what happened after the puncture, inferred
from the recorded voltage and cell-surface temperature.

GB/T 31485 passes a cell that neither catches fire nor explodes within the 1 h observation. A
data logger sees neither flame nor debris, so the verdict rests on documented inferences
(docs/safety.md, "Nail penetration"):

* runaway confirmed: GB 38031-2025 C.5.3.7 on the data after the puncture - (voltage drop
  > 25 % of the voltage at the puncture OR T >= the cell's maximum operating temperature)
  AND dT/dt >= 1 K/s held for more than 3 s;
* fire: runaway confirmed AND peak surface temperature >= ``fire_temperature_c`` (450 °C:
  vented carbonate solvents auto-ignite at ~440-460 °C);
* venting (liquid electrolyte only): peak temperature >= ``vent_temperature_c`` (120 °C: vent /
  CID opening, solvent boiling);
* explosion / rupture: runaway confirmed AND the cell thermocouple lost (no reading) while the
  cell was above its maximum operating temperature (the can came apart or the couple burnt off);
* EUCAR hazard level (0-7), inferred as a lower bound from the above: 7 explosion, 5 fire,
  4 venting, 3 leakage (a liquid-electrolyte cell with a nail hole), 2 defect (voltage collapsed
  and did not recover, or > 5 K rise), 1 voltage dipped and recovered, 0 no effect.
  Levels 6 (rupture) and 7 need a witness or a camera; ``eucar_hazard_level_max`` says how
  high the level could be.

Thresholds may be set per run with protocol parameters of the same names; the electrolyte is
``parameters.electrolyte`` (``liquid``/``solid``) or inferred from the cell's chemistry text.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bench.runfile.reader import RunFile

FIRE_TEMPERATURE_C = 450.0
VENT_TEMPERATURE_C = 120.0
#: GB 38031-2025 C.5.3.7 numbers.
RUNAWAY_DTDT_K_PER_S = 1.0
RUNAWAY_HOLD_S = 3.0
RUNAWAY_VOLTAGE_DROP = 0.25
#: A rise above this (K) or a voltage below 90 % of the initial at the end means a damaged cell.
DEFECT_RISE_K = 5.0
RECOVERED_FRACTION = 0.9


def _parameter(params: dict[str, Any], name: str, default: float) -> float:
    try:
        return float(str(params.get(name, default)).split()[0])
    except (ValueError, IndexError):
        return default


def runaway_confirmation(time_s: np.ndarray, voltage_v: np.ndarray, temperature_c: np.ndarray, *,
                         voltage_initial_v: float, temperature_max_c: float) -> float | None:
    """Test time (s) at which GB 38031-2025 C.5.3.7 confirms thermal runaway, or None.

    dT/dt is taken between each sample and the latest sample at least 1 s before it.
    """
    since: float | None = None
    for i in range(len(time_s)):
        t, y = time_s[i], temperature_c[i]
        if not math.isfinite(y):
            continue
        j = int(np.searchsorted(time_s, t - 1.0, side="right")) - 1
        while j >= 0 and not math.isfinite(temperature_c[j]):
            j -= 1
        if j < 0 or t - time_s[j] < 1.0 - 1e-9:
            continue
        rate = (y - temperature_c[j]) / (t - time_s[j])
        if rate < RUNAWAY_DTDT_K_PER_S:
            since = None
            continue
        if since is None:
            since = float(time_s[j])
        drop = (voltage_initial_v - voltage_v[i]) / voltage_initial_v if voltage_initial_v > 0 else 0.0
        if t - since > RUNAWAY_HOLD_S and (drop > RUNAWAY_VOLTAGE_DROP or y >= temperature_max_c):
            return float(t)
    return None


def eucar_level(*, explosion: bool, fire: bool, venting: bool, leakage: bool, defect: bool, dipped: bool) -> int:
    """EUCAR hazard level (SAND2005-3123) inferred as a lower bound: 7 explosion, 5 fire,
    4 venting, 3 leakage, 2 defect (irreversible damage), 1 passive protection (recovered dip),
    0 no effect. Level 6 (rupture) is not distinguishable from 7 without a witness."""
    if explosion:
        return 7
    if fire:
        return 5
    if venting:
        return 4
    if leakage:
        return 3
    if defect:
        return 2
    return 1 if dipped else 0


def nail_analysis(run: RunFile) -> tuple[dict[str, Any], dict[str, Any]]:
    """Metrics (``fire_inferred``, ``explosion_inferred``, ``eucar_hazard_level``...) and conditions."""
    attrs = run.attrs
    params = attrs.get("parameters", {}) or {}
    cell = attrs.get("cell", {}) or {}
    conditions: dict[str, Any] = {"standard": "GB/T 31485-2015 6.2.8 nail penetration"}
    applied = [e for e in run.events if e["kind"] == "abuse_applied"]
    trips = [e for e in run.events if e["kind"] == "safety_trip"]
    punctured = bool(applied)
    event = bool(applied or trips)  # levels 1-2 compare with the moment of an event
    if applied:
        t_p = float(applied[0]["time_s"])
        conditions["puncture"] = {k: v for k, v in applied[0]["data"].items() if k != "test"}
    elif trips:  # no puncture (e.g. puncture_safe_cycling): judge what followed the first trip
        t_p = float(trips[0]["time_s"])
        conditions["puncture"] = {"event": f"safety trip {trips[0]['data'].get('rule', '')}: {trips[0]['message']}",
                                  "note": "no puncture: the hazard level is judged after the first safety trip"}
    else:  # nothing happened to the cell: judge the whole run (no nail hole, so no leakage assumed)
        time_all = run.column("Test Time / s")
        if not time_all.size:
            conditions["puncture"] = "no samples: no verdict"
            return {}, conditions
        t_p = float(time_all[0]) - 1e-9
        conditions["puncture"] = {"event": "none (no puncture, no safety trip): the whole run is judged"}
    chemistry = str(cell.get("chemistry", ""))
    electrolyte = str(params.get("electrolyte", "solid" if "solid" in chemistry.lower() else "liquid"))
    conditions["electrolyte"] = electrolyte
    fire_c = _parameter(params, "fire_temperature_c", FIRE_TEMPERATURE_C)
    vent_c = _parameter(params, "vent_temperature_c", VENT_TEMPERATURE_C)
    t_max_op = float(cell.get("temperature_max_c", 60.0))
    conditions.update({"fire_temperature_c": fire_c, "vent_temperature_c": vent_c,
                       "cell_temperature_max_operating_c": t_max_op})

    time_s = run.column("Test Time / s")
    voltage = run.column("Voltage / V")
    temp = run.column("Surface Temperature T1 / degC")
    before = time_s <= t_p
    after = time_s > t_p
    if not after.any():
        conditions["observation"] = "no sample after the puncture"
        return {}, conditions
    v0 = float(voltage[before][-1]) if before.any() else float(voltage[after][0])
    finite_before = temp[before][np.isfinite(temp[before])]
    t0 = float(finite_before[-1]) if finite_before.size else float("nan")
    ta, va, ya = time_s[after], voltage[after], temp[after]
    finite = np.isfinite(ya)
    peak = float(ya[finite].max()) if finite.any() else float("nan")
    t_peak = float(ta[finite][int(np.argmax(ya[finite]))]) - t_p if finite.any() else float("nan")
    dtdt_max = max_heating_rate(ta, ya)
    runaway_at = runaway_confirmation(ta, va, ya, voltage_initial_v=v0, temperature_max_c=t_max_op)
    hot = np.concatenate(([False], ya[:-1] >= t_max_op)) if ya.size else np.zeros(0, bool)
    sensor_lost_hot = bool(np.any(~finite & hot))
    v_min, v_end = float(va.min()), float(va[-1])
    liquid = electrolyte != "solid"
    leak_assumed = liquid and punctured  # a nail hole in a liquid-electrolyte cell leaks
    runaway = runaway_at is not None
    fire = runaway and peak >= fire_c
    explosion = runaway and sensor_lost_hot
    venting = liquid and peak >= vent_c
    rise = peak - t0 if math.isfinite(t0) else float("nan")
    level = eucar_level(explosion=explosion, fire=fire, venting=venting, leakage=leak_assumed,
                        defect=event and (v_end < RECOVERED_FRACTION * v0 or rise > DEFECT_RISE_K),
                        dipped=event and v_min < RECOVERED_FRACTION * v0)
    metrics: dict[str, Any] = {
        "puncture_time_s": t_p,
        "voltage_at_puncture_v": round(v0, 4),
        "voltage_min_after_v": round(v_min, 4),
        "voltage_end_v": round(v_end, 4),
        "voltage_drop_fraction": round((v0 - v_min) / v0, 4) if v0 > 0 else None,
        "temperature_at_puncture_c": round(t0, 2),
        "temperature_max_after_c": round(peak, 2),
        "temperature_rise_k": round(rise, 2),
        "time_to_temperature_max_s": round(t_peak, 1),
        "dtdt_max_k_per_s": round(dtdt_max, 3),
        "runaway_confirmed": int(runaway),
        "runaway_time_after_puncture_s": None if runaway_at is None else round(runaway_at - t_p, 1),
        "venting_inferred": int(venting),
        "fire_inferred": int(fire),
        "explosion_inferred": int(explosion),
        "eucar_hazard_level": level,
        "eucar_hazard_level_max": 7 if level >= 5 else level,
        "observed_after_puncture_s": round(float(ta[-1]) - t_p, 1),
    }
    return _named_for_the_event(metrics, "puncture" if punctured else "trip" if event else None), conditions


#: Shortest window a heating rate is taken over, s: the supervisor's dT/dt rule's window (docs/safety.md,
#: 15 K/min over 10 s); a slope over two samples a millisecond apart is sensor noise divided by
#: nothing, not a heating rate.
DTDT_WINDOW_S = 10.0


def max_heating_rate(time_s: np.ndarray, temperature_c: np.ndarray, window_s: float = DTDT_WINDOW_S) -> float:
    """Largest dT/dt, K/s, each taken over at least ``window_s`` (the latest sample at least that
    far back); 0 with fewer than two usable samples."""
    good = np.isfinite(temperature_c)
    t, y = np.asarray(time_s, dtype=float)[good], np.asarray(temperature_c, dtype=float)[good]
    if t.size < 2:
        return 0.0
    back = np.searchsorted(t, t - window_s, side="right") - 1
    ok = (back >= 0) & (t - t[np.maximum(back, 0)] >= window_s - 1e-9)
    if not ok.any():
        return 0.0
    j = back[ok]
    return float(np.max((y[ok] - y[j]) / (t[ok] - t[j])))


#: Metrics named after the moment they are measured from; renamed for a trip, dropped for a run
#: where nothing happened (the whole run is judged: there is no "at puncture").
_EVENT_METRICS = ("puncture_time_s", "voltage_at_puncture_v", "temperature_at_puncture_c",
                  "runaway_time_after_puncture_s", "observed_after_puncture_s")


def _named_for_the_event(metrics: dict[str, Any], event: str | None) -> dict[str, Any]:
    """Every metric means what its name says: ``*_puncture_*`` only after a puncture, ``*_trip_*``
    after a safety trip, neither for a run with no event."""
    if event == "puncture":
        return metrics
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        if key in _EVENT_METRICS:
            if event == "trip":
                out[key.replace("puncture", "trip")] = value
        else:
            out[key] = value
    return out
