"""``bench perf``: run the measurements, collect one result object.

Every figure of the JSON object is present; one that could not be measured (a section skipped
with ``--only``, an optional package missing, another engineer's measuring function absent, an
error) is ``null`` and ``null_reasons`` says why. ``--quick`` shrinks sizes and durations and
says so (``quick: true``, ``sizes``).
"""

from __future__ import annotations

import logging
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.perf.interpreter import interpreter

logger = logging.getLogger(__name__)

SECTIONS = ("acceleration", "stages", "bytecodes", "pybamm", "jitter", "channels", "scheduler", "mainframes", "logging",
            "analysis", "redraw", "safety", "kill9", "sweeps", "cycle_life")
#: Sections that pace on the wall clock (real-time loops, subprocesses).
REALTIME_SECTIONS = ("jitter", "channels", "scheduler", "mainframes", "kill9", "sweeps")

#: Sizes per mode: (quick, full).
SIZES: dict[str, tuple[Any, Any]] = {
    "jitter_duration_s": (3.0, 30.0),
    "channel_candidates": ((8, 32), (16, 32, 64, 128, 192, 256)),
    "channel_duration_s": (4.0, 10.0),
    "scheduler_candidates": ((64,), (256, 512, 1024)),
    "scheduler_duration_s": (10.0, 60.0),
    "mainframe_candidates": ((64,), (256, 512, 768, 1024)),
    "mainframe_engine_candidates": ((32,), (256, 384, 512, 640)),
    "mainframe_duration_s": (5.0, 60.0),
    "log_rows": (200_000, 1_000_000),
    "analysis_rows": (1_000_000, 10_000_000),
    "kill9_runs": (4, 100),
    "redraw_points": (1_000_000, 1_000_000),
    "redraw_repeats": (5, 15),
}

FIGURES = ("acceleration_x", "sample_cost_us", "sample_bytecodes", "pybamm_ratio", "jitter_p99_ms_100ms",
           "jitter_p99_ms_10ms", "missed_samples", "channels_1hz_max", "mainframe_channels_1hz_max",
           "mainframe_transport_floor_us", "mainframe_sample_cost_x_floor", "log_rows_per_s", "analysis_10m_rows_s", "redraw_1m_points_ms",
           "safety_latency_ms", "safety_latency_realtime_ms", "safety_detection_rate", "safety_false_trips",
           "safety_soft_detection_rate", "safety_soft_false_trips", "safety_late_detection_rate",
           "safety_clean_0_45_false_trips", "kill9_files_readable",
           "mainframe_engine_channels_1hz_max", "sweep_speedup_2w", "sweep_runs_per_min_2w", "sweep_failures",
           "scheduler_channels_1hz", "scheduler_jitter_p99_ms", "scheduler_missed_samples",
           "cycle_life_500_wall_s", "fast_charge_cycling_500_wall_s")


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), model)
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (None,)
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(),
            "interpreter": interpreter(),
            "system": f"{platform.system()} {platform.release()}", "load_average_1min": load[0]}


