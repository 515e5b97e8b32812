"""``bench perf --quick --json`` in a reduced form: the virtual-time sections only (real-time
jitter, channel count and kill -9 pace on the wall clock and are left to ``bench perf`` itself).
Checks the object's keys and that the values are sane; no timing thresholds."""

from __future__ import annotations

import json

from bench.cli import main
from bench.perf.runner import FIGURES


def test_perf_quick_json(capsys):
    code = main(["perf", "--quick", "--json", "--only", "acceleration,stages,logging,analysis"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    for key in FIGURES + ("quick", "sizes", "machine", "null_reasons", "details"):
        assert key in result, key
    assert result["quick"] is True and result["sizes"]["analysis_rows"] == 1_000_000
    acc = result["details"]["acceleration"]
    assert acc["status"] == "completed" and acc["samples"] > 3000
    assert result["acceleration_x"] == acc["acceleration_x"] > 1.0
    assert abs(acc["test_time_s"] / acc["wall_s"] - acc["acceleration_x"]) < 0.01 * acc["acceleration_x"] + 1
    cost = result["sample_cost_us"]
    stages = ("driver_us", "pyvisa_us", "sim_wire_us", "physics_us", "safety_us", "logging_us", "engine_us")
    assert all(cost[k] > 0 for k in stages), cost
    assert abs(sum(cost[k] for k in stages) - cost["total_us"]) < 0.05 * cost["total_us"]
    assert result["log_rows_per_s"] > 1000
    analysis = result["details"]["analysis"]
    assert analysis["rows"] == 1_000_000 and analysis["cycles"] == analysis["cycles_from_samples"] == 139
    assert result["analysis_10m_rows_s"] > 0 and "scaled_to_10m_rows" in analysis
    # What was not measured is null, with the reason.
    for key in ("jitter_p99_ms_100ms", "jitter_p99_ms_10ms", "missed_samples", "channels_1hz_max",
                "safety_latency_ms", "kill9_files_readable", "pybamm_ratio"):
        assert result[key] is None and "not selected" in result["null_reasons"][key]


def test_perf_rejects_unknown_section(capsys):
    assert main(["perf", "--only", "acceleration,warp"]) == 2
    assert "unknown perf section 'warp'" in capsys.readouterr().err
