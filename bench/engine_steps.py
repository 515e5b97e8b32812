"""Step kinds beyond a constant setpoint, and operator pauses, for :class:`bench.engine.Engine`.

* Pulse trains: the setpoint switches between the pulse current and the pause current at the
  phase boundaries, and a sample is scheduled on each boundary.
* EIS: the cycler output goes off, one sample, the sweep (bench.eis_step.run_eis_step, written by
  the impedance engineer), one sample; the fit values (``r0_ohm``...) join the step's result.
* Operator pause (bench.operator_control): output off, chamber held, sampling and supervision go
  on; on resume the step's setpoints are applied again and the paused time is not step time.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import TYPE_CHECKING

from bench.counters import _StepState
from bench.safety import Trip
from bench.sample import Sample
from protocols.errors import ProtocolError
from protocols.plan import PlannedStep, StepResult
from protocols.steps import EisSpec, PulseSpec, Step

if TYPE_CHECKING:
    from bench.engine import Engine

logger = logging.getLogger(__name__)


class _StepKindsMixin:
    """Pulse, EIS and operator-pause methods of :class:`bench.engine.Engine`."""

    def _update_pulse(self: Engine, pulse: PulseSpec, state: _StepState, sample: Sample) -> None:
        """Switch between the pulse and its pause at the phase boundaries."""
        phase = sample.step_time_s % pulse.period_s
        on = phase < pulse.on_s - 1e-9
        if on != state.pulse_on:
            state.pulse_on = on
            step = self._pulse_phase(self._active[0].step, on) if self._active is not None else None
            self.bench.cycler.set_current(pulse.current_a if on else pulse.off_current_a,
                                          self.protocol.cell.voltage_max_v)
            self._remeasure(sample)
            if step is not None:  # a new setpoint: the supervisor's per-step rules start afresh
                self.supervisor.begin_step(step, state.start_s)

    def _pulse_phase(self: Engine, step: Step, on: bool) -> Step:
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

    def _pulse_deadline(self: Engine, pulse: PulseSpec, state: _StepState, deadline: float) -> float:
        """``deadline`` (clock s), or earlier so that a sample falls on the next phase boundary."""
        offset = self._t0 + state.start_s + state.offset_s
        now_t = self.bench.clock.now_s() - offset
        base = math.floor(now_t / pulse.period_s + 1e-9) * pulse.period_s
        boundary = base + (pulse.on_s if now_t - base < pulse.on_s - 1e-9 else pulse.period_s)
        return min(deadline, boundary + offset)

    def _run_eis(self: Engine, planned: PlannedStep) -> StepResult | Trip:
        """An impedance sweep (bench.eis_step) with the cycler output off, one sample each side."""
        step = planned.step
        spec: EisSpec | None = step.eis
        if self.bench.impedance is None or spec is None:
            raise ProtocolError(f"'{step.text}': this bench has no impedance analyzer", file=self.protocol.source_path,
                                line=step.line, col=step.col, suggestion="bind an [impedance] instrument")
        from bench.eis_step import run_eis_step

        self._stop_output()
        state = _StepState(start_s=self._now())
        self._active = (planned, state)
        self.supervisor.begin_step(step, state.start_s)
        self.writer.event(state.start_s, "step_start", self.step_count, step.text,
                          {"step_index": step.index, "cycle": planned.cycle})
        sample = self._acquire(step.index, step, state)
        trip = self.supervisor.check(sample)
        self._log_latest()
        if trip is not None:
            self._end_step(planned, state, sample, f"safety trip: {trip.rule}")
            return trip
        # No samples during the sweep: tell the supervisor (stale-data rule, watchdog) to expect a
        # gap of the sweep's length (generously: five periods of each frequency plus 2 s).
        sweep_s = sum(5.0 / f + 2.0 for f in spec.frequencies_hz())
        self.supervisor.begin_step(dataclasses.replace(step, period_s=sweep_s), state.start_s)
        summary = run_eis_step(self.bench, spec, self.writer, spectrum_index=self._spectra, time_s=self._now(),
                               step_count=self.step_count, cycle=self.counters.cycle,
                               temperature_c=sample.temperature_cell_c, soc=self.counters.soc)
        self._spectra += 1
        sample = self._acquire(step.index, step, state)
        trip = self.supervisor.check(sample)
        self._log_latest()
        if trip is not None:
            self._end_step(planned, state, sample, f"safety trip: {trip.rule}")
            return trip
        extra = {k: float(v) for k, v in summary.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        extra.setdefault("r0_ohm", extra.get("r_high_frequency_ohm", math.nan))
        return self._end_step(planned, state, sample, "sweep complete", extra)

    def _operator(self: Engine, step: Step, state: _StepState, period: float) -> Trip | None:
        """Handle a pause / abort request; returns a trip that happened while paused."""
        control = self.control
        control.pending = False
        if control.abort_wanted:
            raise KeyboardInterrupt
        if not control.pause_wanted:
            return None
        self._stop_output()
        self._remeasure(self._last)
        paused_at = self._now()
        logger.warning("operator pause at %.1f s (output off, chamber held)", paused_at)
        self.writer.event(paused_at, "operator_pause", self.step_count, f"paused during '{step.text}'",
                          {"step_index": step.index, "chamber_setpoint_c": self.chamber_setpoint_c})
        clock = self.bench.clock
        deadline = clock.now_s()
        while control.pause_wanted and not control.abort_wanted:
            deadline += period
            clock.sleep(deadline - clock.now_s())
            sample = self._acquire(step.index, step, state)
            trip = self.supervisor.check(sample)
            self._log_latest()
            if trip is not None:
                return trip
        control.pending = False
        if control.abort_wanted:
            raise KeyboardInterrupt
        paused_s = self._now() - paused_at
        state.offset_s += paused_s
        self._apply(step)
        self._remeasure(self._last)
        self.supervisor.begin_step(step, state.start_s + state.offset_s)
        logger.warning("operator resume after %.1f s paused", paused_s)
        self.writer.event(self._now(), "operator_resume", self.step_count, f"resumed '{step.text}'",
                          {"step_index": step.index, "paused_s": paused_s})
        return None

    def _remeasure(self: Engine, sample: Sample | None) -> None:
        """After a setpoint change within a step: measure again at (nearly) the same instant, so
        the charge count integrates the new current from here, not a trapezoid across the jump."""
        if sample is None:
            return
        voltage, current = self.bench.cycler.measure()
        self._last = Sample(sample.time_s, voltage, current, sample.temperature_cell_c, sample.temperature_chamber_c,
                            sample.step_index, sample.step_count, sample.cycle)

    def _abandon_step(self: Engine, reason: str) -> None:
        """The run ends inside a step (abort, failure): record the step as far as it went."""
        if self._active is None or self._last is None:
            return
        planned, state = self._active
        try:
            self._end_step(planned, state, self._last, reason)
        except Exception:  # noqa: BLE001 - the file may be the thing that failed
            logger.exception("could not record the abandoned step")