def run_perf(quick: bool = False, only: tuple[str, ...] | None = None,
             progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the selected sections (all by default) and return the result object."""
    selected = tuple(only) if only else SECTIONS
    unknown = [s for s in selected if s not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown perf section {unknown[0]!r}; sections: {', '.join(SECTIONS)}")
    mode = 0 if quick else 1
    sizes = {key: value[mode] for key, value in SIZES.items()}
    result: dict[str, Any] = {name: None for name in FIGURES}
    result.update({"quick": quick, "sizes": sizes, "machine": machine(), "null_reasons": {}, "details": {}})
    reasons, details = result["null_reasons"], result["details"]
    started = time.perf_counter()

    def section(name: str, fn: Callable[[], None], figures: tuple[str, ...]) -> None:
        if name not in selected:
            for figure in figures:
                reasons.setdefault(figure, f"section {name!r} not selected (--only)")
            return
        if progress is not None:
            progress(name)
        t0 = time.perf_counter()
        try:
            fn()
        except ImportError as exc:
            for figure in figures:
                reasons.setdefault(figure, f"{name}: not available ({exc})")
        except Exception as exc:  # noqa: BLE001 - one failing measurement must not hide the others
            logger.warning("perf %s failed: %s: %s", name, type(exc).__name__, exc)
            logger.debug("perf %s failed", name, exc_info=True)
            for figure in figures:
                reasons.setdefault(figure, f"{name}: {type(exc).__name__}: {exc}")
        details.setdefault("section_wall_s", {})[name] = round(time.perf_counter() - t0, 2)

    def acceleration() -> None:
        from bench.perf.stages import measure_acceleration

        acc = measure_acceleration(quick)
        details["acceleration"] = acc
        result["acceleration_x"] = acc["acceleration_x"]

    def stages() -> None:
        from bench.perf.stages import measure_stage_split

        result["sample_cost_us"] = measure_stage_split(quick)

    def bytecodes() -> None:
        from bench.perf.bytecodes import measure_bytecodes
        from bench.perf.stages import stage_split_duration

        # the protocol of the stage split, whole run: bytecodes by stage beside its µs by stage
        result["sample_bytecodes"] = measure_bytecodes(stage_split_duration(quick))

    def pybamm() -> None:
        from bench.perf.anchor import measure_pybamm
        from bench.perf.stages import load_acceleration_protocol

        acc = details.get("acceleration")
        if acc is None:
            raise RuntimeError("needs the acceleration section (same protocol)")
        with tempfile.TemporaryDirectory() as tmp:
            protocol, _label = load_acceleration_protocol(quick, Path(tmp))
        anchor = measure_pybamm(protocol, acc["wall_s"])
        details["pybamm"] = anchor
        if anchor["acceleration_x"] and acc["acceleration_x"]:
            result["pybamm_ratio"] = round(acc["acceleration_x"] / anchor["acceleration_x"], 3)

    def jitter() -> None:
        from bench.perf.realtime import measure_jitter

        jit = measure_jitter((0.01, 0.1), sizes["jitter_duration_s"])
        details["jitter"] = jit
        result["jitter_p99_ms_10ms"] = jit["10ms"]["jitter_p99_ms"]
        result["jitter_p99_ms_100ms"] = jit["100ms"]["jitter_p99_ms"]
        result["missed_samples"] = jit["10ms"]["missed_samples"] + jit["100ms"]["missed_samples"]

    def channels() -> None:
        from bench.perf.realtime import measure_channels

        chans = measure_channels(sizes["channel_candidates"], sizes["channel_duration_s"])
        details["channels"] = chans
        result["channels_1hz_max"] = chans["channels_1hz_max"]

    def scheduler() -> None:
        from bench.perf.scheduled_channels import measure_counts

        found = measure_counts(sizes["scheduler_candidates"], sizes["scheduler_duration_s"])
        details["scheduler"] = found
        result["scheduler_channels_1hz"] = found["scheduled_channels_1hz_max"]
        result["scheduler_jitter_p99_ms"] = found["jitter_p99_ms"]
        result["scheduler_missed_samples"] = found["missed_samples"]

    def mainframes() -> None:
        from bench.perf.mainframes import find_max_channels

        found = find_max_channels(sizes["mainframe_candidates"], 4, sizes["mainframe_duration_s"], "per_channel")
        details["mainframes"] = found
        result["mainframe_channels_1hz_max"] = found["channels_1hz_max"]
        passed = [t for t in found["tried"] if t.get("ok")] or found["tried"]
        last = passed[-1] if passed else {}
        result["mainframe_transport_floor_us"] = last.get("transport_floor_us")
        result["mainframe_sample_cost_x_floor"] = last.get("sample_cost_x_floor")
        from bench.perf.realtime import measure_channels

        engines = measure_channels(sizes["mainframe_engine_candidates"], sizes["channel_duration_s"],
                                   cycler="keysight_n6700")
        details["mainframe_engines"] = engines
        result["mainframe_engine_channels_1hz_max"] = engines["channels_1hz_max"]

    def logging_() -> None:
        from bench.perf.datapath import measure_logging

        log = measure_logging(sizes["log_rows"])
        details["logging"] = log
        result["log_rows_per_s"] = log["log_rows_per_s"]

    def analysis() -> None:
        from bench.perf.datapath import measure_analysis

        ana = measure_analysis(sizes["analysis_rows"])
        details["analysis"] = ana
        scale = 10_000_000 / ana["rows"]
        result["analysis_10m_rows_s"] = round(ana["analysis_s"] * scale, 3)
        if scale != 1:
            ana["scaled_to_10m_rows"] = f"measured on {ana['rows']} rows, scaled x{scale:g} (--quick)"

    def redraw() -> None:
        from bench.plot.render import measure_redraw

        red = measure_redraw(sizes["redraw_points"], repeats=sizes["redraw_repeats"], details=True)
        details["redraw"] = red
        result["redraw_1m_points_ms"] = red["redraw_ms"]

    def safety() -> None:
        from bench.perf.clean_temperatures import measure_clean_temperatures
        from bench.perf.safety_matrix import measure_safety
        from bench.perf.soft_short_matrix import measure_soft_shorts

        saf = measure_safety(quick)
        saf.update(measure_soft_shorts(quick))
        saf.update(measure_clean_temperatures(quick))
        details["safety"] = saf
        if quick:
            saf["quick"] = ("reduced fault matrix, 16 clean runs, 2 real-time runs, soft shorts 5 and 50 ohm, "
                            "4 clean cycles per preset (--quick)")
        for figure, key in (("safety_latency_ms", "safety_latency_ms"),
                            ("safety_latency_realtime_ms", "safety_latency_realtime_ms"),
                            ("safety_detection_rate", "detection_rate"), ("safety_false_trips", "false_trips"),
                            ("safety_soft_detection_rate", "soft_detection_rate"),
                            ("safety_soft_false_trips", "soft_false_trips"),
                            ("safety_late_detection_rate", "late_detection_rate"),
                            ("safety_clean_0_45_false_trips", "clean_0_45_false_trips")):
            if saf.get(key) is not None:
                result[figure] = saf[key]
            else:
                reasons[figure] = f"measure_safety() returned no {key!r}"

    def kill9() -> None:
        from bench.perf.crash import measure_kill9

        k9 = measure_kill9(sizes["kill9_runs"])
        details["kill9"] = k9
        if quick:
            k9["quick"] = f"{sizes['kill9_runs']} runs instead of {SIZES['kill9_runs'][1]} (--quick)"
        if k9.get("runs"):
            result["kill9_files_readable"] = round(k9["files_readable"] / k9["runs"], 4)

    def sweeps() -> None:
        from bench.lab.perf_sweeps import measure_sweeps

        sw = measure_sweeps(quick)
        details["sweeps"] = sw
        for figure in ("sweep_speedup_2w", "sweep_runs_per_min_2w", "sweep_failures"):
            result[figure] = sw[figure]

    def cycle_life() -> None:
        from bench.perf.cycle_life import measure_cycle_life

        cl = measure_cycle_life(quick)
        details["cycle_life"] = cl
        for name in ("cycle_life", "fast_charge_cycling"):
            figure = f"{name}_500_wall_s"
            run = cl[name]["adaptive"]
            if quick:  # the figures are the 500-cycle runs; --quick runs 6 cycles (details only)
                reasons[figure] = "--quick runs 6 cycles (details.cycle_life)"
            elif run["status"] != "completed":
                reasons[figure] = f"the run ended {run['status']}"
            else:
                result[figure] = run["wall_s"]

    section("acceleration", acceleration, ("acceleration_x",))
    section("stages", stages, ("sample_cost_us",))
    section("bytecodes", bytecodes, ("sample_bytecodes",))
    section("pybamm", pybamm, ("pybamm_ratio",))
    section("jitter", jitter, ("jitter_p99_ms_10ms", "jitter_p99_ms_100ms", "missed_samples"))
    section("channels", channels, ("channels_1hz_max",))
    section("scheduler", scheduler, ("scheduler_channels_1hz", "scheduler_jitter_p99_ms", "scheduler_missed_samples"))
    section("mainframes", mainframes, ("mainframe_channels_1hz_max", "mainframe_transport_floor_us",
                                       "mainframe_sample_cost_x_floor", "mainframe_engine_channels_1hz_max"))
    section("logging", logging_, ("log_rows_per_s",))
    section("analysis", analysis, ("analysis_10m_rows_s",))
    section("redraw", redraw, ("redraw_1m_points_ms",))
    section("safety", safety, ("safety_latency_ms", "safety_latency_realtime_ms", "safety_detection_rate",
                               "safety_false_trips", "safety_soft_detection_rate", "safety_soft_false_trips",
                               "safety_late_detection_rate", "safety_clean_0_45_false_trips"))
    section("kill9", kill9, ("kill9_files_readable",))
    section("sweeps", sweeps, ("sweep_speedup_2w", "sweep_runs_per_min_2w", "sweep_failures"))
    section("cycle_life", cycle_life, ("cycle_life_500_wall_s", "fast_charge_cycling_500_wall_s"))
    for figure in FIGURES:
        if result[figure] is not None:
            reasons.pop(figure, None)
    result["wall_s"] = round(time.perf_counter() - started, 1)
    result["machine"]["load_average_1min_end"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return result
