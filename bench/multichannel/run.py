"""Run a protocol on every channel of a multi-channel bench, concurrently: one engine per channel,
every engine a task of one scheduler (:mod:`bench.multichannel.scheduler`: one thread, a heap of
deadlines, blocking I/O on a few I/O threads), one run file per channel (``<out stem>_chNN.h5``).

A multi-channel bench config has an array of cyclers, each wired to a thermocouple of a meter::

    [[cycler]]
    driver = "keithley2460"
    resource = "TCPIP::192.0.2.11::5025::SOCKET"
    thermocouple = 101                 # meter channel on this cell's surface
    [[cycler]]
    driver = "keithley2460"
    resource = "TCPIP::192.0.2.12::5025::SOCKET"
    thermocouple = 102

    [thermometer]                      # or [[thermometer]] (then each cycler names `thermometer = N`)
    driver = "keysight_daq970a"
    resource = "TCPIP::192.0.2.20::5025::SOCKET"
    air_channel = 120                  # chamber air

    [chamber]
    driver = "espec_p300"
    resource = "socket://192.0.2.30:57732"

    [bench]
    chamber_policy = "when_all_tripped"   # or "on_any_trip" (see bench.multichannel.sharing)

Shared pieces (clock barrier, chamber barrier, shared thermocouple scan) are in
:mod:`bench.multichannel.sharing`.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.instruments import Bench, run_closers
from bench.multichannel.scheduler import ChannelScheduler, Offloaded, TaskGate, TaskStats, WatchdogHost
from bench.multichannel.sharing import CHAMBER_POLICIES, ChamberBarrier, PhaseGate, SharedThermometer
from protocols.steps import Protocol

logger = logging.getLogger(__name__)

#: Exit codes in order of precedence when channels end differently.
_EXIT_PRECEDENCE = (130, 4, 3, 2, 1, 0)


def is_multichannel(config: dict[str, Any]) -> bool:
    """True for a bench config with an array of cyclers (``[[cycler]]``)."""
    return isinstance(config.get("cycler"), list)


#: Keys a ``[[cycler]]`` entry of a multi-channel system driver may carry besides driver, resource,
#: channel and the thermocouple wiring (see drivers/maccor_macnet.py, drivers/arbin_cti.py).
SYSTEM_CHANNEL_OPTIONS = ("username", "password", "schedule", "direct_mode_watchdog_s")


def check_multichannel(config: dict[str, Any], where: str) -> list[str]:
    """Problems of a multi-channel config (empty list when fine); ``where`` prefixes messages."""
    from drivers.catalog import DRIVERS

    problems = []
    cyclers = config.get("cycler", [])
    for n, entry in enumerate(cyclers):
        info = DRIVERS.get(str(entry.get("driver")))
        if info is not None and (info.transport == "system" or info.system is not None):
            channel = entry.get("channel")
            if not isinstance(channel, int) or channel < 1:
                problems.append(f"{where}: [[cycler]] #{n + 1}: driver {info.name!r} is a multi-channel system: "
                                f"it needs 'channel' (the tester's channel number, from 1)")
    meters = config.get("thermometer")
    meters = meters if isinstance(meters, list) else ([meters] if meters else [])
    if not cyclers:
        problems.append(f"{where}: [[cycler]] needs at least one entry")
    for n, entry in enumerate(cyclers):
        if meters:
            index = entry.get("thermometer", 0)
            if not isinstance(index, int) or not 0 <= index < len(meters):
                problems.append(f"{where}: [[cycler]] #{n + 1}: thermometer = {index!r} is not one of 0..{len(meters) - 1}")
            if not isinstance(entry.get("thermocouple"), int):
                problems.append(f"{where}: [[cycler]] #{n + 1} needs 'thermocouple' (the meter channel on its cell)")
    for n, meter in enumerate(meters):
        if not isinstance(meter.get("air_channel", 0), int):
            problems.append(f"{where}: [[thermometer]] #{n + 1}: air_channel must be a channel number")
    policy = config.get("bench", {}).get("chamber_policy", "when_all_tripped")
    if policy not in CHAMBER_POLICIES:
        problems.append(f"{where}: [bench] chamber_policy {policy!r}: choose one of {', '.join(CHAMBER_POLICIES)}")
    return problems


@dataclass
class MultiChannelBench:
    """N cyclers, their thermocouple wiring, the shared meters and chamber, one clock."""

    cyclers: list[Any]
    clock: Any
    description: str
    chamber: Any = None
    meters: list[SharedThermometer] = field(default_factory=list)
    #: Per channel: (meter index, thermocouple channel), or None without a meter.
    wiring: list[tuple[int, int] | None] = field(default_factory=list)
    chamber_policy: str = "when_all_tripped"
    config: dict[str, Any] = field(default_factory=dict)
    #: The simulated world (simulated benches only).
    simulation: Any = None
    closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def channels(self) -> int:
        """Number of cycler channels."""
        return len(self.cyclers)

    def close(self) -> None:
        """Close every link (errors logged, never raised)."""
        run_closers(self.closers)


def open_multichannel(config: dict[str, Any], *, speed: float | None = None, clock: Any = None,
                      resource_manager: Any = None, timeout_s: float = 2.0) -> MultiChannelBench:
    """Open every instrument of a multi-channel ``config`` (pyvisa-py unless a resource manager is given)."""
    import pyvisa

    from bench.clock import RealClock
    from drivers.catalog import driver_info, open_channel, open_instrument
    from drivers.cycler_system import SystemPool

    bench_section = config.get("bench", {})
    if clock is None:
        clock = RealClock(speed or float(bench_section.get("speed", 1.0)))
    rm = resource_manager
    closers: list[Callable[[], None]] = []
    period_hint_s = float(bench_section.get("scan_reuse_s", 0.2))

    pool: Any = None
    mainframes: dict[tuple[str, str], Any] = {}

    def _open(section: dict[str, Any], name: str) -> Any:
        nonlocal rm, pool
        if driver_info(section["driver"]).transport == "delegated":  # a channel that runs step files (issue 29)
            from bench.delegated.cycler import ChannelAsCycler
            from drivers.catalog import open_delegated

            channel = open_delegated(section["driver"], section["resource"], name=name,
                                     timeout_s=float(section.get("timeout_s", timeout_s)),
                                     **{k: v for k, v in section.items() if k not in ("driver", "resource", "timeout_s")})
            closers.append(channel.close)
            return ChannelAsCycler(channel)
        if driver_info(section["driver"]).transport == "system":  # one connection per system, a handle per channel
            if pool is None:
                pool = SystemPool()
                closers.append(pool.close)
            options = {k: section[k] for k in SYSTEM_CHANNEL_OPTIONS if k in section}
            handle = open_channel(section["driver"], section["resource"], int(section["channel"]), name=name,
                                  pool=pool, timeout_s=float(section.get("timeout_s", timeout_s)), clock=clock,
                                  **options)
            closers.append(handle.transport.close)
            return handle
        if "::" in section["resource"] and "://" not in section["resource"] and rm is None:
            rm = pyvisa.ResourceManager("@py")
            closers.append(rm.close)
        if driver_info(section["driver"]).system is not None:  # a SCPI mainframe: one connection, (@n) channels
            known = len(mainframes)
            handle = open_instrument(section["driver"], section["resource"], name=name, resource_manager=rm,
                                     timeout_s=float(section.get("timeout_s", timeout_s)),
                                     channel=int(section["channel"]), systems=mainframes)
            if len(mainframes) > known:  # this channel opened the mainframe: close it once, at the end
                closers.append(mainframes[(section["driver"], section["resource"])].transport.close)
            return handle
        inst = open_instrument(section["driver"], section["resource"], name=name, resource_manager=rm,
                               timeout_s=float(section.get("timeout_s", timeout_s)))
        closers.append(inst.transport.close)
        return inst

    try:
        cyclers = [_open(entry, f"cycler{n}") for n, entry in enumerate(config["cycler"])]
        meters_cfg = config.get("thermometer")
        meters_cfg = meters_cfg if isinstance(meters_cfg, list) else ([meters_cfg] if meters_cfg else [])
        meters = [SharedThermometer(_open(m, f"thermometer{n}"), clock, air_channel=m.get("air_channel"),
                                    max_age_s=period_hint_s) for n, m in enumerate(meters_cfg)]
        chamber = _open(config["chamber"], "chamber") if "chamber" in config else None
    except Exception:
        for closer in reversed(closers):
            closer()
        raise
    wiring = [(int(e.get("thermometer", 0)), int(e["thermocouple"])) if meters else None for e in config["cycler"]]
    return MultiChannelBench(
        cyclers=cyclers, clock=clock, chamber=chamber, meters=meters, wiring=wiring,
        chamber_policy=bench_section.get("chamber_policy", "when_all_tripped"),
        description=bench_section.get("name", config.get("_path", "multi-channel bench")),
        config={k: v for k, v in config.items() if not k.startswith("_")}, closers=closers)


@dataclass
class ChannelOutcome:
    """One channel's run: the run outcome (None if it could not start) or the error."""

    channel: int
    path: Path
    outcome: Any = None
    error: str = ""

    @property
    def exit_code(self) -> int:
        """The channel's CLI exit code (4 when it failed to run at all)."""
        return self.outcome.exit_code if self.outcome is not None else 4


