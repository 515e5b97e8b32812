"""The protocol engine: runs steps against the bench's roles on its clock, sample by sample.

One direction per sample: acquire (drivers over the wire) -> supervisor (may trip: safe state)
-> counters -> end conditions (may end the step) -> run file. The engine knows roles, not
instruments, and a clock, not whether time is real or virtual.

The engine walks the protocol's plan (:mod:`protocols.plan`): steps of the YAML tree in
depth-first order with loop conditions evaluated on measured values, or the steps a Python
protocol yields. ``Step Index`` in the run file is the step's depth-first number in the protocol
(the same for every repetition), ``Step Count`` counts executed steps, ``Cycle Count`` follows the
plan's cycle rule; each finished cycle is a row of ``/cycles``.

Journal: every flush of the run file carries a journal row (bench.runfile.writer) with the plan
position (finished steps), loop counters and variables, the cycle's Ah/Wh, the SOC estimate, the
chamber setpoint, the step in progress with its counters, and on the simulated bench the world's
physical state. ``bench resume`` (bench/engine/resume.py) replays the finished steps into a fresh plan,
restores the rest and continues the interrupted step with its counters.

Operator: pause / resume / abort through :class:`bench.engine.operator_control.OperatorControl`.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable

from bench.capabilities import limits_of_bench
from bench.engine.adaptive import planner_for
from bench.engine.chamber_ramp import SetpointRamp
from bench.engine.counters import _Counters, _StepState, integrate
from bench.engine.crossing import step_crossing
from bench.engine.end_conditions import (
    DTDT_WINDOW_S,
    VOLTAGE_TOLERANCE_V,
    end_reason,
)
from bench.engine.final_watch import final_observation
from bench.engine.operator_control import OperatorControl
from bench.engine.recording import recorder_for
from bench.engine.results import Progress, RunResult, RunStatus
from bench.engine.resume_point import Journal, ResumePoint
from bench.engine.run_phase import RunPhase, RunStateMachine
from bench.engine.setpoints import Setpoints
from bench.engine.step_end import record_soak_band, soc_anchor
from bench.engine.step_kinds import StepKinds
from bench.engine.trips import TripHandler, step_limit_trip
from bench.instruments import Bench
from bench.runfile.writer import RunFileWriteError, RunWriter
from bench.safety.abuse import AbuseTest
from bench.safety.supervisor import Supervisor, Trip
from bench.safety.watchdog import start_watchdog
from bench.sample import Sample, new_sample
from drivers.errors import InstrumentError
from drivers.roles import ProtectionLimits
from protocols.checks import InstrumentLimits
from protocols.errors import ProtocolError
from protocols.plan import PlanContext, PlannedStep, StepResult
from protocols.planning import make_plan
from protocols.steps import Protocol, Step

logger = logging.getLogger(__name__)

__all__ = ["DTDT_WINDOW_S", "VOLTAGE_TOLERANCE_V", "Engine", "Progress", "ResumePoint", "RunResult", "RunStatus"]


#: Bench-clock time between applying a step's setpoints and its first sample when no time has
#: passed since the previous sample (virtual time), s: every /samples row has its own Test Time.
FIRST_SAMPLE_DELAY_S = 0.001


#: A step handler: runs one planned step (``restored``: its state from the journal when resuming).
StepHandler = Callable[[PlannedStep, "_StepState | None"], "StepResult | Trip"]


class Engine:
    """Runs ``protocol`` on ``bench``, writing to ``writer``.

    Composed of collaborators it owns, none of which imports the engine (they see it through
    :class:`bench.engine.services.EngineServices`): :class:`StepKinds` (pulses, EIS, operator
    pause), :class:`TripHandler` (safe state, observation window) and :class:`Journal` (resume).
    Step kinds are dispatched through ``step_handlers`` (kind -> handler; the rest run as
    setpoint steps) and the run's phase is an explicit state machine (``run_state``,
    :mod:`bench.engine.run_phase`).
    """

    def __init__(
        self,
        protocol: Protocol,
        bench: Bench,
        writer: RunWriter,
        *,
        supervisor: Supervisor | None = None,
        observe_s: float = 3600.0,
        progress: Callable[[Progress], None] | None = None,
        progress_every: int = 200,
        control: OperatorControl | None = None,
        instrument: InstrumentLimits | None = None,
        resume: ResumePoint | None = None,
        signals: bool = True,
        adaptive: bool = False,
    ) -> None:
        self.protocol = protocol
        self.bench = bench
        self.writer = writer
        self.supervisor = supervisor or Supervisor.for_protocol(protocol)
        speed = getattr(bench.clock, "speed", None)
        if speed is not None and speed > 1.0 and getattr(self.supervisor, "context", None) is not None:
            self.supervisor.context.min_gap_s = 2.0 * float(speed)
        #: The abuse test (nail penetration...) of the protocol, None for an ordinary protocol.
        self.abuse = AbuseTest.for_protocol(protocol, bench, writer, self.supervisor)
        self.observe_s = observe_s
        #: Adaptive acquisition in virtual time (bench/engine/adaptive.py), None: every period.
        self.stride = planner_for(protocol, bench, self.supervisor) if adaptive else None
        self.progress = progress
        self.progress_every = progress_every
        self.control = control or OperatorControl()
        #: Install SIGUSR1 (pause/resume) and SIGTERM (abort) handlers while running (main thread only).
        self.signals = signals
        self.instrument = instrument if instrument is not None else limits_of_bench(bench)
        self.resume = resume
        #: Called once the bench is prepared and the plan made, before the watchdog and the first sample.
        self.before_sampling: Callable[[], None] | None = None
        self.counters = _Counters(soc=protocol.cell.initial_soc)
        self.chamber_setpoint_c: float | None = None
        self._ramp: SetpointRamp | None = None
        #: Highest chamber setpoint after a trip during an abuse test (None: no cap), °C.
        self.chamber_cap_c: float | None = None
        self.step_count = 0
        self.samples = 0
        self.steps_done = 0
        self.spectra = 0
        self.t0 = bench.clock.now_s() - (resume.test_time_s if resume else 0.0)
        self.unix0 = resume.unix0 if resume else time.time()
        self.output_on = False
        self.last: Sample | None = None
        self.active: tuple[PlannedStep, _StepState] | None = None
        self.plan_ctx: PlanContext | None = None
        self._progress = Progress(step_total=protocol.step_total())
        self._capacity_ah = protocol.cell.capacity_ah
        #: The run file row of the latest sample (built by acquire).
        self._row: tuple = ()
        self.run_state = RunStateMachine()
        self._kinds = StepKinds(self)
        self._trips = TripHandler(self)
        self._journal = Journal(self, resume)
        #: Record by change (``sampling: record_when:``, bench/engine/recording.py); None: every sample.
        self.recorder = recorder_for(protocol.record_when, writer, protocol.cell.capacity_ah)
        #: Step kind -> handler; kinds not listed run as setpoint steps (:meth:`_run_setpoint_step`).
        self.step_handlers: dict[str, StepHandler] = {"eis": self._kinds.run_eis}
        self._setpoints = Setpoints(self)
        #: Step kind -> what sets the cycler's setpoint; kinds not listed turn the output off.
        self._setpoint_appliers: dict[str, Callable[[Step], None]] = {
            **self._setpoints.appliers(), "replay": self._kinds.start_replay}

    # -- public ------------------------------------------------------------------------------
    def run(self) -> RunResult:
        """Execute the protocol; never raises for instrument failures or trips (see status).

        Raises ProtocolError (after making the bench safe) when a protocol fails at run time
        (a Python protocol's exception, a resumed run whose protocol does not replay).
        """
        wall0 = time.perf_counter()
        watchdog = None
        self.writer.journal_source = self._journal.state
        restore_signals = self.control.install_signal_handlers() if self.signals else None
        try:
            self.run_state.to(RunPhase.PREPARING, self.now())
            self._prepare()
            plan, self.plan_ctx = make_plan(self.protocol, instrument=self.instrument)
            planned, restored = self._journal.start_plan(plan)
            if self.before_sampling is not None:  # e.g. a multi-channel start gate (bench.multichannel.run)
                self.before_sampling()
            watchdog = start_watchdog(self.supervisor, self.bench, self.protocol, self.now)
            self.run_state.to(RunPhase.RUNNING, self.now())
            while planned is not None:
                if planned.cycle != self.counters.cycle:
                    self._next_cycle(planned.cycle)
                step = planned.step
                if self.abuse is not None:
                    self.abuse.before_step(step.index, step, self.now())
                outcome = self._run_step(planned, restored)
                restored = None
                if isinstance(outcome, Trip):
                    result = self._finish_trip(outcome, wall0)
                    self._close_cycle("safety_trip")
                    return result
                try:
                    planned = plan.send(outcome)
                except StopIteration:
                    planned = None
                self.writer.flush_if_due()  # short steps are written in batches (memory flat in steps)
            trip = final_observation(self)
            if trip is not None:
                result = self._finish_trip(trip, wall0)
                self._close_cycle("safety_trip")
                return result
            self.stop_output()
            self._close_cycle("complete")
            return self._result(RunStatus.COMPLETED, "protocol completed", wall0)
        except ProtocolError as exc:
            logger.error("protocol error: %s", exc)
            self._enter(RunPhase.FAILED)
            self._trips.emergency_safe(f"protocol error: {exc}")
            self._kinds.abandon_step("protocol error")
            self._close_cycle("protocol_error")
            raise
        except InstrumentError as exc:
            pending = self.supervisor.pending_trip()
            if pending is not None:  # the watchdog fired while this call hung: a safety trip
                logger.error("instrument failure after the watchdog trip: %s", exc)
                result = self._finish_trip(pending, wall0)
                self._close_cycle("safety_trip")
                return result
            logger.error("instrument failure: %s", exc)
            self._enter(RunPhase.FAILED)
            self._trips.emergency_safe(f"instrument failure: {exc}")
            self._kinds.abandon_step("instrument failure")
            self._close_cycle("instrument_failure")
            return self._result(RunStatus.INSTRUMENT_FAILURE, str(exc), wall0)
        except RunFileWriteError as exc:  # the record cannot be kept: stop with the output off
            logger.error("run file write failure: %s", exc)
            self._enter(RunPhase.FAILED)
            safe = self._trips.emergency_safe(f"run file write failure: {exc}")
            self._kinds.abandon_step("run file write failure")
            confirmed = "confirmed" if safe.output_off_confirmed else "NOT confirmed"
            return self._result(RunStatus.WRITE_FAILURE, f"{exc}; output off {confirmed}", wall0)
        except KeyboardInterrupt:
            logger.warning("operator abort: output off")
            self._enter(RunPhase.ABORTING)
            self._trips.emergency_safe("operator abort")
            self._kinds.abandon_step("operator abort")
            self._close_cycle("aborted")
            return self._result(RunStatus.ABORTED, "aborted by the operator", wall0)
        finally:
            self._enter(RunPhase.FINISHED)
            if watchdog is not None:
                watchdog.stop()
            if restore_signals is not None:
                restore_signals()
            try:
                self.writer.flush()
            except RunFileWriteError:  # recorded by the writer (``failed``); the runner reports it
                self.stop_output()

    def _enter(self, phase: RunPhase) -> None:
        """Move the run state to ``phase`` on an ending path: never raises (the bench must still
        be made safe); an ending the table does not foresee is logged."""
        if self.run_state.can(phase):
            self.run_state.to(phase, self.now())
        else:
            logger.warning("run state %s -> %s not in the table", self.run_state.phase.value, phase.value)

    # -- setup -------------------------------------------------------------------------------
    def _prepare(self) -> None:
        """Tier-1 safety: instrument-side protection from the protocol limits, output off."""
        limits = self.protocol.limits
        cycler = self.bench.cycler
        configure = getattr(cycler, "configure", None)
        if configure is not None:
            configure()
        cycler.output_off()
        cycler.configure_protection(ProtectionLimits(
            voltage_max_v=limits.voltage_max_v, voltage_min_v=limits.voltage_min_v,
            current_max_a=limits.current_max_a))
        if self.bench.thermometer is not None:
            self.bench.thermometer.configure(self.bench.thermometer_channels)
        if self.resume is None:
            self.writer.event(self.now(), "run_start", 0, f"protocol {self.protocol.name} started")

    # -- cycles --------------------------------------------------------------------------------
    def _next_cycle(self, cycle: int) -> None:
        if self.counters.cycle > 0:
            self._close_cycle("complete")
        self.counters.new_cycle(cycle, self.now(), self.step_count + 1)

    def _close_cycle(self, status: str) -> None:
        """Write the present cycle's ``/cycles`` row (once)."""
        counters = self.counters
        if counters.cycle <= 0 or counters.cycle_steps == 0:
            return
        try:
            self.writer.append("cycles", counters.cycle_row(self.now(), status), flush=False)
        except Exception:  # noqa: BLE001 - the file may be the thing that failed
            logger.exception("could not record the cycle summary")
        counters.cycle_steps = 0

    # -- one step ----------------------------------------------------------------------------
    def _run_step(self, planned: PlannedStep, restored: _StepState | None = None) -> StepResult | Trip:
        step = planned.step
        if restored is None:
            self.step_count += 1
            self.counters.cycle_steps += 1
        handler = self.step_handlers.get(step.kind)
        if handler is not None:
            return handler(planned, restored)
        return self._run_setpoint_step(planned, restored)

    def _run_setpoint_step(self, planned: PlannedStep, restored: _StepState | None) -> StepResult | Trip:
        """A step that holds setpoints (CC, CV, CP, pulses, replays, rest, soak), sampled every period."""
        step = planned.step
        index = step.index
        clock = self.bench.clock
        self.apply(step)
        period = step.period_s or self.protocol.period_s
        state = restored or _StepState(start_s=self.now())
        self.active = (planned, state)
        self.supervisor.begin_step(step if step.pulse is None else self._kinds.pulse_phase(step, True), state.start_s)
        kind = "step_start" if restored is None else "step_continued"
        self.writer.event(self.now(), kind, self.step_count, step.text, {"step_index": index, "cycle": planned.cycle})
        progress = self._progress
        progress.step_text, progress.step_number, progress.cycle = step.text, self.step_count, self.counters.cycle
        step_checks = step.limits.checks() if step.limits is not None else ()
        shaper = self._kinds.shaper(step)  # pulses and replays change the setpoint within the step
        control = self.control
        if restored is None and self.last is not None and self.now() <= self.last.time_s:
            # In virtual time the setpoint commands take no time: the first row of a step would
            # share the last row's Test Time. It is taken FIRST_SAMPLE_DELAY_S later instead.
            clock.sleep(FIRST_SAMPLE_DELAY_S)
        deadline = clock.now_s()
        if restored is not None:  # the journal's last sample is in the file: sample one period on
            self._kinds.remeasure(self.last)  # integrate from the re-applied setpoint, not the journaled one
            deadline += period
            clock.sleep(deadline - clock.now_s())
        # Bound once per step: this loop runs for every sample.
        acquire, check, append_row = self.acquire, self.supervisor.check, (
            self.writer.append_sample_row if self.recorder is None else self.recorder.offer)
        constant_power = shaper is None and step.kind == "cp" and step.power_w is not None
        stride = self.stride
        if stride is not None:
            stride.begin(step, period, shaper is not None or constant_power or self._ramp is not None)
        while True:
            sample = acquire(index, step, state)
            trip = check(sample)
            if step_checks and trip is None:
                trip = step_limit_trip(self.supervisor, step_checks, sample)
            append_row(self._row)
            if trip is not None:
                if self.recorder is not None:
                    self.recorder.keep()  # the trip's sample and the ones before it
                if self.abuse is not None and self.abuse.active:
                    # abuse test: safe state, keep observing as the protocol says; the chamber stays
                    # where the safe state put it (a hot box stops heating once runaway is confirmed)
                    self._ramp = None
                    self.chamber_cap_c = self._trips.record_trip(trip).chamber_setpoint_c
                    if self.chamber_cap_c is not None:
                        self.chamber_setpoint_c = self.chamber_cap_c
                else:
                    self.end_step(planned, state, sample, f"safety trip: {trip.rule}")
                    return trip
            if control.pending:
                trip = self._kinds.operator(step, state, period)
                if trip is not None:
                    self.end_step(planned, state, sample, f"safety trip: {trip.rule}")
                    return trip
            if shaper is not None:
                shaper.update(state, sample)
            elif constant_power:
                self._setpoints.update_power(step, sample)
            elif self._ramp is not None:
                self._ramp.update(sample.time_s)
            reason = end_reason(step, sample, state, self.chamber_setpoint_c)
            if reason:
                return self.end_step(planned, state, sample, reason)
            deadline += period if stride is None else stride.next_s(sample, state, self.chamber_setpoint_c)
            if shaper is not None:
                deadline = shaper.deadline(state, deadline)
            clock.sleep(deadline - clock.now_s())

    def apply(self, step: Step) -> None:
        """Apply a step's setpoints: the cycler's through the setpoint table (kind -> applier;
        other kinds turn the output off), then the chamber's for a soak."""
        applier = self._setpoint_appliers.get(step.kind)
        if applier is not None:
            applier(step)
            self.start_output()
        else:
            self.stop_output()
        self._ramp = None
        chamber = self.bench.chamber
        if step.kind == "soak" and chamber is not None and step.temperature_c is not None:
            target_c, ramp = step.temperature_c, step.ramp_k_per_s
            if self.chamber_cap_c is not None and target_c > self.chamber_cap_c:
                target_c, ramp = self.chamber_cap_c, None  # after an abuse-test trip: never heat again
            if ramp:
                start_c = self.chamber_setpoint_c if self.chamber_setpoint_c is not None else chamber.read_air_c()
                self._ramp = SetpointRamp(chamber, start_c, target_c, ramp, self.now())
            else:
                chamber.set_setpoint_c(target_c)
            chamber.start()
            self.chamber_setpoint_c = target_c  # end conditions compare with the final setpoint

    def start_output(self) -> None:
        if self.supervisor.latched:
            raise InstrumentError("output on refused: safety alarm latched (operator reset needed)")
        if not self.output_on:
            self.bench.cycler.output_on()
            self.output_on = True

    def stop_output(self) -> None:
        if self.output_on:
            self.bench.cycler.output_off()
            self.output_on = False

    # -- per sample --------------------------------------------------------------------------
    def now(self) -> float:
        return self.bench.clock.now_s() - self.t0

    #: The step whose dT/dt need was last looked up, and whether it needs the dT/dt window
    #: (only a ``dtdt_k_per_s`` end condition reads ``state.temps``; other steps skip it).
    _dtdt_step: Step | None = None
    _dtdt_needed: bool = False

    def acquire(self, index: int, step: Step, state: _StepState) -> Sample:
        """Read the instruments once, update the counters; returns the sample and leaves its run
        file row in ``self._row`` (built here from locals: this runs for every sample)."""
        bench = self.bench
        voltage, current = bench.cycler.measure()
        t_cell = t_air = math.nan
        thermometer = bench.thermometer
        if thermometer is not None:
            temps = thermometer.read_c()
            t_cell = temps[0]
            if len(temps) > 1:
                t_air = temps[1]
        now = bench.clock.now_s() - self.t0
        if step is not self._dtdt_step:
            self._dtdt_step = step
            self._dtdt_needed = any(c.quantity == "dtdt_k_per_s" for c in step.until)
        counters = self.counters
        last = self.last
        if last is not None:
            integrate(counters, state, last.time_s, last.voltage_v, last.current_a, now, voltage, current,
                      self._capacity_ah)
        if state.voltage_start_v != state.voltage_start_v:
            state.voltage_start_v = voltage
        if t_cell == t_cell:
            if t_cell > state.t_max:
                state.t_max = t_cell
                if t_cell > counters.t_max:
                    counters.t_max = t_cell
            if t_cell < state.t_min:
                state.t_min = t_cell
            if self._dtdt_needed:
                window = state.temps
                window.append((now, t_cell))
                while window and now - window[0][0] > DTDT_WINDOW_S:
                    window.popleft()
        step_ah, charge_ah, discharge_ah = state.net_ah, counters.charge_ah, counters.discharge_ah
        charge_wh, discharge_wh, cycle, step_count = (counters.charge_wh, counters.discharge_wh, counters.cycle,
                                                      self.step_count)
        sample = new_sample(Sample, (now, voltage, current, t_cell, t_air, index, step_count, cycle,
                                     now - state.start_s - state.offset_s, step_ah, state.net_wh, charge_ah,
                                     discharge_ah, charge_wh, discharge_wh, counters.soc))
        # The /samples row (field order of SAMPLE_COLUMNS), as _log would build it from the sample.
        self._row = (now, self.unix0 + now, voltage, current, voltage * current, cycle, step_count, index,
                     step_ah, charge_ah, discharge_ah, charge_wh, discharge_wh, t_cell, t_air)
        self.last = sample
        self.samples += 1
        if self.progress is not None and self.samples % self.progress_every == 0:
            p = self._progress
            p.test_time_s, p.voltage_v, p.current_a = now, voltage, current
            self.progress(p)
        return sample

    def log_latest(self) -> None:
        """Append the run file row of the sample :meth:`_acquire` read last (``self._row``)."""
        if self.recorder is not None:
            self.recorder.keep()
        self.writer.append_sample_row(self._row)

    def end_step(self, planned: PlannedStep, state: _StepState, sample: Sample, reason: str,
                  extra: dict[str, float] | None = None) -> StepResult:
        """Record the finished step (row and event, flushed by the caller with the journal)."""
        if self.recorder is not None:  # the step's last samples are in the file (crossing, record)
            self.recorder.keep()
        step = planned.step
        ended_on = next((c for c in step.until if c.describe() == reason), None)
        anchor = soc_anchor(step, ended_on, self.protocol.cell)  # full charge / full discharge
        if anchor is not None:
            self.counters.soc = anchor
        self.active = None
        self.steps_done += 1
        crossing = step_crossing(step.kind, ended_on, self.writer.recent_samples, self.step_count)
        at = state if crossing is None else state.at_crossing(crossing.past_ah, crossing.past_wh)
        result = at.result(reason, sample.time_s, sample.voltage_v, sample.current_a, extra)
        self.writer.append("steps", (
            self.step_count, step.index, self.counters.cycle, step.kind, step.text, state.start_s, sample.time_s,
            reason, at.charge_ah, at.discharge_ah, at.charge_wh, at.discharge_wh,
            state.voltage_start_v, sample.voltage_v, sample.current_a, result.temperature_max_c,
            result.temperature_min_c, self.chamber_setpoint_c if self.chamber_setpoint_c is not None else math.nan,
            math.nan if crossing is None else crossing.time_s, 0.0 if crossing is None else crossing.past_ah,
            0.0 if crossing is None else crossing.past_wh,
        ), flush=False)
        data = {"step_index": step.index, "reason": reason, "cycle": planned.cycle}
        if extra:
            data["values"] = extra
        self.writer.append("events", (sample.time_s, "step_end", self.step_count, f"{step.text}: {reason}",
                                      json.dumps(data, default=float)), flush=False)
        record_soak_band(self.writer, step, sample, reason, self.chamber_setpoint_c, self.step_count)
        return result

    # -- endings -----------------------------------------------------------------------------
    def _finish_trip(self, trip: Trip, wall0: float) -> RunResult:
        self._enter(RunPhase.TRIPPED)
        self._trips.record_trip(trip)
        self.run_state.to(RunPhase.OBSERVING, self.now())
        self._trips.observe()
        return self._result(RunStatus.SAFETY_TRIP, trip.message, wall0, trip)

    def _result(self, status: RunStatus, message: str, wall0: float, trip: Trip | None = None) -> RunResult:
        return RunResult(status, message, trip, self.samples, self.now(), time.perf_counter() - wall0)
