"""Step kinds beyond a constant setpoint, and operator pauses, for :class:`bench.engine.Engine`.

* Pulse trains: the setpoint switches between the pulse current and the pause current at the
  phase boundaries, and a sample is scheduled on each boundary.
* EIS: the cycler output goes off, one sample, the sweep (bench.eis_step.run_eis_step, written by
  the impedance engineer), one sample; the fit values (``r0_ohm``...) join the step's result.
* Operator pause (bench.operator_control): output off, chamber held, sampling and supervision go
  on; on resume the step's setpoints are applied again and the paused time is not step time.
"""

from __future__ import annotations

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
            current = pulse.current_a if on else pulse.off_current_a
            limit_v = self.protocol.cell.voltage_max_v
            self.bench.cycler.set_current(current, limit_v)

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
        self._log(sample)
        if trip is not None:
            self._end_step(planned, state, sample, f"safety trip: {trip.rule}")
            return trip
        watchdog = getattr(self.supervisor, "watchdog", None)
        if watchdog is not None:  # no samples during the sweep: allow its length
            watchdog.set_period(sum(2.0 / f + 1.0 for f in spec.frequencies_hz()))
        summary = run_eis_step(self.bench, spec, self.writer, spectrum_index=self._spectra, time_s=self._now(),
                               step_count=self.step_count, cycle=self.counters.cycle,
                               temperature_c=sample.temperature_cell_c, soc=self.counters.soc)
        self._spectra += 1
        sample = self._acquire(step.index, step, state)
        trip = self.supervisor.check(sample)
        self._log(sample)
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
            self._log(sample)
            if trip is not None:
                return trip
        control.pending = False
        if control.abort_wanted:
            raise KeyboardInterrupt
        paused_s = self._now() - paused_at
        state.offset_s += paused_s
        self._apply(step)
        self.supervisor.begin_step(step, state.start_s + state.offset_s)
        logger.warning("operator resume after %.1f s paused", paused_s)
        self.writer.event(self._now(), "operator_resume", self.step_count, f"resumed '{step.text}'",
                          {"step_index": step.index, "paused_s": paused_s})
        return None