@dataclass
class MultiOutcome:
    """Every channel's outcome, the combined exit code and what the shared chamber did."""

    channels: list[ChannelOutcome]
    wall_time_s: float
    chamber_log: list[tuple[str, int, float | None]]
    #: Per channel, on a real-time clock: wake-ups, late ones and the worst lateness (scheduler).
    lateness: list[TaskStats] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """The most severe channel exit code (130 > 4 > 3 > 2 > 1 > 0)."""
        codes = {c.exit_code for c in self.channels}
        return next((code for code in _EXIT_PRECEDENCE if code in codes), 0)


#: Wall seconds a real-time channel waits for the others to be set up before it samples anyway.
START_GATE_S = 120.0


def channel_path(out: Path, channel: int) -> Path:
    """Run file of ``channel``: ``RUN_chNN.h5`` next to ``out``."""
    return out.with_name(f"{out.stem}_ch{channel:02d}{out.suffix or '.h5'}")


class _Holder:
    """Late binding of a channel's engine for the chamber proxy (the engine is built after the bench)."""

    engine: Any = None

    def tripped(self) -> bool:
        engine = self.engine
        return engine is not None and engine.supervisor.tripped is not None

    def keepalive(self) -> None:
        engine = self.engine
        watchdog = getattr(engine.supervisor, "watchdog", None) if engine is not None else None
        if watchdog is not None:
            watchdog.feed()


