"""Step kinds beyond a constant setpoint, and operator pauses: a collaborator of the engine.

* Pulse trains: the setpoint switches between the pulse current and the pause current at the
  phase boundaries, and a sample is scheduled on each boundary.
* EIS: the cycler output goes off, one sample, the sweep (bench.engine.eis_sweep.run_eis_step),
  one sample; the fit values (``r0_ohm``...) join the step's result.
* Operator pause (bench.engine.operator_control): output off, chamber held, sampling and
  supervision go on; on resume the step's setpoints are applied again and the paused time is not
  step time.

It works on the engine through :class:`bench.engine.services.EngineServices` and never imports
the engine.
"""

from __future__ import annotations

import dataclasses
import logging
import math

from bench.engine.counters import _StepState
from bench.engine.replay import ReplayFollower
from bench.engine.services import EngineServices
from bench.safety.supervisor import Trip
from bench.sample import Sample
from protocols.errors import ProtocolError
from protocols.plan import PlannedStep, StepResult
from protocols.steps import EisSpec, PulseSpec, Step

logger = logging.getLogger("bench.engine.core")


class StepKinds:
    """Pulse, EIS and operator-pause handling for one engine."""

    def __init__(self, engine: EngineServices) -> None:
        self._engine = engine
        #: Each pulse step's on / off phase as a constant-current step, by (id(step), on).
        self._pulse_phases: dict[tuple[int, bool], Step] = {}
        #: The Replay step's profile follower (the latest Replay step applied).
        self._replay: ReplayFollower | None = None
        self._announced: ReplayFollower | None = None

    # -- setpoints that change within a step -------------------------------------------------
    def shaper(self, step: Step) -> _PulseShaper | ReplayFollower | None:
        """What changes the setpoint within ``step`` at each sample and schedules samples on its
        breakpoints (``update(state, sample)``, ``deadline(state, deadline)``); None for a
        constant setpoint."""
        if step.pulse is not None:
            return _PulseShaper(self, step.pulse)
        if step.replay is not None:
            return self._follower(step)
        return None

    def start_replay(self, step: Step) -> None:
        """A Replay step's applier: the profile's first setpoint (the first time a step's profile
        is applied, a ``replay_profile`` event records how it is replayed)."""
        follower = self._follower(step)
        if follower is not self._announced:
            self._announced = follower
            engine = self._engine
            data = follower.conditions()
            engine.writer.event(engine.now(), "replay_profile", engine.step_count, str(data["profile"]),
                                {**data, "step_index": step.index})
        follower.start()

    def _follower(self, step: Step) -> ReplayFollower:
        follower = self._replay
        if follower is None or follower.spec is not step.replay:
            follower = self._replay = ReplayFollower(self._engine, step)
        return follower

    # -- pulses ------------------------------------------------------------------------------
    def update_pulse(self, pulse: PulseSpec, state: _StepState, sample: Sample) -> None:
        """Switch between the pulse and its pause at the phase boundaries."""
        phase = sample.step_time_s % pulse.period_s
        on = phase < pulse.on_s - 1e-9
        if on != state.pulse_on:
            engine = self._engine
            state.pulse_on = on
            step = self.pulse_phase(engine.active[0].step, on) if engine.active is not None else None
            engine.bench.cycler.set_current(pulse.current_a if on else pulse.off_current_a,
                                            engine.protocol.cell.voltage_max_v)
            self.remeasure(sample)
            if step is not None:  # a new setpoint: the supervisor's per-step rules start afresh
                engine.supervisor.begin_step(step, state.start_s)

    def pulse_phase(self, step: Step, on: bool) -> Step:
        """The pulse train's on or off phase as a constant-current step (for the supervisor)."""
        cached = self._pulse_phases.get((id(step), on))
        if cached is None:
            pulse = step.pulse
            assert pulse is not None
            cached = dataclasses.replace(step, kind="cc", current_a=pulse.current_a if on else pulse.off_current_a,
                                         pulse=None)
            self._pulse_phases = {(id(step), on): cached, **{k: v for k, v in self._pulse_phases.items()
                                                            if k[0] == id(step)}}
        return cached

    def pulse_deadline(self, pulse: PulseSpec, state: _StepState, deadline: float) -> float:
        """``deadline`` (clock s), or earlier so that a sample falls on the next phase boundary."""
        engine = self._engine
        offset = engine.t0 + state.start_s + state.offset_s
        now_t = engine.bench.clock.now_s() - offset
        base = math.floor(now_t / pulse.period_s + 1e-9) * pulse.period_s
        boundary = base + (pulse.on_s if now_t - base < pulse.on_s - 1e-9 else pulse.period_s)
        return min(deadline, boundary + offset)

    # -- EIS ---------------------------------------------------------------------------------
    def run_eis(self, planned: PlannedStep, restored: _StepState | None = None) -> StepResult | Trip:
        """An impedance sweep (bench.engine.eis_sweep) with the cycler output off, one sample each side.

        A sweep interrupted by a crash is run again from its start (``restored`` is ignored)."""
        engine = self._engine
        step = planned.step
        spec: EisSpec | None = step.eis
        if engine.bench.impedance is None or spec is None:
            raise ProtocolError(f"'{step.text}': this bench has no impedance analyzer",
                                file=engine.protocol.source_path, line=step.line, col=step.col,
                                suggestion="bind an [impedance] instrument")
        from bench.engine.eis_sweep import run_eis_step

        engine.stop_output()
        state = _StepState(start_s=engine.now())
        engine.active = (planned, state)
        engine.supervisor.begin_step(step, state.start_s)
        engine.writer.event(state.start_s, "step_start", engine.step_count, step.text,
                            {"step_index": step.index, "cycle": planned.cycle})
        sample = engine.acquire(step.index, step, state)
        trip = engine.supervisor.check(sample)
        engine.log_latest()
        if trip is not None:
            engine.end_step(planned, state, sample, f"safety trip: {trip.rule}")
            return trip
        # No samples during the sweep: tell the supervisor (stale-data rule, watchdog) to expect a
        # gap of the sweep's length (generously: five periods of each frequency plus 2 s).
        sweep_s = sum(5.0 / f + 2.0 for f in spec.frequencies_hz())
        engine.supervisor.begin_step(dataclasses.replace(step, period_s=sweep_s), state.start_s)
        summary = run_eis_step(engine.bench, spec, engine.writer, spectrum_index=engine.spectra,
                               time_s=engine.now(), step_count=engine.step_count, cycle=engine.counters.cycle,
                               temperature_c=sample.temperature_cell_c, soc=engine.counters.soc)
        engine.spectra += 1
        sample = engine.acquire(step.index, step, state)
        trip = engine.supervisor.check(sample)
        engine.log_latest()
        if trip is not None:
            engine.end_step(planned, state, sample, f"safety trip: {trip.rule}")
            return trip
        extra = {k: float(v) for k, v in summary.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        extra.setdefault("r0_ohm", extra.get("r_high_frequency_ohm", math.nan))
        return engine.end_step(planned, state, sample, "sweep complete", extra)

    # -- operator ------------------------------------------------------------------------------
    def operator(self, step: Step, state: _StepState, period: float) -> Trip | None:
        """Handle a pause / abort request; returns a trip that happened while paused."""
        from bench.engine.run_phase import RunPhase

        engine = self._engine
        control = engine.control
        control.pending = False
        if control.abort_wanted:
            raise KeyboardInterrupt
        if not control.pause_wanted:
            return None
        engine.stop_output()
        self.remeasure(engine.last)
        paused_at = engine.now()
        engine.run_state.to(RunPhase.PAUSED, paused_at)
        logger.warning("operator pause at %.1f s (output off, chamber held)", paused_at)
        engine.writer.event(paused_at, "operator_pause", engine.step_count, f"paused during '{step.text}'",
                            {"step_index": step.index, "chamber_setpoint_c": engine.chamber_setpoint_c})
        # While paused the cell rests (output off): the supervisor judges it as a rest, whose
        # timeout is a rest's, and the step's own time stands still (issue 26: a pause longer than
        # the step's timeout tripped it; a paused CC charge's relaxing voltage looked like a leak).
        engine.supervisor.begin_step(Step(kind="rest", text=f"paused: {step.text}"), paused_at)
        offset0 = state.offset_s
        clock = engine.bench.clock
        deadline = clock.now_s()
        while control.pause_wanted and not control.abort_wanted:
            deadline += period
            clock.sleep(deadline - clock.now_s())
            state.offset_s = offset0 + (engine.now() - paused_at)  # step time frozen at the pause
            sample = engine.acquire(step.index, step, state)
            trip = engine.supervisor.check(sample)
            engine.log_latest()
            if trip is not None:
                return trip
        control.pending = False
        if control.abort_wanted:
            raise KeyboardInterrupt
        paused_s = engine.now() - paused_at
        state.offset_s = offset0 + paused_s
        engine.apply(step)
        self.remeasure(engine.last)
        engine.supervisor.begin_step(step, state.start_s + state.offset_s)
        engine.run_state.to(RunPhase.RUNNING, engine.now())
        logger.warning("operator resume after %.1f s paused", paused_s)
        engine.writer.event(engine.now(), "operator_resume", engine.step_count, f"resumed '{step.text}'",
                            {"step_index": step.index, "paused_s": paused_s})
        return None

    def remeasure(self, sample: Sample | None) -> None:
        """After a setpoint change within a step: measure again at (nearly) the same instant, so
        the charge count integrates the new current from here, not a trapezoid across the jump."""
        if sample is None:
            return
        engine = self._engine
        voltage, current = engine.bench.cycler.measure()
        engine.last = Sample(sample.time_s, voltage, current, sample.temperature_cell_c,
                             sample.temperature_chamber_c, sample.step_index, sample.step_count, sample.cycle)

    def abandon_step(self, reason: str) -> None:
        """The run ends inside a step (abort, failure): record the step as far as it went."""
        engine = self._engine
        if engine.active is None or engine.last is None:
            return
        planned, state = engine.active
        try:
            engine.end_step(planned, state, engine.last, reason)
        except Exception:  # noqa: BLE001 - the file may be the thing that failed
            logger.exception("could not record the abandoned step")


class _PulseShaper:
    """A pulse train as a step shaper (see :meth:`StepKinds.shaper`)."""

    __slots__ = ("kinds", "pulse")

    def __init__(self, kinds: StepKinds, pulse: PulseSpec) -> None:
        self.kinds = kinds
        self.pulse = pulse

    def update(self, state: _StepState, sample: Sample) -> None:
        """Switch between the pulse and its pause at the phase boundaries."""
        self.kinds.update_pulse(self.pulse, state, sample)

    def deadline(self, state: _StepState, deadline: float) -> float:
        """A sample on the next phase boundary."""
        return self.kinds.pulse_deadline(self.pulse, state, deadline)
