"""``bench perf --only mainframes`` (issue 20 item 5): how many channels one controller samples at 1 Hz over
loopback through multi-channel instruments, with 0 missed samples, beside the transport floor.

Set-up: a separate process (this module with ``--serve``) serves M simulated Keysight N6705C
mainframes with C N6781A channels each (one cell per channel, one shared world, physics in
20 ms steps as ``bench.multisim``), one loopback TCP port per mainframe, as a lab's mainframes each
have their own LAN address. The controller process opens every mainframe once with pyvisa-py and
the production driver (``drivers.keysight_n6700`` through ``drivers.catalog.open_instrument``), sets
every channel to a 0.1 A charge with its output on, then samples for ``duration_s``: one thread per
mainframe wakes at each 1 s tick and reads each of its channels. Two ways to read:

* ``per_channel``: each channel handle's ``measure()`` (what one Engine per channel does: two
  queries per channel per sample);
* ``batched``: ``N6700System.measure_channels`` (two queries per mainframe per tick, ``(@1:C)``).

A sample is missed when a channel's interval between two samples exceeds 1.5 periods (the rule of
``bench.perf.realtime.interval_stats``). The transport floor is the median round trip of a bare
pyvisa ``Resource.query("SYST:CHAN:COUN?")`` on one mainframe in the same run, before the load; the
per-sample cost is the median time one channel's sample takes alone (per_channel: ``measure()``;
batched: ``measure_channels`` of a whole mainframe / C), also before the load, as a multiple of it.
This measures acquisition only: no Engine, safety supervisor or run file per channel (the lead's
``run_multichannel`` wiring adds those).

Run: ``python -m bench.perf.mainframes --channels 512 --per-mainframe 4 --duration 60``.
``measure_channels_1hz(channels, per_mainframe, duration_s, mode)`` returns one result dict and
``find_max_channels(candidates, ...)`` the search ``bench perf`` reports (section ``mainframes``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.perf.realtime import ServerProcess

logger = logging.getLogger(__name__)

PERIOD_S = 1.0
FLOOR_QUERIES = 300
COST_SAMPLES = 200


def _server(mainframes: int, per_mainframe: int, workdir: Path) -> ServerProcess:
    """The simulator process of ``mainframes`` x ``per_mainframe`` channels (bench.simulated.n6700_servers)."""
    out = workdir / f"n6700_{mainframes}x{per_mainframe}.json"
    return ServerProcess(["-m", "bench.simulated.n6700_servers", "--serve", str(mainframes), str(per_mainframe),
                          "--write", str(out)], out)


# -- controller side -----------------------------------------------------------------------------
def _median_us(call: Any, count: int) -> float:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def transport_floor_us(rm: Any, resource: str, count: int = FLOOR_QUERIES) -> float:
    """Median round trip of a bare pyvisa ``Resource.query`` on ``resource``, µs."""
    inst = rm.open_resource(resource, read_termination="\n", write_termination="\n", timeout=2000)
    try:
        inst.query("SYST:CHAN:COUN?")  # warm-up
        return _median_us(lambda: inst.query("SYST:CHAN:COUN?"), count)
    finally:
        inst.close()


def _missed(times_s: list[float]) -> int:
    return sum(1 for a, b in zip(times_s, times_s[1:], strict=False) if b - a > 1.5 * PERIOD_S)


def measure_channels_1hz(channels: int, per_mainframe: int = 4, duration_s: float = 60.0,
                         mode: str = "per_channel") -> dict[str, Any]:
    """Sample ``channels`` channels (``per_mainframe`` per N6705C) at 1 Hz for ``duration_s``."""
    import pyvisa

    from drivers.catalog import open_instrument

    if mode not in ("per_channel", "batched"):
        raise ValueError(f"mode must be per_channel or batched, got {mode!r}")
    if channels % per_mainframe:
        raise ValueError(f"channels ({channels}) must be a multiple of per_mainframe ({per_mainframe})")
    mainframes = channels // per_mainframe
    with tempfile.TemporaryDirectory(prefix="cellbench-perf-n6700-") as tmp:
        server = _server(mainframes, per_mainframe, Path(tmp))
        rm = pyvisa.ResourceManager("@py")
        try:
            resources = json.loads(server.wait_file().read_text(encoding="utf-8"))["resources"]
            floor_us = transport_floor_us(rm, resources[0])
            systems: dict[Any, Any] = {}
            handles = [[open_instrument("keysight_n6700", res, name=f"mf{m}.ch{c}", resource_manager=rm,
                                        channel=c, systems=systems) for c in range(1, per_mainframe + 1)]
                       for m, res in enumerate(resources)]
            for group in handles:
                for ch in group:
                    ch.set_current(0.1, 4.2)
                    ch.output_on()
            first = handles[0]
            system0 = systems[("keysight_n6700", resources[0])]
            numbers = list(range(1, per_mainframe + 1))
            if mode == "per_channel":
                cost_us = _median_us(first[0].measure, COST_SAMPLES)
            else:
                cost_us = _median_us(lambda: system0.measure_channels(numbers), COST_SAMPLES) / per_mainframe
            result = _sample(handles, systems, resources, duration_s, mode)
            for group in handles:
                for ch in group:
                    ch.output_off()
        finally:
            rm.close()
            server.close()
    result.update({
        "channels": channels, "mainframes": mainframes, "per_mainframe": per_mainframe, "mode": mode,
        "duration_s": duration_s, "transport_floor_us": round(floor_us, 1),
        "sample_cost_us": round(cost_us, 1), "sample_cost_x_floor": round(cost_us / floor_us, 2),
        "ok": result["missed_samples"] == 0 and not result["errors"],
    })
    return result


def _sample(handles: list[list[Any]], systems: dict[Any, Any], resources: list[str], duration_s: float,
            mode: str) -> dict[str, Any]:
    """One thread per mainframe; every channel's sample times and the lateness after each tick."""
    start = time.monotonic() + 1.0
    ticks = int(duration_s / PERIOD_S)
    times: list[list[list[float]]] = [[[] for _ in group] for group in handles]
    lateness_ms: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def worker(m: int) -> None:
        group = handles[m]
        system = systems[("keysight_n6700", resources[m])]
        numbers = [ch.channel for ch in group]
        local_late = []
        try:
            for k in range(ticks):
                tick = start + k * PERIOD_S
                delay = tick - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                if mode == "batched":
                    system.measure_channels(numbers)
                    done = time.monotonic()
                    for series in times[m]:
                        series.append(done)
                else:
                    for ch, series in zip(group, times[m], strict=True):
                        ch.measure()
                        series.append(time.monotonic())
                local_late.append((time.monotonic() - tick) * 1000.0)
        except Exception as exc:  # noqa: BLE001 - recorded; the other mainframes go on
            with lock:
                errors.append(f"mainframe {m}: {exc}")
        with lock:
            lateness_ms.extend(local_late)

    threads = [threading.Thread(target=worker, args=(m,), daemon=True) for m in range(len(handles))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(duration_s + 60.0)
    missed = sum(_missed(series) + (ticks - len(series)) for group in times for series in group)
    lateness_ms.sort()
    return {
        "missed_samples": missed,
        "samples": sum(len(series) for group in times for series in group),
        "tick_lateness_p50_ms": round(lateness_ms[len(lateness_ms) // 2], 2) if lateness_ms else None,
        "tick_lateness_p99_ms": round(lateness_ms[int(len(lateness_ms) * 0.99)], 2) if lateness_ms else None,
        "tick_lateness_max_ms": round(lateness_ms[-1], 2) if lateness_ms else None,
        "errors": errors[:3],
    }


def find_max_channels(candidates: tuple[int, ...] = (256, 512, 768, 1024), per_mainframe: int = 4,
                      duration_s: float = 60.0, mode: str = "per_channel") -> dict[str, Any]:
    """The largest of ``candidates`` (rising) with 0 missed samples at 1 Hz; each run's result."""
    tried, best = [], 0
    for n in candidates:
        try:
            result = measure_channels_1hz(n, per_mainframe, duration_s, mode)
        except Exception as exc:  # noqa: BLE001 - a failure to set up N channels ends the search
            result = {"channels": n, "ok": False, "errors": [str(exc)]}
        tried.append(result)
        if not result["ok"]:
            break
        best = n
    return {"channels_1hz_max": best, "mode": mode, "tried": tried}


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.perf.mainframes")
    parser.add_argument("--channels", type=int, nargs="+", default=[512])
    parser.add_argument("--per-mainframe", type=int, default=4)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--mode", choices=("per_channel", "batched"), default="per_channel")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    result = find_max_channels(tuple(args.channels), args.per_mainframe, args.duration, args.mode)
    result["machine"] = machine()
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