def run_multichannel(protocol: Protocol | Sequence[Protocol], mbench: MultiChannelBench, out: Path, *,
                     operator: str = "", observe_s: float = 3600.0,
                     paths: Sequence[Path] | None = None, recording: Callable[[], Any] | None = None,
                     io_workers: int | None = None, reports: bool = True) -> MultiOutcome:
    """Run ``protocol`` on every channel at once; see the module doc for files and policies.

    ``protocol`` may be one protocol per channel (e.g. the proposals of an optimisation batch);
    ``paths`` (one run file per channel) replaces the ``RUN_chNN.h5`` names made from ``out``;
    ``recording()`` makes each channel's catalog recording (:class:`bench.lab.run_recording.RunRecording`).
    Every channel is a task of one :class:`ChannelScheduler` (``io_workers``: its I/O threads on a
    real-time clock; None: the default). ``reports``: False skips each channel's report (the
    outcome's report is empty; ``bench perf`` measures the sampling only).

    Each run file is flushed (samples plus a journal row) every :func:`flush_interval_s` wall
    seconds: every second on a small bench, about :data:`FLUSHES_PER_S` flushes a second in all on
    a large one (a flush costs milliseconds; a crash loses at most that interval of a channel)."""
    n = mbench.channels
    protocols = list(protocol) if isinstance(protocol, Sequence) else [protocol] * n
    if len(protocols) != n:
        raise ValueError(f"{len(protocols)} protocols for {n} channels")
    scheduler = ChannelScheduler(mbench.clock, io_workers=io_workers)
    tasks = [scheduler.spawn(_no_work, f"channel-{k}") for k in range(n)]
    clocks = [task.clock for task in tasks]
    offload = scheduler.offloads
    from bench.multichannel.ride_through import enable_ride_through

    # link faults ridden through like on a single-channel bench: on a virtual clock on the channel's
    # clock (a back-off parks only that channel), in real time on the wall clock of the I/O thread
    enable_ride_through(mbench, clocks if scheduler.virtual else [mbench.clock] * n)
    barrier = ChamberBarrier(mbench.chamber, n, policy=mbench.chamber_policy) if mbench.chamber is not None else None
    holders = [_Holder() for _ in range(n)]
    for index, meter in enumerate(mbench.meters):  # one scan list for every channel of each meter
        wanted = [w[1] for w in mbench.wiring if w is not None and w[0] == index]
        if meter.air_channel is not None:
            wanted.append(meter.air_channel)
        meter.configure(tuple(wanted))
    watchdogs = WatchdogHost()
    benches = []
    for k in range(n):
        wiring = mbench.wiring[k] if mbench.wiring else None
        thermometer: Any = None
        channels = None
        if wiring is not None:
            meter = mbench.meters[wiring[0]]
            channels = (wiring[1],) + ((meter.air_channel,) if meter.air_channel is not None else ())
            thermometer = meter.view(channels)
            if offload:
                thermometer = Offloaded(thermometer, scheduler)
        chamber = None
        if barrier is not None:
            chamber = barrier.proxy(k, clock=clocks[k], poll_s=protocols[k].period_s,
                                    tripped=holders[k].tripped, keepalive=holders[k].keepalive)
        cycler = Offloaded(mbench.cyclers[k], scheduler) if offload else mbench.cyclers[k]
        bench = Bench(cycler=cycler, clock=clocks[k], chamber=chamber, thermometer=thermometer,
                      description=f"{mbench.description}, channel {k}",
                      config=dict(mbench.config, channel=k, channels=n))
        bench.watchdog_host = watchdogs  # type: ignore[attr-defined]  # one watchdog thread for all
        if channels is not None:
            bench.thermometer_channels = channels
        benches.append(bench)
    results = [ChannelOutcome(k, Path(paths[k]) if paths is not None else channel_path(out, k)) for k in range(n)]
    # Every channel starts sampling once all are set up (the set-up of hundreds of run files takes
    # wall seconds: no channel's watchdog runs meanwhile), and builds its report once all have
    # stopped sampling (on a real-time clock the reports' CPU work would make others' samples late).
    gates = (TaskGate(scheduler, n, "start"), TaskGate(scheduler, n, "report"))
    wall0 = time.perf_counter()
    every_s = flush_interval_s(n)
    writer_options = {"flush_interval_s": every_s, "fsync_interval_s": max(5.0, 5.0 * every_s)}
    for k, task in enumerate(tasks):
        task.target = functools.partial(
            _run_channel, protocols[k], benches[k], results[k], holders[k], clocks[k], barrier, operator,
            observe_s, gates, recording() if recording is not None else None, writer_options=writer_options,
            reports=reports)
    try:
        scheduler.run()
    finally:
        watchdogs.stop()
    for task, result in zip(tasks, results, strict=True):
        if task.error is not None and not result.error and result.outcome is None:
            result.error = f"channel {result.channel}: {task.error!r}"
    lateness = [task.stats for task in tasks]
    return MultiOutcome(results, time.perf_counter() - wall0, list(barrier.log) if barrier else [], lateness)


