"""Claims evaluated in one place: met / not met / not tested, with the measured value, how it was
measured and the conditions it was measured under. Every report (terminal, ``--json``,
``--html``) renders what :func:`evaluate_claims` returns; nothing else compares numbers.

A claim is :class:`protocols.claims.Claim` (a declared measurement with a validator, a unit and
an optional marginal band) stored in the run file's ``pass_criteria`` attribute; its
``evaluate`` is the only comparison. The verdict: ``pass`` when every claim is met, ``fail``
when one is not met, ``not tested`` when none failed but one could not be tested (a claim that
was not tested is never a pass).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from protocols.claims import Claim

#: How each metric is measured (the sentence the report prints beside the value).
METHODS: dict[str, str] = {
    "time_10_80_s": "test time between 10 % and 80 % SOC in the first fast charge; SOC by coulomb counting "
                    "against the rated capacity from the preceding full discharge, interpolated between samples",
    "time_20_80_s": "test time between 20 % and 80 % SOC in the first fast charge (coulomb counting, as 10-80 %)",
    "time_10_80_max_s": "longest 10 -> 80 % SOC time over every fast charge of the run",
    "time_20_80_max_s": "longest 20 -> 80 % SOC time over every fast charge of the run",
    "temperature_max_all_c": "highest cell-surface reading during any fast charge",
    "temperature_max_c": "highest cell-surface reading of the run (or of the first fast charge)",
    "plating_flagged_charges": "charges flagged by the plating detector: relaxation-voltage plateau (dV/dt of "
                               "the rest after the charge), dV/dQ of the next discharge, coulombic-efficiency "
                               "drift (docs/analysis.md)",
    "retention_pct": "Q(cold discharge) / Q(room-temperature reference discharge), both to a voltage cut-off at "
                     "the same current (GB/T 31486-2015 6.2.6)",
    "cold_cutoff_ratio": "cold cut-off voltage / room-temperature cut-off voltage (GB/T 31486-2015 6.2.6 allows >= 0.8)",
    "fade_pct": "1 - last / first capacity check (full discharges to the cut-off at the same rate), %",
    "eucar_hazard_level": "EUCAR hazard level inferred from voltage and cell temperature after the event "
                          "(runaway per GB 38031-2025 C.5.3.7, fire >= fire_temperature_c; docs/safety.md)",
    "internal_short_detected": "1 when an internal-short rule of the supervisor tripped; 0 when none did and the "
                               "final observation after the protocol judged the last cycle (the cell cooled to "
                               "within the heat-balance limit of the air and was not warming; docs/safety.md)",
    "cycled": "full discharges to the cut-off written like the cycling step (the cycles of cycling)",
    "dcr_growth_pct": "mean growth of the last RPT's 10 s pulse resistances over the first RPT's (same SOC)",
    "discharge_capacity_ah": "charge of the last constant-current/power discharge, counted from every sample",
    "specific_energy_wh_per_kg": "energy of the last full discharge to the cut-off / cell mass",
    "energy_density_wh_per_l": "energy of the last full discharge to the cut-off / cell volume",
    "range_degradation_pct": "100 % - E(cold) / E(25 °C): net energy (Wh) of the same drive-cycle replay from a "
                             "full charge to the same cut-off voltage, at the cold temperature over at 25 °C",
    "range_retention_pct": "E(cold) / E(25 °C) x 100 %: net energy (Wh) of the same drive-cycle replay from a full "
                           "charge to the same cut-off voltage",
    "interface_asr_ohm_cm2": "charge-transfer (interface) arc R1 of the circuit fitted to the spectrum nearest "
                             "25 °C x the datasheet's electrode area; 1-sigma from the fit (docs/analysis.md)",
}


def claim_conditions(metric: str, conditions: Mapping[str, Any], metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The conditions a claim on ``metric`` was measured under (a subset of the report's)."""
    c = conditions
    if metric.startswith(("time_", "temperature_max_all", "plating")):
        fast_charge = c.get("fast_charge")
        fast = fast_charge if isinstance(fast_charge, dict) else {}
        stages = [f"{s.get('step')} (mean {s.get('mean_current_a')} A)" for s in fast.get("stages", [])]
        return _clean({"chamber_setpoint_c": fast.get("chamber_setpoint_c"), "stages": "; ".join(stages),
                       "soc_basis": c.get("soc_basis"), "cooling": c.get("cooling"),
                       "fast_charges": metrics.get("fast_charges")})
    if metric in ("retention_pct", "cold_cutoff_ratio"):
        ref, cold, soak = c.get("reference_discharge") or {}, c.get("cold_discharge") or {}, c.get("cold_soak") or {}
        return _clean({"reference": _discharge(ref), "cold": _discharge(cold), "cold_soak_s": soak.get("duration_s"),
                       "cell_within_2k_after_s": soak.get("time_to_within_2k_s"), "cooling": c.get("cooling"),
                       "standard": c.get("standard")})
    if metric == "fade_pct":
        checks = c.get("capacity_checks") or []
        return _clean({"capacity_checks": len(checks), "first_check": checks[0]["step"] if checks else None,
                       "fast_charges": metrics.get("fast_charges"), "cycles": metrics.get("cycles")})
    if metric == "eucar_hazard_level":
        return _clean({"event": c.get("puncture"), "electrolyte": c.get("electrolyte"),
                       "observed_after_s": metrics.get("observed_after_puncture_s", metrics.get("observed_after_trip_s")),
                       "fire_temperature_c": c.get("fire_temperature_c")})
    if metric == "interface_asr_ohm_cm2":
        return _clean({"uncertainty_1sigma_ohm_cm2": metrics.get("interface_asr_sigma_ohm_cm2"),
                       "electrode_area_cm2": c.get("electrode_area_cm2"), "spectrum": c.get("interface_reference"),
                       "arc": c.get("interface_arc")})
    if metric in ("range_degradation_pct", "range_retention_pct"):
        profile, warm, cold = c.get("profile") or {}, c.get("warm_replay") or {}, c.get("cold_replay") or {}
        soak = c.get("cold_soak") or {}
        return _clean({"profile": profile.get("profile"), "profile_source": profile.get("source"),
                       "power_loop": profile.get("power_loop"), "cutoff": c.get("cutoff"),
                       "warm": _replay(warm), "cold": _replay(cold), "cold_soak_s": soak.get("duration_s"),
                       "cell_within_2k_after_s": soak.get("time_to_within_2k_s")})
    if metric in ("specific_energy_wh_per_kg", "energy_density_wh_per_l"):
        return _clean(dict(c.get("energy_density") or {}))
    return _clean({"discharge_step": c.get("discharge_step"), "discharge_current_a": c.get("discharge_current_a"),
                   "chamber_setpoints_c": c.get("chamber_setpoints_c")})


