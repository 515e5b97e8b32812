"""Real-time figures over loopback TCP: sample-period jitter and how many channels keep 1 Hz.

The simulated instruments run in a separate process (as real instruments are separate boxes):
``bench sim serve`` for the jitter figure, ``python -m bench.simulated.multichannel`` for the channel count.
The controller side is the production path: bench config -> pyvisa-py raw sockets / pyserial
``socket://`` -> drivers -> :class:`bench.engine.core.Engine` on the wall clock, writing a run file.

Jitter: from the run file's ``Test Time / s`` stamps (taken right after each acquisition), the
deviation of each sample interval from the period, ms (p50 / p99 / max). A sample is *missed*
when an interval exceeds 1.5 periods (a sampling slot went by without a sample).

Real-time set-up while measuring (what a lab PC running the bench would do; each part is
reported in ``realtime`` and skipped, with the reason, where the OS refuses it): both processes
under ``SCHED_RR`` priority :data:`RT_PRIORITY` (threads inherit it), and in the controller the
garbage collector frozen and disabled for the run (``gc.freeze`` after a full collection), so a
collection cannot land in a sample slot. All of it is undone when the measurement ends.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

#: Wall seconds to wait for a simulator process to write its bench config (a bound, not a pace).
SERVER_START_S = 60.0
#: Real-time priority (SCHED_RR, 1..99) of the controller and simulator processes while measuring.
RT_PRIORITY = 10


def _rt_preexec() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(RT_PRIORITY))


@contextlib.contextmanager
def realtime_setup(enabled: bool = True) -> Iterator[dict[str, Any]]:
    """Raise this thread to SCHED_RR and freeze/disable the GC; yields what was applied (dict)."""
    applied: dict[str, Any] = {"sched": "SCHED_OTHER (not requested)", "gc": "enabled"}
    old_policy = None
    if enabled:
        try:
            old_policy = (os.sched_getscheduler(0), os.sched_getparam(0))
            os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(RT_PRIORITY))
            applied["sched"] = f"SCHED_RR priority {RT_PRIORITY} (controller and simulator)"
        except (OSError, AttributeError) as exc:
            old_policy = None
            applied["sched"] = f"SCHED_OTHER (SCHED_RR refused: {exc})"
        gc.collect()
        gc.freeze()
        gc.disable()
        applied["gc"] = "frozen and disabled during the run"
    try:
        yield applied
    finally:
        if enabled:
            gc.enable()
            gc.unfreeze()
        if old_policy is not None:
            with contextlib.suppress(OSError):
                os.sched_setscheduler(0, *old_policy)


class ServerProcess:
    """A simulator process that announces itself by writing a file (a bench config, or a JSON
    list of resources); stopped by closing its stdin, then SIGTERM / SIGKILL."""

    def __init__(self, args: list[str], config_path: Path, realtime: bool = False) -> None:
        self.config_path = config_path
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, *args], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=env,
                                     preexec_fn=_rt_preexec if realtime else None)

    def wait_file(self) -> Path:
        """The file, once the process has written it (bounded wait: ``SERVER_START_S``)."""
        deadline = time.monotonic() + SERVER_START_S
        while not self.config_path.exists():
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace")[-500:] if self.proc.stderr else ""
                raise RuntimeError(f"simulator process exited ({self.proc.returncode}): {err}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"simulator process wrote no {self.config_path.name} within {SERVER_START_S:.0f} s")
            time.sleep(0.05)
        return self.config_path

    def wait_config(self) -> dict[str, Any]:
        """The bench config the process wrote."""
        from bench.config import load_bench_config

        return load_bench_config(self.wait_file())

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                if self.proc.stdin:
                    self.proc.stdin.close()
                self.proc.wait(5.0)
            except (subprocess.TimeoutExpired, OSError):
                self.proc.terminate()
                try:
                    self.proc.wait(5.0)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5.0)


def _rest_protocol(workdir: Path, period_s: float, duration_s: float, name: str) -> Any:
    from protocols.loader import load_protocol

    path = workdir / f"{name}.yaml"
    path.write_text(
        f"name: {name}\n"
        "cell: {preset: nmc_21700, capacity_ah: 5.0, voltage_max_v: 4.2, voltage_min_v: 2.5, current_max_a: 7.0}\n"
        "limits: {voltage_max_v: 4.25, voltage_min_v: 2.4, current_max_a: 7.35, temperature_max_c: 60}\n"
        f"sampling: {{period_s: {period_s}}}\n"
        f"steps:\n  - Rest for {duration_s:g} seconds\n", encoding="utf-8")
    return load_protocol(str(path), {})


def interval_stats(times_s: np.ndarray, period_s: float) -> dict[str, Any]:
    """Jitter (ms) and missed samples from sample time stamps (s)."""
    intervals = np.diff(np.asarray(times_s, dtype=float))
    if intervals.size == 0:
        return {"samples": int(len(times_s)), "jitter_p50_ms": None, "jitter_p99_ms": None,
                "jitter_max_ms": None, "missed_samples": 0}
    jitter_ms = np.abs(intervals - period_s) * 1000.0
    return {
        "samples": int(len(times_s)),
        "jitter_p50_ms": round(float(np.percentile(jitter_ms, 50)), 3),
        "jitter_p99_ms": round(float(np.percentile(jitter_ms, 99)), 3),
        "jitter_max_ms": round(float(jitter_ms.max()), 3),
        "missed_samples": int(np.sum(intervals > 1.5 * period_s)),
    }


def _sample_times(path: Path) -> np.ndarray:
    from bench.runfile.reader import RunFile

    with RunFile(path) as run:
        return run.column("Test Time / s")


def measure_jitter(periods_s: tuple[float, ...] = (0.01, 0.1), duration_s: float = 20.0,
                   realtime: bool = True) -> dict[str, Any]:
    """Engine sampling jitter at each period over loopback TCP (one run of ``duration_s`` each);
    ``realtime``: with :func:`realtime_setup` (SCHED_RR, GC frozen) as a lab PC would run."""
    from bench.config import open_bench
    from bench.engine.core import Engine
    from bench.runfile.writer import RunWriter

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="cellbench-perf-rt-") as tmp:
        workdir = Path(tmp)
        server = ServerProcess(["-m", "bench.cli", "sim", "serve", "--write-bench", str(workdir / "sim.toml"),
                                 "--speed", "1"], workdir / "sim.toml", realtime=realtime)
        try:
            config = server.wait_config()
            for period in periods_s:
                bench = open_bench(config)
                try:
                    protocol = _rest_protocol(workdir, period, duration_s, f"jitter_{int(period * 1000)}ms")
                    path = workdir / f"jitter_{int(period * 1000)}ms.h5"
                    writer = RunWriter(path, {"protocol": protocol.name})
                    try:
                        engine = Engine(protocol, bench, writer, observe_s=0.0)
                        with realtime_setup(realtime) as applied:
                            engine.run()
                        results["realtime"] = applied
                    finally:
                        writer.close()
                finally:
                    bench.close()
                stats = interval_stats(_sample_times(path), period)
                stats["duration_s"] = duration_s
                results[f"{int(round(period * 1000))}ms"] = stats
        finally:
            server.close()
    results["setup"] = ("bench sim serve --speed 1 in its own process; Engine over pyvisa-py/pyserial "
                        "loopback TCP; Rest step, every sample = :READ? + READ?")
    return results


def channels_ok(channels: int, duration_s: float, workdir: Path, realtime: bool = True,
                cycler: str = "keithley2460") -> dict[str, Any]:
    """Run ``channels`` engines at 1 Hz over loopback for ``duration_s``; missed samples and lateness
    (``realtime``: under :func:`realtime_setup`, as :func:`measure_jitter`). ``cycler``: one
    Keithley 2460 per cell, or ``keysight_n6700`` mainframes (4 channels each)."""
    from bench.multichannel.run import open_multichannel, run_multichannel

    config_path = workdir / f"multi{channels}.toml"
    server = ServerProcess(["-m", "bench.simulated.multichannel", "--channels", str(channels), "--write-bench",
                             str(config_path), "--cycler", cycler], config_path, realtime=realtime)
    try:
        config = server.wait_config()
        mbench = open_multichannel(config)
        try:
            protocol = _rest_protocol(workdir, 1.0, duration_s, f"channels_{channels}")
            out = workdir / f"channels_{channels}.h5"
            with realtime_setup(realtime) as applied:
                outcome = run_multichannel(protocol, mbench, out, observe_s=0.0)
        finally:
            mbench.close()
    finally:
        server.close()
    missed = 0
    worst_ms = 0.0
    failed = [c.error or c.outcome.result.message for c in outcome.channels
              if c.outcome is None or c.outcome.result.status.value != "completed"]
    for ch in outcome.channels:
        if ch.outcome is None:
            continue
        stats = interval_stats(_sample_times(ch.path), 1.0)
        missed += stats["missed_samples"]
        worst_ms = max(worst_ms, stats["jitter_max_ms"] or 0.0)
        ch.path.unlink(missing_ok=True)
    return {"channels": channels, "missed_samples": missed, "jitter_max_ms": round(worst_ms, 2),
            "failed_channels": len(failed), "errors": failed[:3], "ok": missed == 0 and not failed,
            "realtime": applied}


def measure_channels(candidates: tuple[int, ...] = (16, 32, 64, 128, 256), duration_s: float = 10.0,
                     cycler: str = "keithley2460") -> dict[str, Any]:
    """The largest channel count (of ``candidates``, rising) with 0 missed samples at 1 Hz."""
    tried = []
    best = 0
    with tempfile.TemporaryDirectory(prefix="cellbench-perf-ch-") as tmp:
        for n in candidates:
            try:
                result = channels_ok(n, duration_s, Path(tmp), cycler=cycler)
            except Exception as exc:  # noqa: BLE001 - a failure to set up N channels ends the search
                result = {"channels": n, "ok": False, "errors": [str(exc)]}
            tried.append(result)
            if not result["ok"]:
                break
            best = n
    instruments = "N Keithley 2460" if cycler == "keithley2460" else f"{cycler} (4 channels per mainframe)"
    return {"channels_1hz_max": best, "tried": tried, "duration_s": duration_s, "cycler": cycler,
            "setup": f"python -m bench.simulated.multichannel ({instruments} + DAQ970A + Espec servers) in its own "
                     "process; one Engine thread per channel over pyvisa-py loopback TCP, one run file each"}