#: Run-file flushes per wall second, all channels together, on a large bench (see :func:`flush_interval_s`).
FLUSHES_PER_S = 25.0


def flush_interval_s(channels: int) -> float:
    """Wall seconds between two flushes of one channel's run file: 1 s up to :data:`FLUSHES_PER_S`
    channels, then ``channels / FLUSHES_PER_S`` (41 s at 1,024 channels)."""
    return max(1.0, channels / FLUSHES_PER_S)


def start_gate_of(gates: tuple[Any, Any] | None) -> Any:
    """The start gate of ``gates`` (None without gates)."""
    return gates[0] if gates else None


def _defer_flush(defer: Callable[[bool], None], holder: _Holder) -> None:
    """A channel's run-file flush waits until no other channel's sample is due; once the engine
    has stopped sampling (its final flush) it also waits for the still-sampling channels' flushes."""
    from bench.engine.run_phase import RunPhase

    state = getattr(holder.engine, "run_state", None)  # None: no engine yet, or a delegated run
    defer(state is not None and state.phase is RunPhase.FINISHED)


def _no_work() -> None:
    """A task's target until the channel's work is bound."""


def _run_channel(protocol: Protocol, bench: Bench, result: ChannelOutcome, holder: _Holder, clock: Any,
                 barrier: ChamberBarrier | None, operator: str, observe_s: float,
                 gates: tuple[PhaseGate | TaskGate, PhaseGate | TaskGate] | None = None, recording: Any = None,
                 *, writer_options: dict[str, float] | None = None, reports: bool = True) -> None:
    """One channel's task: identify, run file, engine, final attributes, report (``gates``: wait
    for every channel before sampling and before the report; see :class:`PhaseGate`)."""
    from bench.engine.core import Engine, RunStatus
    from bench.engine.runner import RunOutcome, exit_code_for, run_attributes
    from bench.report.verdict import build_report
    from bench.runfile.reader import RunFile
    from bench.runfile.writer import RunWriter, set_final_attributes

    tripped = False
    released = False
    pending = list(gates) if gates is not None else []
    try:
        identities = bench.identify()
        attrs = run_attributes(protocol, bench, identities, operator=operator)
        attrs.update({"channel": result.channel, "channels": bench.config.get("channels", 1)})
        from bench.delegated.execute import delegated_cycler, prepare

        cycler = delegated_cycler(bench)  # a channel that runs its own step file (issue 29)
        delegation = prepare(protocol, cycler, attrs) if cycler else None
        options = writer_options or {}
        writer = RunWriter(result.path, attrs, blobs=delegation.blobs if delegation is not None else None,
                           flush_interval_s=options.get("flush_interval_s", 1.0),
                           fsync_interval_s=options.get("fsync_interval_s", 5.0))
        defer = getattr(clock, "defer", None)
        if defer is not None:  # a flush waits until no other channel's sample is due
            writer.before_flush = functools.partial(_defer_flush, defer, holder)
        if recording is not None:
            recording.on_open(attrs, result.path)
        try:
            progress = recording.progress() if recording is not None else None
            engine: Any = (delegation.runner(protocol, bench, writer, progress, observe_s) if delegation is not None else
                           Engine(protocol, bench, writer, observe_s=observe_s, signals=False, progress=progress))
            holder.engine = engine
            if pending:
                start = pending[0]

                def start_gate() -> None:
                    """Every channel prepared (instrument set-up, plan) before any samples."""
                    pending.remove(start)  # arrived: not to be left if the run fails later
                    if not start.arrive():
                        logger.warning("channel %d: not every channel was set up within %.0f s; sampling anyway",
                                       result.channel, START_GATE_S)
                    # the channels' periodic flushes spread evenly over the flush interval (not all
                    # due in the wall seconds their run files were created in)
                    share = (result.channel % start.parties + 1) / start.parties
                    writer.next_flush_in(writer.flush_interval_s * share)
                    if hasattr(clock, "speed"):
                        # Real time: spread the channels' sampling instants evenly over one period (no
                        # burst of N queries at once): channel k samples k/N of a period after channel 0.
                        clock.sleep(protocol.period_s * (result.channel % start.parties) / start.parties)

                engine.before_sampling = start_gate
            run_result = engine.run()
            # For the chamber policy an instrument failure counts as a trip (that channel is safed).
            tripped = run_result.status in (RunStatus.SAFETY_TRIP, RunStatus.INSTRUMENT_FAILURE)
            if pending and pending[0] is start_gate_of(gates):  # the run ended before sampling
                pending.pop(0).leave()
            if pending:  # the others may still wait for this channel at the chamber: release it first
                if barrier is not None:
                    barrier.release(result.channel, tripped=tripped)
                released = True
                # the run file is closed once every channel has stopped sampling (a close costs
                # milliseconds of the one thread: hundreds of them would make others' last samples late)
                pending.pop(0).arrive()
        finally:
            writer.close()
        set_final_attributes(result.path, {
            "status": run_result.status.value, "status_message": run_result.message,
            "end_time_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "test_time_s": run_result.test_time_s,
        })
        report: dict[str, Any] = {}
        if reports:
            with RunFile(result.path) as run:
                report = build_report(run)
        result.outcome = RunOutcome(run_result, result.path, exit_code_for(run_result, report), report)
        if recording is not None:
            recording.finished(result.outcome)
    except Exception as exc:  # noqa: BLE001 - one channel's failure must not stop the others
        logger.exception("channel %d failed", result.channel)
        result.error = f"channel {result.channel}: {exc}"
        tripped = True
        if recording is not None:
            recording.failed(result.error, result.path)
    finally:
        if recording is not None:
            recording.close()
        for gate in pending:
            gate.leave()
        if barrier is not None and not released:
            barrier.release(result.channel, tripped=tripped)
        leave = getattr(clock, "leave", None)
        if leave is not None:
            leave()
