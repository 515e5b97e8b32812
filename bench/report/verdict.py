"""A run's verdict with its conditions and metrics, as JSON and as a readable summary."""

from __future__ import annotations

import math
from typing import Any

from bench.analysis import ANALYSES, generic_metrics
from bench.analysis.cycles import format_sections, report_sections
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
    criteria = attrs.get("pass_criteria", []) or []
    checks = []
    for criterion in criteria:
        observed = metrics.get(criterion["metric"])
        ok = None if observed is None else (
            observed >= criterion["value"] if criterion["op"] == ">=" else observed <= criterion["value"])
        checks.append({**criterion, "observed": observed, "passed": ok})
    status = attrs.get("status", "incomplete")
    if status in STATUS_VERDICTS:
        verdict = STATUS_VERDICTS[status]
    elif status != "completed":
        verdict = "incomplete"
    elif any(c["passed"] is False for c in checks):
        verdict = "fail"
    elif any(c["passed"] is None for c in checks):  # a claim the run could not test is never a pass
        verdict = "not tested"
    else:
        verdict = "pass"
    safety_events = []
    events = run.events
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
        "verdict": verdict,
        "status": status,
        "conditions": conditions,
        "metrics": {k: _clean(v) for k, v in metrics.items()},
        "criteria": checks,
        "safety_events": safety_events,
        "run_file": str(run.path),
        "started_utc": attrs.get("start_time_utc", ""),
        "not_tested": [f"{c['text']}: {_why_untested(c, conditions)}" for c in checks if c["passed"] is None],
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
    for check in report["criteria"]:
        mark = {True: "pass", False: "FAIL", None: "n/a"}[check["passed"]]
        lines.append(f"  [{mark}] {check['text']} (observed {check['observed']})")
    lines.append("Metrics:")
    lines += [f"  {k} = {v}" for k, v in report["metrics"].items()]
    lines.append("Conditions:")
    lines += [f"  {k} = {v}" for k, v in report["conditions"].items() if v not in ("", None, {}, [])]
    lines += format_sections(report)
    lines += [f"NOT TESTED: {reason}" for reason in report.get("not_tested", [])]
    lines += [f"DATA: {warning}" for warning in report.get("data_warnings", [])]
    lines += [f"FAULT: {message}" for message in report.get("faults_not_applied", [])]
    for event in report["safety_events"]:
        lines.append(f"SAFETY: {event['rule']} at {event['time_s']:.1f} s: {event['message']} "
                     f"(output off {event['latency_s']} s after)")
    return "\n".join(lines)
