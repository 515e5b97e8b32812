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
    interpreter = result["machine"]["interpreter"]
    assert interpreter["implementation"] == "CPython" and interpreter["version"].startswith("3.")
    assert interpreter["call_ns"] > 0 and interpreter["libpython_shared"] in (True, False, None)
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
                "safety_latency_ms", "safety_detection_rate", "kill9_files_readable", "pybamm_ratio",
                "redraw_1m_points_ms"):
        assert result[key] is None and "not selected" in result["null_reasons"][key]


def test_perf_table_names_the_interpreter():
    from bench.perf.report import format_perf

    text = format_perf({"machine": {"cpu": "X", "cores": 2, "python": "3.11.7", "interpreter": {
        "executable": "/usr/bin/python3.11", "implementation": "CPython", "version": "3.11.2",
        "build": "main Apr 28 2025", "libpython_shared": False, "call_ns": 158.0}}})
    assert ("interpreter: /usr/bin/python3.11 (CPython 3.11.2, main Apr 28 2025, static libpython): "
            "158.0 ns per method call") in text


def test_perf_rejects_unknown_section(capsys):
    assert main(["perf", "--only", "acceleration,warp"]) == 2
    assert "unknown perf section 'warp'" in capsys.readouterr().err


def _synthetic_file(path, rows, **dataset_options):
    """A /samples table of ``rows`` synthetic cycling samples (2 h cycles), optionally with h5py
    dataset options (e.g. compression, to force the converting read path)."""
    import h5py

    from bench.perf.datapath import synthetic_samples
    from bench.runfile.layout import SAMPLE_DTYPE

    data = synthetic_samples(0, rows)
    data["Surface Temperature T1 / degC"][5] = float("nan")  # a lost reading is skipped, not propagated
    with h5py.File(path, "w", libver="latest") as handle:
        handle.create_dataset("samples", data=data, dtype=SAMPLE_DTYPE, maxshape=(None,), chunks=(4096,),
                              **dataset_options)
    return data


def test_fast_cycle_summary_matches_whole_table_pass(tmp_path):
    import numpy as np

    from bench.analysis.fast_cycles import as_rows, fast_cycle_summary

    rows = 3 * 7200 + 1234  # cycles straddle chunk boundaries; the last cycle and chunk are partial
    data = _synthetic_file(tmp_path / "raw.h5", rows)
    _synthetic_file(tmp_path / "gzip.h5", rows, compression="gzip")
    cycle = data["Cycle Count / 1"]
    for name in ("raw.h5", "gzip.h5"):
        fast = fast_cycle_summary(tmp_path / name)
        assert fast["cycle"].tolist() == [0, 1, 2, 3]
        assert fast["rows"].tolist() == [7200, 7200, 7200, 1234]
        for c in range(4):
            sel = data[cycle == c]
            assert fast["charge_ah"][c] == sel["Charging Capacity / Ah"].max()
            assert fast["discharge_wh"][c] == sel["Discharging Energy / Wh"].max()
            assert fast["temperature_max_c"][c] == np.nanmax(sel["Surface Temperature T1 / degC"])
            assert fast["temperature_min_c"][c] == np.nanmin(sel["Surface Temperature T1 / degC"])
            assert fast["start_time_s"][c] == sel["Test Time / s"][0] and fast["end_time_s"][c] == sel["Test Time / s"][-1]
        assert fast["steps"].tolist() == [2, 2, 2, 1]
        rows_ = as_rows(fast)
        assert rows_[0]["coulombic_efficiency"] == rows_[0]["discharge_ah"] / rows_[0]["charge_ah"]
        assert rows_[3]["coulombic_efficiency"] is None  # the last cycle never discharged


def test_fast_cycle_summary_bad_file_names_it(tmp_path):
    import pytest

    from bench.analysis.fast_cycles import fast_cycle_summary

    with pytest.raises(OSError, match="missing.h5"):
        fast_cycle_summary(tmp_path / "missing.h5")
