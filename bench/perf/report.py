"""Plain-text table of a ``bench perf`` result (the ``--json`` object is the machine form)."""

from __future__ import annotations

from typing import Any

#: (figure key, label, unit, target text)
ROWS = (
    ("acceleration_x", "acceleration (simulated time / wall time)", "x", ">= 20000"),
    ("pybamm_ratio", "bench acceleration / PyBaMM SPM acceleration", "", ""),
    ("jitter_p99_ms_100ms", "sample period jitter p99 at 100 ms", "ms", "<= 1"),
    ("jitter_p99_ms_10ms", "sample period jitter p99 at 10 ms", "ms", ""),
    ("missed_samples", "missed samples (10 ms + 100 ms runs)", "", "0"),
    ("channels_1hz_max", "channels at 1 Hz with 0 missed samples", "", ">= 128"),
    ("scheduler_channels_1hz", "channels at 1 Hz on one scheduler (full engine each, 60 s, 0 missed)", "", ">= 1024"),
    ("scheduler_jitter_p99_ms", "same, sample interval jitter p99", "ms", ""),
    ("scheduler_missed_samples", "same, missed samples", "", "0"),
    ("mainframe_channels_1hz_max", "channels at 1 Hz through N6700 mainframes (4 ch each), 0 missed", "", ">= 512"),
    ("mainframe_engine_channels_1hz_max", "same, one Engine + supervisor + run file per channel", "", ">= 512"),
    ("mainframe_transport_floor_us", "transport floor: bare Resource.query round trip", "us", ""),
    ("mainframe_sample_cost_x_floor", "per-channel sample cost / transport floor", "x", ""),
    ("log_rows_per_s", "run-file logging, per-sample appends", "rows/s", ""),
    ("analysis_10m_rows_s", "per-cycle summary of a 10M-row run", "s", "<= 0.5"),  # issue 31
    ("redraw_1m_points_ms", "plot redraw, 1M points per curve (median)", "ms", ""),
    ("safety_latency_ms", "safety reaction latency (virtual time, max)", "ms", ""),
    ("safety_latency_realtime_ms", "safety reaction latency, real time 100 ms (max)", "ms", ""),
    ("safety_detection_rate", "safety fault matrix detection rate", "fraction", "1"),
    ("safety_false_trips", "safety false trips (clean cycles + matrix)", "", "0"),
    ("safety_soft_detection_rate", "soft shorts 5-50 ohm tripped within 1 cycle", "fraction", "1"),
    ("safety_soft_false_trips", "soft-short false trips, clean cycles x presets", "", "0"),
    ("safety_late_detection_rate", "late soft shorts (last cycle): 5-50 ohm caught, 100 ohm caught or not tested",
     "fraction", "1"),
    ("safety_clean_0_45_false_trips", "false trips, shipped protocols x presets x 0-45 °C", "", "0"),
    ("kill9_files_readable", "run files readable after kill -9", "fraction", "1"),
    ("sweep_runs_per_min_2w", "simulated sweep on Dask, 2 workers", "runs/min", ""),
    ("sweep_speedup_2w", "sweep throughput, 2 workers / 1 worker", "x", ">= 1.8"),
    ("sweep_failures", "failed runs in a 1,000-run sweep", "", "0"),
    ("cycle_life_500_wall_s", "cycle_life, 500 cycles, adaptive steps", "s", "<= 20"),
    ("fast_charge_cycling_500_wall_s", "fast_charge_cycling, 500 cycles, adaptive", "s", "<= 20"),
)


def _fmt(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def format_perf(result: dict[str, Any]) -> str:
    """The figures, the per-sample split and why any figure is null."""
    m = result.get("machine", {})
    lines = [f"bench perf{' --quick (reduced sizes)' if result.get('quick') else ''}: "
             f"{m.get('cpu')}, {m.get('cores')} cores, Python {m.get('python')}, "
             f"load {m.get('load_average_1min')}"]
    py = m.get("interpreter")
    if py:
        linked = {True: "shared libpython", False: "static libpython"}.get(py.get("libpython_shared"), "")
        lines.append(f"  interpreter: {py['executable']} ({py['implementation']} {py['version']}, {py['build']}"
                     f"{', ' + linked if linked else ''}): {py['call_ns']} ns per method call")
    acc = result.get("details", {}).get("acceleration")
    if acc:
        lines.append(f"  protocol: {acc['protocol']} ({acc['status']}): {acc['samples']} samples, {acc['test_time_s'] / 3600:.1f} h "
                     f"in {acc['wall_s']} s wall ({acc['cpu_s']} s CPU; {acc['us_per_sample']} µs/sample wall, "
                     f"{acc['cpu_us_per_sample']} CPU)")
    for key, label, unit, target in ROWS:
        value = result.get(key)
        text = f"  {label:48s} {_fmt(value):>12s} {unit:8s}"
        if target:
            text += f" target {target}"
        if value is None and key in result.get("null_reasons", {}):
            text += f"  ({result['null_reasons'][key]})"
        lines.append(text.rstrip())
    cost = result.get("sample_cost_us")
    if cost:
        parts = ", ".join(f"{k[:-3]} {cost[k]:.1f}" for k in ("driver_us", "pyvisa_us", "sim_wire_us", "physics_us",
                                                              "safety_us", "logging_us", "engine_us"))
        lines.append(f"  per-sample cost, µs (instrumented, wall): {parts}; total {cost['total_us']:.1f} "
                     f"(CPU {cost['cpu_total_us']:.1f})")
    elif "sample_cost_us" in result.get("null_reasons", {}):
        lines.append(f"  per-sample cost: null ({result['null_reasons']['sample_cost_us']})")
    ops = result.get("sample_bytecodes")
    if ops:
        parts = ", ".join(f"{stage} {ops[f'{stage}_bytecodes']:,.0f}" for stage in
                          ("driver", "pyvisa", "sim_wire", "physics", "safety", "logging", "engine"))
        timing = f"; {ops['ns_per_bytecode']} ns each ({ops['us_per_sample']} µs/sample)" if "ns_per_bytecode" in ops else ""
        lines.append(f"  per-sample bytecodes ({ops['interpreter']}, same protocol): {parts}; "
                     f"total {ops['total_bytecodes']:,.0f}{timing}")
    elif "sample_bytecodes" in result.get("null_reasons", {}):
        lines.append(f"  per-sample bytecodes: null ({result['null_reasons']['sample_bytecodes']})")
    realtime = (result.get("details", {}).get("jitter") or {}).get("realtime")
    if realtime:
        lines.append(f"  real-time set-up (jitter, channels): {realtime['sched']}; GC {realtime['gc']}")
    lines.append(f"  ({result.get('wall_s')} s)")
    return "\n".join(lines)
