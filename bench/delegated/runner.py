"""The delegated run: the cycler runs the protocol's step file; the bench polls, logs and supervises.

Sequence: download the step file, set the chamber for the first step if it is a soak, start the
test under a ``test_id``; then every sampling period poll the channel's ``status()`` and
``latest()`` record. Records the poll did not see (a step change between two polls, a poll that
came late, a link that dropped for a while) are fetched with ``records_since`` so every record
the cycler logged goes through :class:`bench.delegated.tracker.StepTracker` (run file rows, steps,
cycles) and the safety supervisor, in order.

Endings:

* the cycler finished its step file: the last records, the last step and cycle; completed (the
  claims then decide exit 0 or 1);
* a supervisor trip: the safe-state sequence (:mod:`bench.safety.safe_state`) through
  :class:`ChannelAsCycler`: ``stop`` sent and the channel's state read back until it is stopped
  (bounded retry), then the chamber to a setpoint that never heats; exit 3, or exit 4 if the
  stop was never confirmed;
* the cycler's own alarm: its words in the ``cycler_alarm`` event, the safe state; exit 3;
* the link fails for longer than :data:`LINK_GRACE_S` (or the channel stops or goes idle at the
  cycler): the safe state; exit 4. A link that comes back within the grace is ridden through
  and the records missed are backfilled (supervised late, but supervised).

The run file's journal carries the runner's state (``execution``, ``test_id``, the last record's
test time, the cycler step) so ``bench resume`` can reattach to the running test. The watchdog
thread of live runs is not started: it would stop the channel from a second thread on the same
link; while a poll hangs, the cycler's own limits (written into the step file) hold.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from bench.delegated.cycler import ACTIVE_STATES, ChannelAsCycler
from bench.delegated.observation import observe_after_the_test, observe_after_the_trip
from bench.delegated.tracker import StepTracker
from bench.engine.operator_control import OperatorControl
from bench.engine.results import Progress, RunResult, RunStatus
from bench.instruments import Bench
from bench.runfile.writer import RunFileWriteError, RunWriter
from bench.safety.safe_state import SafeStateReport, enter_safe_state
from bench.safety.supervisor import Supervisor, Trip
from drivers.delegated.channel import ChannelSample, ChannelStatus, DelegatedChannel
from drivers.delegated.program import DelegatedProgram
from drivers.errors import InstrumentError
from protocols.steps import Protocol

logger = logging.getLogger(__name__)

#: A link that fails this long (bench seconds) ends the run (exit 4); shorter drops are ridden
#: through and backfilled. Also the longest the stop of a trip is retried before exit 4.
LINK_GRACE_S = 60.0
#: A record this many record periods after the previous one means the poll missed records.
BACKFILL_GAP_PERIODS = 1.5
class DelegatedRunner:
    """Runs ``program`` (compiled from ``protocol``, written as ``step_file``) on ``bench``'s
    delegated cycler channel, writing to ``writer``. ``test_id`` names the test on the cycler."""

    def __init__(self, protocol: Protocol, program: DelegatedProgram, step_file: bytes, bench: Bench,
                 writer: RunWriter, *, test_id: str, supervisor: Supervisor | None = None,
                 progress: Callable[[Progress], None] | None = None, progress_every: int = 200,
                 first_step_number: int = 1, control: OperatorControl | None = None, signals: bool = True,
                 observe_s: float = 3600.0) -> None:
        self.protocol = protocol
        self.program = program
        self.step_file = step_file
        self.bench = bench
        cycler: Any = bench.cycler
        self.channel: DelegatedChannel = cycler.channel if isinstance(cycler, ChannelAsCycler) else cycler
        if not isinstance(cycler, ChannelAsCycler):
            bench.cycler = ChannelAsCycler(self.channel)
        self.writer = writer
        self.test_id = test_id
        self.supervisor = supervisor or Supervisor.for_protocol(protocol)
        self.progress = progress
        self.progress_every = progress_every
        self.unix0 = time.time()
        self.tracker = StepTracker(protocol, program, writer, self.supervisor, unix0=self.unix0,
                                   on_step=self._on_step, first_step_number=first_step_number)
        self.state = "preparing"
        #: SIGTERM (``request_abort``) stops the channel at the next poll (exit 130); a pause
        #: request is not passed on (the channel interface has no pause): it is logged.
        self.control = control or OperatorControl()
        self.signals = signals
        #: Observation window after a trip, s of bench time (``bench run --observe``).
        self.observe_s = observe_s
        self._progress = Progress(step_total=protocol.step_total())
        #: Called once before the step file is started (a multi-channel start gate, as for the
        #: live engine: bench.multichannel.run), None: nothing to wait for.
        self.before_sampling: Callable[[], None] | None = None

    # -- public ----------------------------------------------------------------------------------
    def run(self) -> RunResult:
        """Run to the end (see the module doc); never raises for trips or instrument failures."""
        wall0 = time.perf_counter()
        self.writer.journal_source = self._journal
        restore_signals = self.control.install_signal_handlers() if self.signals else None
        try:
            if self.before_sampling is not None:
                self.before_sampling()
            self._start()
            return self._poll(wall0)
        except InstrumentError as exc:
            logger.error("instrument failure: %s", exc)
            report = self._safe_state(self.now())
            self.writer.event(self.now(), "safe_state", self.tracker.step_count, f"instrument failure: {exc}",
                              {"output_off_confirmed": report.output_off_confirmed, "failures": report.failures})
            self.tracker.finish("instrument_failure", self.now())
            return self._result(RunStatus.INSTRUMENT_FAILURE, str(exc), wall0)
        except RunFileWriteError as exc:
            logger.error("run file write failure: %s", exc)
            report = self._safe_state(self.now())
            confirmed = "confirmed" if report.output_off_confirmed else "NOT confirmed"
            return self._result(RunStatus.WRITE_FAILURE, f"{exc}; channel stop {confirmed}", wall0)
        except KeyboardInterrupt:
            logger.warning("operator abort: stopping the channel")
            report = self._safe_state(self.now())
            self.writer.event(self.now(), "safe_state", self.tracker.step_count, "operator abort",
                              {"output_off_confirmed": report.output_off_confirmed, "failures": report.failures})
            self.tracker.finish("aborted", self.now())
            return self._result(RunStatus.ABORTED, "aborted by the operator", wall0)
        finally:
            self.state = "finished"
            if restore_signals is not None:
                restore_signals()
            try:
                self.writer.flush()
            except RunFileWriteError:
                logger.error("the run file could not be flushed at the end of the run")

    def now(self) -> float:
        """Test time now, s: the cycler's clock of the last record (0 before the first)."""
        last = self.tracker.last_record
        return last.test_time_s if last is not None else 0.0

    # -- start -------------------------------------------------------------------------------------
    def _start(self) -> None:
        first = self.program.steps[0] if self.program.steps else None
        self.writer.event(0.0, "run_start", 0, f"protocol {self.protocol.name} started (delegated: the cycler "
                                              f"runs its {self.channel.step_format} step file)")
        if self.bench.thermometer is not None:  # the cell's temperature is the bench's to read
            self.bench.thermometer.configure(self.bench.thermometer_channels)
        # named after the test: channels of one cycler PC never overwrite each other's file
        self.channel.download(self.step_file, self.test_id)
        if first is not None and first.chamber_setpoint_c is not None:
            self._set_chamber(first.chamber_setpoint_c)
        self.channel.start(self.test_id)
        self.state = "running"
        self.writer.event(0.0, "delegated_start", 0, f"test {self.test_id} started on the cycler", {
            "test_id": self.test_id, "step_format": self.channel.step_format, "steps": len(self.program.steps)})

    # -- polling ----------------------------------------------------------------------------------
    def _poll(self, wall0: float) -> RunResult:
        clock = self.bench.clock
        tracker = self.tracker
        deadline = clock.now_s()
        link_lost_at: float | None = None
        while True:
            deadline += self._period()
            wait = deadline - clock.now_s()
            if wait > 0:
                clock.sleep(wait)
            elif wait < -self._period():
                deadline = clock.now_s()  # fell behind: poll now, the backfill fills the gap
            try:
                status, latest = self._read()
                # the records since the last one (a link that fails during the backfill is ridden
                # through like one that fails during the poll: the next backfill starts from the
                # last record fed)
                trip = self._take(latest, status.state in ("finished", "alarm"))
            except InstrumentError as exc:
                lost = link_lost_at if link_lost_at is not None else clock.now_s()
                if link_lost_at is None:
                    logger.warning("cycler link: %s (riding through for up to %.0f s)", exc, LINK_GRACE_S)
                link_lost_at = lost
                if clock.now_s() - lost < LINK_GRACE_S:
                    hot = self._too_hot_without_link(lost)
                    if hot is not None:
                        return self._trip(hot, wall0)
                    continue
                raise InstrumentError(f"cycler link lost for {clock.now_s() - lost:.0f} s: {exc}") from None
            if link_lost_at is not None:
                self.writer.event(self.now(), "link_restored", tracker.step_count,
                                  f"cycler link back after {clock.now_s() - link_lost_at:.0f} s; missed records backfilled")
                link_lost_at = None
            if trip is not None:
                return self._trip(trip, wall0)
            if status.state == "alarm":
                return self._cycler_alarm(status, wall0)
            if status.state == "finished":
                tracker.finish("complete", self.now())
                self.writer.event(self.now(), "delegated_finished", tracker.step_count,
                                  f"the cycler finished test {self.test_id}")
                self.state = "observing"
                trip = observe_after_the_test(self)  # the last cycle judged as after a live run
                if trip is not None:
                    return self._trip(trip, wall0)
                return self._result(RunStatus.COMPLETED, "protocol completed on the cycler", wall0)
            if status.state not in ACTIVE_STATES and tracker.last_record is not None:
                return self._channel_lost(status, wall0)
            if status.test_id and status.test_id != self.test_id:  # someone started another test on it
                return self._channel_lost(status, wall0)
            if self.control.pending:
                self.control.pending = False
                if self.control.abort_wanted:
                    raise KeyboardInterrupt  # the operator abort path: stop the channel, exit 130
                logger.warning("pause requested: a delegated test is paused at the cycler, not from the bench")
            self.writer.flush_if_due()

    def _read(self) -> tuple[ChannelStatus, ChannelSample]:
        """The channel's state and latest reading: one ``poll()`` where the driver offers it (one
        query answers both, e.g. Neware ``inquire``), else ``status()`` then ``latest()``."""
        poll = getattr(self.channel, "poll", None)
        if poll is not None:
            status, latest = poll()
            return status, latest
        return self.channel.status(), self.channel.latest()

    def _take(self, latest: ChannelSample, final: bool) -> Trip | None:
        """Feed the records since the last one (backfilled when the poll missed some), then
        ``latest``; the first trip stops feeding."""
        records = [latest]
        last = self.tracker.last_record
        since = last.test_time_s if last is not None else -1.0  # the first record is at 0 s
        if final:  # the test is over: its stored records are the test (a reading now is after it)
            records = self.channel.records_since(since) or [latest]
        elif self._missed(last, latest):
            # a stored record at the latest's instant is the end of the previous step: it goes first
            records = [r for r in self.channel.records_since(since) if r.test_time_s <= latest.test_time_s] + [latest]
        t_cell, t_air = self._temperatures_c()
        for record in records:
            fed = self.tracker.feed(record, t_cell, t_air)
            if fed is None:
                continue
            sample, trip = fed
            if self.progress is not None and self.tracker.samples % self.progress_every == 0:
                p = self._progress
                p.test_time_s, p.voltage_v, p.current_a = sample.time_s, sample.voltage_v, sample.current_a
                p.step_number, p.cycle = sample.step_count, sample.cycle
                self.progress(p)
            if trip is not None:
                return trip
        return None

    def _missed(self, last: ChannelSample | None, latest: ChannelSample) -> bool:
        if last is None:
            return latest.test_time_s > BACKFILL_GAP_PERIODS * self._period()
        if latest.test_time_s <= last.test_time_s:
            return False
        return (latest.step_index != last.step_index or latest.cycle_index != last.cycle_index
                or latest.test_time_s - last.test_time_s > BACKFILL_GAP_PERIODS * self._period())

    def _period(self) -> float:
        """The present step's sampling period (the step file's record period), s."""
        planned = self.tracker.planned
        step = planned.step if planned is not None else None
        return float((step.period_s if step is not None else None) or self.protocol.period_s)

    def _temperatures_c(self) -> tuple[float, float]:
        """(cell, chamber air) from the bench's thermometer, °C (NaN without one): the cell's for
        records that carry no temperature of their own (a cycler without an auxiliary probe)."""
        thermometer = self.bench.thermometer
        if thermometer is None:
            return math.nan, math.nan
        temps = thermometer.read_c()
        return float(temps[0]), (float(temps[1]) if len(temps) > 1 else math.nan)

    def _too_hot_without_link(self, lost_clock_s: float) -> Trip | None:
        """While the cycler's link is down the bench still reads its own thermometer each period:
        a cell above the protocol's temperature limit trips (the cycler's own V / I limits hold,
        the bench can still put the chamber safe). None while the cell is within it."""
        if self.bench.thermometer is None:
            return None
        try:
            t_cell, _t_air = self._temperatures_c()
        except InstrumentError as exc:
            logger.error("thermometer during the cycler link loss: %s", exc)
            return None
        limit = self.protocol.limits.temperature_max_c
        if not t_cell > limit:
            return None
        time_s = self.now() + (self.bench.clock.now_s() - lost_clock_s)
        return Trip("temperature_limit", time_s, f"cell {t_cell:.1f} °C above {limit:g} °C while the cycler link "
                                                "is down", {"temperature_cell_c": t_cell, "limit": limit})

    def _on_step(self, cycler_index: int) -> None:
        """A protocol step starts on the cycler: a soak's chamber setpoint is the bench's to set."""
        setpoint = self.program.steps[cycler_index].chamber_setpoint_c
        if setpoint is not None and setpoint != self.tracker.chamber_setpoint_c:
            self._set_chamber(setpoint)

    def _set_chamber(self, setpoint_c: float) -> None:
        chamber = self.bench.chamber
        self.tracker.chamber_setpoint_c = setpoint_c
        if chamber is None:
            logger.warning("soak at %g °C: the bench has no chamber; the cell stays at room temperature", setpoint_c)
            return
        chamber.set_setpoint_c(setpoint_c)
        chamber.start()

    # -- endings ---------------------------------------------------------------------------------
    def _safe_state(self, fault_time_s: float) -> SafeStateReport:
        """Stop the channel and confirm it stopped (bounded retry), then the chamber."""
        return enter_safe_state(self.bench, fault_time_s=fault_time_s, t0_clock_s=self.bench.clock.now_s() - self.now(),
                                chamber_setpoint_c=self.tracker.chamber_setpoint_c, output_off_deadline_s=LINK_GRACE_S)

    def _trip(self, trip: Trip, wall0: float) -> RunResult:
        logger.error("SAFETY TRIP %s at %.1f s: %s", trip.rule, trip.time_s, trip.message)
        report = self._safe_state(trip.time_s)
        self.writer.event(trip.time_s, "safety_trip", self.tracker.step_count, trip.message, {
            "rule": trip.rule, "values": trip.values, "latency_s": report.latency_clock_s,
            "latency_wall_s": report.latency_wall_s, "output_off_confirmed": report.output_off_confirmed,
            "chamber_setpoint_c": report.chamber_setpoint_c, "failures": report.failures,
            "safe_state_time_s": self.now(), "alarm_latched": True, "execution": "delegated"})
        self.tracker.finish("safety_trip", trip.time_s)
        if report.output_off_confirmed:
            self.state = "observing"
            observe_after_the_trip(self)
        if not report.output_off_confirmed:
            return self._result(RunStatus.INSTRUMENT_FAILURE,
                                f"safety trip {trip.rule} ({trip.message}); the cycler channel did NOT confirm it "
                                f"stopped after {report.output_off_attempts} attempts: stop it at the cycler", wall0, trip)
        return self._result(RunStatus.SAFETY_TRIP, trip.message, wall0, trip)

    def _cycler_alarm(self, status: ChannelStatus, wall0: float) -> RunResult:
        words = status.detail or "alarm (no detail given)"
        logger.error("cycler alarm on test %s: %s", self.test_id, words)
        trip = Trip("cycler_alarm", self.now(), f"cycler alarm: {words}", {})
        return self._trip(trip, wall0)

    def _channel_lost(self, status: ChannelStatus, wall0: float) -> RunResult:
        message = f"the cycler channel is {status.state} while test {self.test_id} should run"
        if status.detail:
            message += f": {status.detail}"
        if status.test_id and status.test_id != self.test_id:
            # another test was started at the cycler: it is not the bench's to stop
            message = (f"the cycler channel runs test {status.test_id!r}, not {self.test_id!r} (started at the "
                       "cycler): left running, the bench no longer supervises it")
            logger.error("%s", message)
            self.writer.event(self.now(), "channel_taken", self.tracker.step_count, message,
                              {"test_id": status.test_id})
            self.tracker.finish("instrument_failure", self.now())
            return self._result(RunStatus.INSTRUMENT_FAILURE, message, wall0)
        logger.error("%s", message)
        report = self._safe_state(self.now())
        self.writer.event(self.now(), "safe_state", self.tracker.step_count, message,
                          {"output_off_confirmed": report.output_off_confirmed, "failures": report.failures})
        self.tracker.finish("instrument_failure", self.now())
        return self._result(RunStatus.INSTRUMENT_FAILURE, message, wall0)

    def _result(self, status: RunStatus, message: str, wall0: float, trip: Trip | None = None) -> RunResult:
        return RunResult(status, message, trip, self.tracker.samples, self.now(), time.perf_counter() - wall0)

    def _journal(self) -> tuple[float, dict[str, Any]]:
        """The journal row: what ``bench resume`` needs to reattach to the test and backfill."""
        tracker = self.tracker
        last = tracker.last_record
        planned = tracker.planned
        return self.now(), {
            "execution": "delegated", "test_id": self.test_id, "state": self.state,
            "last_test_time_s": last.test_time_s if last is not None else None,
            "cycler_step": last.step_index if last is not None else None,
            "cycler_cycle": last.cycle_index if last is not None else None,
            "step_count": tracker.step_count, "protocol_step": planned.step.index if planned is not None else None,
            "counters": tracker.counters.to_json(),
            "step": tracker.state.to_json() if tracker.state is not None else None,
            "plan": tracker.ctx.snapshot(), "unix0": self.unix0,
            "chamber_setpoint_c": tracker.chamber_setpoint_c,
        }