def _replay(d: Mapping[str, Any]) -> str | None:
    if not d:
        return None
    return (f"{d.get('chamber_setpoint_c')} °C chamber, ended on {d.get('end')} after {d.get('duration_s')} s "
            f"({len(d.get('wh_per_drive_cycle') or [])} drive cycles)")


def _discharge(d: Mapping[str, Any]) -> str | None:
    if not d:
        return None
    return (f"{d.get('current_a')} A ({d.get('c_rate')}C) to {d.get('cutoff_v')} V at {d.get('chamber_setpoint_c')} °C "
            f"chamber")


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v not in (None, "", [], {})}


def evaluate_claims(criteria: Sequence[Mapping[str, Any]], metrics: Mapping[str, Any],
                    conditions: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One result per claim: the claim's fields, ``status`` (``met`` / ``not met`` / ``not
    tested``), ``observed``, ``margin``, ``marginal``, ``reason``, ``method``, ``conditions`` and
    ``passed`` (True / False / None, the older report field). A claim on a metric the analysis
    could not measure takes its reason from ``conditions["not_measured"][metric]`` when the
    analysis gave one."""
    out = []
    why_not = conditions.get("not_measured") or {}
    for data in criteria:
        claim = Claim.from_dict(data)
        result = claim.evaluate(metrics)
        if result["status"] == "not tested" and claim.metric not in metrics and isinstance(why_not, Mapping) \
                and why_not.get(claim.metric):  # the analysis says why (e.g. the plating detector's reason)
            result["reason"] = f"{claim.metric} was not measured: {why_not[claim.metric]}"
        out.append({
            **claim.as_dict(), "name": claim.name or claim.text, **result,
            "method": METHODS.get(claim.metric, "see the metric's analysis (docs/analysis.md)"),
            "conditions": claim_conditions(claim.metric, conditions, metrics),
            "passed": {"met": True, "not met": False}.get(result["status"]),
        })
    return out


def verdict_of(results: Sequence[Mapping[str, Any]]) -> str:
    """``fail`` if a claim is not met, else ``not tested`` if one was not tested, else ``pass``."""
    statuses = {r["status"] for r in results}
    if "not met" in statuses:
        return "fail"
    if "not tested" in statuses:
        return "not tested"
    return "pass"


def format_claims(results: Sequence[Mapping[str, Any]]) -> list[str]:
    """Terminal lines: one block per claim."""
    lines = ["Claims:"] if results else []
    for r in results:
        mark = {"met": "MET", "not met": "NOT MET", "not tested": "NOT TESTED"}[r["status"]]
        unit = f" {r['unit']}" if r.get("unit") else ""
        value = "not measured" if r["observed"] is None else f"{r['observed']:g}{unit}" \
            if isinstance(r["observed"], (int, float)) else str(r["observed"])
        marginal = " (marginal)" if r.get("marginal") else ""
        source = f"; source: {r['source']}" if r.get("source") else ""
        lines.append(f"  [{mark}]{marginal} {r['name']}: measured {value} vs claim {r['metric']} {r['op']} "
                     f"{r['value']:g}{unit}{source}")
        if r.get("reason"):
            lines.append(f"      why not tested: {r['reason']}")
        lines.append(f"      measured as: {r['method']}")
        if r.get("conditions"):
            lines.append("      conditions: " + "; ".join(f"{k} {v}" for k, v in r["conditions"].items()))
    return lines
