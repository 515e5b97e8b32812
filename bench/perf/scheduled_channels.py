"""``bench perf --only scheduler`` (issue 31 item 4): N channels at 1 Hz on one scheduler, real time.

Every channel runs the full engine (supervisor, sample watchdog, run file with its journal) as a
task of :class:`bench.multichannel.scheduler.ChannelScheduler` (one thread; instrument I/O on its
bounded pool of I/O threads). The instruments are the in-process simulated ones
(:func:`bench.simulated.multichannel.build_sim_multichannel`: one Keithley 2460 per cell reached
through the production driver over pyvisa and the in-process VISA library, DAQ970A meters, an Espec
chamber), on a scaled clock at speed 1 (real time); the physics reads the clock in 20 ms steps.
Protocol: one Rest step at 1 Hz for the duration. From each run file's ``Test Time / s`` stamps:
missed samples (an interval over 1.5 periods) and the deviation of every interval from the period
(jitter p50 / p99 / max, ms, over all channels). The machine's load average is reported beside them:
a loaded machine makes samples late that an idle one keeps.

Run: ``python -m bench.perf.scheduled_channels --channels 1024 --duration 60``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

#: Physics step of the simulated world, s (as the loopback server's SERVE_STEP_S).
WORLD_STEP_S = 0.02


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else []


def _rest_protocol(workdir: Path, duration_s: float, name: str) -> Any:
    """One Rest step at 1 Hz; no final observation (the figure is the sampling, not the verdict)."""
    from protocols.loader import load_protocol

    path = workdir / f"{name}.yaml"
    path.write_text(
        f"name: {name}\n"
        "cell: {preset: nmc_21700, capacity_ah: 5.0, voltage_max_v: 4.2, voltage_min_v: 2.5, current_max_a: 7.0}\n"
        "limits: {voltage_max_v: 4.25, voltage_min_v: 2.4, current_max_a: 7.35, temperature_max_c: 60,"
        " final_observation_s: 0}\n"
        "sampling: {period_s: 1}\n"
        f"steps:\n  - Rest for {duration_s:g} seconds\n", encoding="utf-8")
    return load_protocol(str(path), {})


def measure_scheduled(channels: int, duration_s: float = 60.0, workdir: Path | None = None,
                      realtime: bool = True, io_workers: int | None = None) -> dict[str, Any]:
    """Run ``channels`` channels at 1 Hz for ``duration_s`` on one scheduler; missed samples, jitter
    (``io_workers``: the scheduler's I/O threads, None = its default; 0 = instrument calls inline)."""
    from bench.multichannel.run import run_multichannel
    from bench.perf.realtime import realtime_setup
    from bench.runfile.reader import RunFile
    from bench.simulated.multichannel import build_sim_multichannel

    with tempfile.TemporaryDirectory(prefix="cellbench-perf-sched-") as tmp:
        work = workdir or Path(tmp)
        t0 = time.perf_counter()
        mbench = build_sim_multichannel(channels, speed=1.0, world_step_s=WORLD_STEP_S)
        build_s = time.perf_counter() - t0
        load_before = _load()
        try:
            protocol = _rest_protocol(work, duration_s, f"sched_{channels}")
            with realtime_setup(realtime) as applied:
                outcome = run_multichannel(protocol, mbench, work / f"sched_{channels}.h5", observe_s=0.0,
                                           reports=False, io_workers=io_workers)
        finally:
            mbench.close()
        load_after = _load()
        jitter: list[np.ndarray] = []
        missed = samples = 0
        where: Counter[int] = Counter()  # missed samples by interval index (0: first, -1: last)
        failed = [c.error or c.outcome.result.message for c in outcome.channels
                  if c.outcome is None or c.outcome.result.status.value != "completed"]
        for ch in outcome.channels:
            if ch.outcome is None:
                continue
            with RunFile(ch.path) as run:
                times = run.column("Test Time / s")[run.column("Step Index / 1") >= 0]
            intervals = np.diff(times)
            samples += len(times)
            gaps = np.flatnonzero(intervals > 1.5)
            missed += len(gaps)
            where.update(-1 if i == len(intervals) - 1 else int(i) for i in gaps)
            jitter.append(np.abs(intervals - 1.0) * 1000.0)
            ch.path.unlink(missing_ok=True)
    every = np.concatenate(jitter) if jitter else np.zeros(0)
    late = sum(s.late for s in outcome.lateness)

    def pct(q: float) -> float | None:
        return round(float(np.percentile(every, q)), 3) if every.size else None

    return {
        "channels": channels, "duration_s": duration_s, "io_workers": io_workers, "samples": samples, "missed_samples": missed,
        "jitter_p50_ms": pct(50), "jitter_p99_ms": pct(99),
        "jitter_max_ms": round(float(every.max()), 3) if every.size else None,
        "late_wakeups": late, "failed_channels": len(failed), "errors": failed[:3],
        # why channels failed: each distinct message (numbers blanked) with its count
        "failures": dict(Counter(re.sub(r"[0-9.]+", "#", m) for m in failed).most_common(5)),
        "missed_by_interval": dict(where.most_common(8)),
        "ok": missed == 0 and not failed, "wall_s": round(outcome.wall_time_s, 1), "build_s": round(build_s, 1),
        "load_average_before": load_before, "load_average_after": load_after, "cpus": os.cpu_count(),
        "realtime": applied,
    }


def measure_counts(counts: tuple[int, ...], duration_s: float, io_workers: int | None = None) -> dict[str, Any]:
    """:func:`measure_scheduled` at the largest of ``counts``; if it misses samples, at the next
    lower count, and so on until one holds (each result is kept in ``tried``)."""
    tried = []
    best = 0
    for n in sorted(counts, reverse=True):
        try:
            result = measure_scheduled(n, duration_s, io_workers=io_workers)
        except Exception as exc:  # noqa: BLE001 - a failure to set up N channels: try fewer
            result = {"channels": n, "ok": False, "errors": [f"{type(exc).__name__}: {exc}"]}
        tried.append(result)
        if result["ok"]:
            best = n
            break
    top = next((t for t in tried if t.get("ok")), tried[0] if tried else {})
    return {"scheduled_channels_1hz_max": best, "jitter_p99_ms": top.get("jitter_p99_ms"),
            "jitter_p50_ms": top.get("jitter_p50_ms"), "missed_samples": top.get("missed_samples"),
            "tried": tried, "duration_s": duration_s,
            "setup": "in-process simulated bench (Keithley 2460 per cell over pyvisa + DAQ970A + Espec), scaled "
                     "clock speed 1, physics in 20 ms steps; every channel a full Engine (supervisor, watchdog, "
                     "run file + journal) as a task of one ChannelScheduler with 8 I/O threads"}


def main(argv: list[str] | None = None) -> int:
    """Command line: print the result as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--channels", type=int, nargs="+", default=[1024])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per run")
    parser.add_argument("--io-workers", type=int, default=None, help="I/O threads (0: instrument calls inline)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    result = measure_counts(tuple(args.channels), args.duration, args.io_workers)
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0 if result["scheduled_channels_1hz_max"] else 1


if __name__ == "__main__":
    sys.exit(main())
