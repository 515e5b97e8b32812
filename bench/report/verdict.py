"""A run's verdict with its conditions and metrics, as JSON and as a readable summary."""

from __future__ import annotations

import math
from typing import Any

from bench.analysis import ANALYSES, generic_metrics
from bench.analysis.ageing import ageing_metrics
from bench.analysis.sections import format_sections, report_sections
from bench.report.claims import evaluate_claims, format_claims, verdict_of
from bench.report.last_stretch import apply_last_stretch, last_stretch, short_detected
from bench.report.plausibility import implausible_values
from bench.runfile.reader import RunFile

STATUS_VERDICTS = {
    "safety_trip": "safety_trip",
    "instrument_failure": "instrument_failure",
    "aborted": "aborted",
    "write_failure": "write_failure",  # the record stopped: nothing after it was tested
}


def build_report(run: RunFile) -> dict[str, Any]:
    """The report object: ``protocol``, ``verdict``, ``conditions``, ``metrics``, ``safety_events``."""
    attrs = run.attrs
    metrics, conditions = generic_metrics(run)
    ageing_m, ageing_c = ageing_metrics(run)
    metrics.update(ageing_m)
    conditions.update(ageing_c)
    analysis = attrs.get("analysis", "")
    if analysis and analysis in ANALYSES:
        extra_metrics, extra_conditions = ANALYSES[analysis](run)
        metrics.update(extra_metrics)
        conditions.update(extra_conditions)
    conditions.update({
        "cell": attrs.get("cell", {}),
        "sampling_period_s": attrs.get("sampling_period_s"),
        "parameters": attrs.get("parameters", {}),
        "bench": attrs.get("bench_description", ""),
    })
    if attrs.get("recording"):  # rows recorded by change (sampling: record_when)
        conditions["recording"] = attrs["recording"]
    status = attrs.get("status", "incomplete")
    events = run.events
    stretch = last_stretch(events, status)
    trips = [str(e["data"].get("rule", "")) for e in events if e["kind"] == "safety_trip"]
    detected = short_detected(stretch, trips)
    if detected is not None:
        metrics["internal_short_detected"] = detected
    checks = evaluate_claims(attrs.get("pass_criteria", []) or [], metrics, conditions)
    apply_last_stretch(checks, stretch)
    for check in checks:  # an analysis that knows why a metric is missing says so (e.g. a soak out of band)
        if check["passed"] is None and check.get("metric") not in metrics:
            specific = _why_untested(check, conditions)
            if not specific.endswith("was not measured"):
                check["reason"] = specific
    if status in STATUS_VERDICTS:
        verdict = STATUS_VERDICTS[status]
    elif status != "completed":
        verdict = "incomplete"
    else:
        verdict = verdict_of(checks)
    safety_events = []
    for event in events:
        if event["kind"] != "safety_trip":
            continue
        data = event["data"]
        safety_events.append({
            "rule": data.get("rule", ""), "time_s": event["time_s"], "message": event["message"],
            "values": data.get("values", {}), "latency_s": data.get("latency_s"),
            "latency_wall_s": data.get("latency_wall_s"),
            "output_off_confirmed": data.get("output_off_confirmed"),
            "chamber_setpoint_c": data.get("chamber_setpoint_c"),
            "abuse_test": bool(data.get("abuse_test", False)),
        })
    return {
        "protocol": attrs.get("protocol", ""),
        "cell_id": str(attrs.get("cell_id") or (attrs.get("cell") or {}).get("cell_id") or ""),
        "verdict": verdict,
        "status": status,
        "conditions": conditions,
        "metrics": {k: _clean(v) for k, v in metrics.items()},
        "claims": checks,
        "criteria": checks,
        "safety_events": safety_events,
        "run_file": str(run.path),
        "started_utc": attrs.get("start_time_utc", ""),
        "not_tested": [f"{c.get('text') or c['name']}: {c.get('reason') or _why_untested(c, conditions)}"
                       for c in checks if c["passed"] is None],
        "last_stretch": stretch,
        "data_warnings": implausible_values(run),
        "faults_not_applied": [e["message"] for e in events if e["kind"] == "fault_not_applied"],
        **report_sections(run),
    }


def _why_untested(check: dict[str, Any], conditions: dict[str, Any]) -> str:
    """The analysis's reason a criterion's metric is missing, or that it was not measured."""
    for reason in conditions.get("not_tested", []) or []:
        if str(reason).startswith(f"{check['metric']}:"):
            return str(reason).split(":", 1)[1].strip()
    return f"{check['metric']} was not measured"


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def format_report(report: dict[str, Any]) -> str:
    """A plain-text summary for the terminal."""
    lines = [f"Protocol {report['protocol']}: {report['verdict'].upper()}  ({report['run_file']})"]
    if report.get("cell_id"):
        lines.append(f"Cell: {report['cell_id']}")
    lines += format_claims(report.get("claims") or [])
    lines.append("Metrics:")
    lines += [f"  {k} = {_number(v)}" for k, v in report["metrics"].items()]
    lines.append("Conditions:")
    lines += [f"  {k} = {v}" for k, v in report["conditions"].items() if v not in ("", None, {}, [])]
    lines += format_sections(report)
    lines += [f"NOT TESTED: {reason}" for reason in report.get("not_tested", [])]
    stretch = report.get("last_stretch")
    if stretch:
        lines.append(f"LAST STRETCH: {'judged' if stretch['judged'] else 'NOT JUDGED'}: {stretch['reason']}")
    lines += [f"DATA: {warning}" for warning in report.get("data_warnings", [])]
    lines += [f"FAULT: {message}" for message in report.get("faults_not_applied", [])]
    for event in report["safety_events"]:
        latency = event.get("latency_s")
        after = f"{latency:.3g} s" if isinstance(latency, (int, float)) else "? s"
        lines.append(f"SAFETY: {event['rule']} at {event['time_s']:.1f} s: {event['message']} "
                     f"(output off {after} after)")
    return "\n".join(lines)


def _number(value: object) -> object:
    """A metric for the terminal: floats to 6 significant digits (no ``0.000999999996565748``)."""
    return f"{value:.6g}" if isinstance(value, float) else value
