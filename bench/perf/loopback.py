"""Round-trip latency of driver queries to the simulated bench over loopback TCP (for ``bench perf``).

Starts the ``bench sim serve`` servers in this process (127.0.0.1, free ports), opens the bench
through the production path (:func:`bench.config.open_bench`: pyvisa-py raw sockets for SCPI,
pyserial ``socket://`` for the Espec chamber) and times each query from send to parsed reply with
``time.perf_counter``. The servers' threads share this process (and its GIL) with the client, so
the figures are an upper bound of what a separate ``bench sim serve`` process gives.

Times in the results are milliseconds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from drivers.roles import TemperatureMeter, ThermalChamber

#: What one engine sample costs on the wire: the cycler reading and the thermocouple scan.
PROBES: tuple[tuple[str, str], ...] = (
    ("cycler", "*IDN?"),
    ("cycler", ':READ? "defbuffer1", READ, SOUR'),
    ("thermometer", "READ?"),
    ("chamber", "TEMP?"),
    ("sample", "cycler :READ? + thermometer READ?"),
)


class ProbedCycler(Protocol):
    """What the probe calls on the cycler: the SCPI cyclers' set-up and ``*IDN?`` beside the reading."""

    def configure(self) -> None: ...

    def identify(self) -> str: ...

    def measure(self) -> tuple[float, float]: ...


@dataclass(frozen=True)
class LatencyStats:
    """Round-trip latency of one query over ``count`` repetitions, milliseconds."""

    instrument: str
    command: str
    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (for ``bench perf --json``)."""
        return asdict(self)


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (``fraction`` in 0..1)."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def time_calls(call: Callable[[], object], count: int, warmup: int = 20) -> list[float]:
    """Call ``call`` ``warmup`` times untimed, then ``count`` times; the durations in seconds."""
    for _ in range(warmup):
        call()
    durations = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        durations.append(time.perf_counter() - start)
    return durations


def stats(instrument: str, command: str, durations_s: list[float]) -> LatencyStats:
    """Summarise durations (seconds) as a :class:`LatencyStats` in milliseconds."""
    ordered = sorted(d * 1000.0 for d in durations_s)
    return LatencyStats(instrument, command, len(ordered), percentile(ordered, 0.50), percentile(ordered, 0.99),
                        ordered[-1], sum(ordered) / len(ordered))


def measure_loopback_latency(count: int = 1000, *, speed: float = 1.0,
                             config: dict[str, Any] | None = None) -> list[LatencyStats]:
    """Time ``count`` round trips of each probe query.

    Without ``config`` the simulated bench is served in this process on fresh loopback ports;
    with a bench ``config`` (e.g. from ``bench sim serve --write-bench``, as returned by
    :func:`bench.config.load_bench_config`) that bench is measured instead. It needs a cycler,
    a chamber and a thermometer.
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    if config is not None:
        return _measure(config, count)
    from bench.simulated.serve import start_sim_servers

    with start_sim_servers(speed=speed) as servers:
        return _measure(servers.bench_config(), count)


def _measure(config: dict[str, Any], count: int) -> list[LatencyStats]:
    from bench.config import open_bench

    missing = [role for role in ("cycler", "chamber", "thermometer") if role not in config]
    if missing:
        raise ValueError(f"latency probe needs a {' and a '.join(missing)} in the bench config")
    channels = tuple(config["thermometer"].get("channels", (101, 102)))
    bench = open_bench(config)
    try:
        # The chamber and thermometer are in the config (checked above); the cycler is a SCPI one.
        cycler = cast(ProbedCycler, bench.cycler)
        chamber = cast("ThermalChamber", bench.chamber)
        thermometer = cast("TemperatureMeter", bench.thermometer)
        cycler.configure()
        thermometer.configure(channels)

        def sample() -> None:
            cycler.measure()
            thermometer.read_c()

        calls: dict[tuple[str, str], Callable[[], object]] = {
            PROBES[0]: cycler.identify,
            PROBES[1]: cycler.measure,
            PROBES[2]: thermometer.read_c,
            PROBES[3]: chamber.read_air_c,
            PROBES[4]: sample,
        }
        return [stats(instrument, command, time_calls(calls[(instrument, command)], count))
                for instrument, command in PROBES]
    finally:
        bench.close()


def format_latency(results: list[LatencyStats]) -> str:
    """A small table: instrument, command, p50, p99, max (ms)."""
    lines = [f"{'instrument':<12} {'command':<36} {'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"]
    for r in results:
        lines.append(f"{r.instrument:<12} {r.command:<36} {r.count:>6} {r.p50_ms:>8.3f} {r.p99_ms:>8.3f} "
                     f"{r.max_ms:>8.3f}")
    return "\n".join(lines)
