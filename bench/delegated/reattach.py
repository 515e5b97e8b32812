"""``bench resume RUN.h5`` of a delegated run: the PC went away (kill -9, reboot, power cut) while
the cycler kept running its step file; reattach to the running test, backfill what was missed from
the cycler's stored records, and go on supervising.

1. The run file must be an interrupted delegated run (status ``running``, no safety trip, a
   delegated journal row: ``execution = "delegated"``, ``test_id``).
2. The protocol is rebuilt from the file (as any resume), compiled for the same cycler and written
   again: the step file's SHA-256 must equal the run file's ``step_file_sha256`` (else the program
   the bench would follow is not the one the cycler runs: refused).
3. The cycler channel is opened (the bench config stored in the run file; a ``[cycler]`` or the
   run's ``[[cycler]]`` entry through :func:`drivers.catalog.open_delegated`) and asked which test
   it runs: another test than the run's ``test_id`` is refused (the channel is never touched).
4. The bench's view is rebuilt by replay: the cycler's stored records up to the run file's last
   sample go through the runner's :class:`~bench.delegated.tracker.StepTracker` and supervisor into
   a sink (not the file: those rows are there already), which puts the plan, the step and cycle
   counters and the supervisor's windows where they were.
5. Backfill: the records after the file's last sample are appended (supervised, in order) and an
   ``interruption`` event plus a ``backfill`` event (``from_s``, ``to_s``, ``rows``: the rows
   between those test times came from the cycler's store, not from the live poll) mark them.
6. Then the ordinary delegated polling goes on (:class:`~bench.delegated.runner.DelegatedRunner`):
   a trip stops the channel, the end of the step file completes the run and the claims are judged.
   A test the cycler finished (or ended on its own alarm) while the PC was away is backfilled and
   closed the same way.

Units: test time s (the cycler's clock).
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import logging
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bench.delegated.compiler import step_format
from bench.delegated.execute import check_delegable
from bench.delegated.runner import DelegatedRunner
from bench.engine.results import Progress, RunResult
from bench.engine.resume import ResumeError, protocol_from_attrs
from bench.engine.runner import RunOutcome, exit_code_for
from bench.instruments import Bench
from bench.runfile.layout import SAMPLE_DTYPE
from bench.runfile.reader import RunFile, RunFileError
from bench.runfile.writer import RunWriter, set_final_attributes
from bench.safety.supervisor import Trip
from drivers.delegated.channel import ChannelSample, ChannelStatus, DelegatedChannel
from protocols.steps import Protocol

logger = logging.getLogger(__name__)

#: States in which the reattached test is still the cycler's (running, or ended on its own while
#: the PC was away: its records are backfilled and the run closed).
REATTACHABLE = frozenset({"running", "paused", "finished", "alarm"})


class ReattachError(ResumeError):
    """A delegated run that cannot be reattached; the message names the file and why."""


def is_delegated(path: str | Path) -> bool:
    """True when ``path`` is a delegated run (``execution = "delegated"`` in its attributes)."""
    try:
        with RunFile(Path(path)) as run:
            return str(run.attrs.get("execution", "")) == "delegated"
    except RunFileError:
        return False


def load_delegated(path: Path) -> tuple[dict[str, Any], dict[str, Any], float]:
    """(attributes, last journal, test time of the file's last sample) of an interrupted delegated run."""
    try:
        with RunFile(path) as run:
            attrs, journal, events = run.attrs, run.last_journal(), run.events
            times = run.column("Test Time / s")
    except RunFileError as exc:
        raise ReattachError(str(exc)) from None
    status = attrs.get("status", "")
    if status != "running":
        raise ReattachError(f"{path}: the run ended ({status or 'no status'}); only an interrupted run is resumed")
    trips = [e for e in events if e["kind"] == "safety_trip"]
    if trips:
        raise ReattachError(f"{path}: the run tripped at {trips[0]['time_s']:.0f} s ({trips[0]['message']}); "
                            "a tripped run is not resumed")
    if journal is None or journal.get("execution") != "delegated" or not journal.get("test_id"):
        raise ReattachError(f"{path}: no delegated journal (killed before the first flush?): the test id on the "
                            "cycler is unknown")
    return attrs, journal, float(times[-1]) if len(times) else -math.inf


class _ReplaySink:
    """The writer a replay feeds: keeps the recent sample rows (step-end crossings read them),
    drops everything else (those rows and events are in the file already)."""

    def __init__(self) -> None:
        self._rows: collections.deque[tuple] = collections.deque(maxlen=4096)

    def append_sample_row(self, row: tuple) -> None:
        self._rows.append(row)

    def recent_samples(self, count: int) -> np.ndarray:
        rows = list(self._rows)[-count:] if count > 0 else []
        return np.array([tuple(r) for r in rows], dtype=SAMPLE_DTYPE)

    def event(self, *_args: Any, **_kwargs: Any) -> None:
        return None

    def append(self, *_args: Any, **_kwargs: Any) -> None:
        return None


def check_channel(channel: DelegatedChannel, test_id: str) -> ChannelStatus:
    """The channel's status when it still holds test ``test_id``; ReattachError (the channel untouched)
    when it runs another test or holds none."""
    status = channel.status()
    if status.state not in REATTACHABLE:
        raise ReattachError(f"the cycler channel is {status.state} ({status.detail or 'no detail'}); "
                            f"test {test_id} is no longer there to reattach to")
    if status.test_id and status.test_id != test_id:
        raise ReattachError(f"the cycler channel runs test {status.test_id}, not this run's {test_id}: not touched")
    return status


class ReattachedRunner(DelegatedRunner):
    """A :class:`DelegatedRunner` that does not download or start: it replays, backfills, polls."""

    def __init__(self, *args: Any, last_sample_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.last_sample_s = last_sample_s
        self.backfilled = 0
        self._pending: Trip | None = None

    def _start(self) -> None:
        status = check_channel(self.channel, self.test_id)
        records = self.channel.records_since(0.0)
        sink, writer = _ReplaySink(), self.writer
        tracker = self.tracker
        tracker.writer = sink  # type: ignore[assignment]  # the replay sink has the writer methods the tracker calls
        t_cell, t_air = self._temperatures_c()
        try:
            for record in records:
                if record.test_time_s > self.last_sample_s:
                    break
                tracker.feed(record, t_cell, t_air)
        finally:
            tracker.writer = writer
        missed = [r for r in records if r.test_time_s > self.last_sample_s]
        self.state = "running"
        self.writer.event(self.now(), "reattach", tracker.step_count,
                          f"reattached to test {self.test_id} on the cycler ({status.state}); "
                          f"{len(missed)} records it stored while the bench was away follow", {
                              "test_id": self.test_id, "cycler_state": status.state,
                              "last_sample_s": self.last_sample_s, "replayed": tracker.samples})
        tracker.samples = 0
        if missed:
            self.writer.event(missed[0].test_time_s, "backfill", tracker.step_count,
                              f"{len(missed)} rows from {missed[0].test_time_s:.1f} s to {missed[-1].test_time_s:.1f} s "
                              "backfilled from the cycler's stored records", {
                                  "from_s": missed[0].test_time_s, "to_s": missed[-1].test_time_s,
                                  "rows": len(missed), "source": "records_since"})
        self._pending = self._take_all(missed, t_cell, t_air)
        self.backfilled = len(missed)

    def _take_all(self, records: list[ChannelSample], t_cell: float, t_air: float) -> Trip | None:
        for record in records:
            fed = self.tracker.feed(record, t_cell, t_air)
            if fed is not None and fed[1] is not None:
                return fed[1]
        return None

    def _poll(self, wall0: float) -> RunResult:
        if self._pending is not None:
            return self._trip(self._pending, wall0)
        return super()._poll(wall0)


def open_delegated_bench(config: Mapping[str, Any], channel: int, clock: Any = None) -> Bench:
    """The bench of channel ``channel`` of a stored bench config, on a wall clock at the config's
    ``[bench] speed``: a ``[cycler]`` bench as ``bench run --bench`` opens it; a ``[[cycler]]`` bench
    as its multi-channel run opens it, this channel with its thermometer view and no chamber (the
    chamber is shared with channels this resume does not run: it is left as it is)."""
    from bench.clock import RealClock

    config = dict(config)
    speed = float(dict(config.get("bench") or {}).get("speed", 1.0) or 1.0)
    clock = clock or RealClock(speed)
    if not isinstance(config.get("cycler"), list):
        from bench.benches import BenchFactory, BenchSpec

        return BenchFactory().open(BenchSpec(config=config, speed=speed))
    from bench.multichannel.run import open_multichannel

    mbench = open_multichannel(config, clock=clock)
    if not 0 <= channel < mbench.channels:
        mbench.close()
        raise ReattachError(f"the stored bench config has no cycler channel {channel}")
    wiring = mbench.wiring[channel] if mbench.wiring else None
    thermometer = channels = None
    if wiring is not None:
        meter = mbench.meters[wiring[0]]
        channels = (wiring[1],) + ((meter.air_channel,) if meter.air_channel is not None else ())
        meter.configure(channels)
        thermometer = meter.view(channels)
    bench = Bench(cycler=mbench.cyclers[channel], clock=clock, thermometer=thermometer,
                  description=f"{mbench.description}, channel {channel} (reattached)",
                  config=dict(mbench.config, channel=channel), closers=[mbench.close])
    if channels is not None:
        bench.thermometer_channels = channels
    return bench


def resume_delegated(path: str | Path, *, bench: Bench | None = None, clock: Any = None, observe_s: float = 3600.0,
                     progress: Callable[[Progress], None] | None = None,
                     on_open: Callable[[Mapping[str, Any], Path], None] | None = None) -> RunOutcome:
    """Reattach the interrupted delegated run in ``path`` (see the module doc). ``bench``: the
    bench to use (default: its delegated cycler opened from the stored config, on the wall clock)."""
    from bench.report.verdict import build_report

    path = Path(path)
    attrs, journal, last_sample_s = load_delegated(path)
    protocol: Protocol = protocol_from_attrs(attrs, path)
    cycler = str(attrs.get("delegated_cycler", ""))
    try:
        fmt = step_format(cycler)
    except ValueError as exc:
        raise ReattachError(f"{path}: {exc}") from None
    program = check_delegable(protocol, cycler)
    step_file = fmt.write(program)
    if hashlib.sha256(step_file).hexdigest() != attrs.get("step_file_sha256"):
        raise ReattachError(f"{path}: the step file written now differs from the one the cycler runs (SHA-256 "
                            f"{str(attrs.get('step_file_sha256'))[:12]}...): the protocol or the writer changed")
    if bench is None:
        bench = open_delegated_bench(dict(attrs.get("bench_config") or {}), int(attrs.get("channel", 0) or 0), clock)
    try:
        role: Any = bench.cycler
        try:  # before the file is touched: a channel running another test is refused
            check_channel(getattr(role, "channel", role), str(journal["test_id"]))
        except ReattachError as exc:
            raise ReattachError(f"{path}: {exc}") from None
        resumed_utc = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        writer = RunWriter.reopen(path, {"resumed_utc": resumed_utc,
                                         "resume_count": int(attrs.get("resume_count", 0) or 0) + 1})
        if on_open is not None:
            on_open(attrs, path)
        try:
            writer.event(max(last_sample_s, 0.0), "interruption", int(journal.get("step_count") or 0),
                         f"bench away after {max(last_sample_s, 0.0):.1f} s of test {journal['test_id']}; "
                         "reattaching to the cycler", {"last_sample_s": last_sample_s, "resumed_utc": resumed_utc,
                                                        "journal_s": float(journal.get("time_s", 0.0) or 0.0)})
            runner = ReattachedRunner(protocol, program, step_file, bench, writer, test_id=str(journal["test_id"]),
                                      progress=progress, last_sample_s=last_sample_s,
                                      first_step_number=fmt.first_step_number, observe_s=observe_s)
            runner.unix0 = float(journal.get("unix0") or runner.unix0)
            runner.tracker.unix0 = runner.unix0
            result = runner.run()
        finally:
            writer.close()
    finally:
        bench.close()
    set_final_attributes(path, {"status": result.status.value, "status_message": result.message,
                                "end_time_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                                "test_time_s": result.test_time_s})
    with RunFile(path) as run:
        report = build_report(run)
    return RunOutcome(result, path, exit_code_for(result, report), report)
