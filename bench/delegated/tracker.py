"""The cycler's records -> the bench's samples, steps and cycles, as a live run records them.

The cycler runs the step file; the bench walks the protocol's own plan (:mod:`protocols.plan`)
beside it. Each record names the cycler step it came from; the step's ``protocol_step`` (a
:class:`DelegatedStep` field) says which protocol step that is. When the cycler moves to a step
of another protocol step, jumps back (a loop repeats) or reports another cycle, the present
protocol step ends (a ``/steps`` row, its reason inferred from its last record the way the live
engine judges it) and the plan is advanced to the protocol step the cycler is in; a protocol step
the cycler ran between two records is recorded with no samples. So ``Step Index`` is the protocol
step's index, ``Step Count`` counts executed steps and ``Cycle Count`` follows the plan's cycle
rule, exactly as in a live run, and claims, reports and analysis read the file unchanged.

Units: test time s (the cycler's own test clock), V, A (+ = charge), Ah, Wh, °C.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from typing import Any

from bench.engine.counters import _Counters, _StepState, integrate
from bench.engine.crossing import step_crossing
from bench.engine.end_conditions import end_reason
from bench.engine.step_end import soc_anchor
from bench.engine.trips import step_limit_trip
from bench.runfile.writer import RunWriter
from bench.safety.supervisor import Supervisor, Trip
from bench.sample import Sample
from drivers.delegated.channel import ChannelSample
from drivers.delegated.program import DelegatedProgram
from protocols.plan import Plan, PlannedStep, StepResult
from protocols.planning import make_plan
from protocols.steps import Protocol

logger = logging.getLogger(__name__)

#: The reason of a protocol step the cycler ended without the bench judging it (no record at
#: its end, or an end the bench's readings do not show).
ENDED_ON_CYCLER = "ended on the cycler"


class StepTracker:
    """Feeds the cycler's records through the plan, the counters and the run file's tables."""

    def __init__(self, protocol: Protocol, program: DelegatedProgram, writer: RunWriter, supervisor: Supervisor,
                 *, unix0: float, instrument: Any = None,
                 on_step: Callable[[int], None] | None = None, first_step_number: int = 1) -> None:
        self.protocol = protocol
        self.program = program
        self.writer = writer
        self.supervisor = supervisor
        self.unix0 = unix0
        #: Called with the cycler step index when a new protocol step starts (chamber setpoints).
        self.on_step = on_step
        #: The cycler's number of the program's first step (Neware Step_ID 1): record step
        #: numbers minus this index ``program.steps``.
        self.first_step_number = first_step_number
        self.plan: Plan
        self.plan, self.ctx = make_plan(protocol, instrument=instrument)
        self.pending: PlannedStep | None = next(self.plan, None)
        self.planned: PlannedStep | None = None
        self.state: _StepState | None = None
        self.counters = _Counters(soc=protocol.cell.initial_soc)
        self.step_count = 0
        self.samples = 0
        self.last: Sample | None = None
        self.last_record: ChannelSample | None = None
        self.chamber_setpoint_c: float | None = None
        self._key: tuple[int, int] | None = None
        self._step_checks: tuple = ()
        self._capacity_ah = protocol.cell.capacity_ah

    # -- per record ------------------------------------------------------------------------------
    def feed(self, record: ChannelSample, t_cell: float = math.nan,
             t_air: float = math.nan) -> tuple[Sample, Trip | None] | None:
        """Account one record (newer than the last): its sample and the supervisor's verdict;
        None for a record not newer than the last one (the cycler has not logged since).
        ``t_cell`` (°C): the bench thermometer's cell reading, for a record without a temperature."""
        last = self.last_record
        if last is not None and record.test_time_s <= last.test_time_s:
            return None
        self._follow(record)
        sample, row = self._sample(record, t_cell, t_air)
        trip = self.supervisor.check(sample)
        if trip is None and self._step_checks:
            trip = step_limit_trip(self.supervisor, self._step_checks, sample)
        self.writer.append_sample_row(row)
        self.last_record = record
        return sample, trip

    def _follow(self, record: ChannelSample) -> None:
        """Advance the plan to the protocol step the record's cycler step runs."""
        steps = self.program.steps
        index = record.step_index - self.first_step_number
        if not 0 <= index < len(steps) or steps[index].protocol_step < 0:
            if self.planned is None:  # not yet in a protocol step: take the plan's first
                self._advance_to(None, 0.0)
            return  # a cycle / end step, or an index the program does not have: the present step goes on
        previous = self._key
        self._key = (index, record.cycle_index)
        if self.planned is not None:
            if previous is None:
                if self.planned.step.index == steps[index].protocol_step:
                    return
            elif (steps[previous[0]].protocol_step == steps[index].protocol_step and index >= previous[0]
                  and record.cycle_index == previous[1]):
                return  # the same cycler step, or the next phase of the same protocol step (a pulse train)
        # The cycler logs a record at the instant a step ends: the next step started then (the
        # test's start, 0 s, for the first step), not at its own first record one period later.
        started = self.last_record.test_time_s if self.last_record is not None else 0.0
        self._advance_to(steps[index].protocol_step, started, index)

    def _advance_to(self, protocol_step: int | None, time_s: float, cycler_index: int = -1) -> None:
        """End the present protocol step, then start the plan's next ones until ``protocol_step``
        (steps the cycler ran between two records are recorded with no samples)."""
        if self.planned is not None:
            self._end(self._reason(), time_s)
        for _ in range(len(self.program.steps) + 2 * self.protocol.step_total() + 2):
            planned = self.pending
            if planned is None:
                logger.warning("the cycler runs protocol step %s after the plan ended", protocol_step)
                return
            self._begin(planned, time_s, cycler_index)
            if protocol_step is None or planned.step.index == protocol_step:
                return
            self._end(ENDED_ON_CYCLER, time_s)
        logger.warning("protocol step %s not found in the plan", protocol_step)

    def _begin(self, planned: PlannedStep, time_s: float, cycler_index: int) -> None:
        self.pending = None
        if planned.cycle != self.counters.cycle:
            if self.counters.cycle > 0:
                self.close_cycle("complete", time_s)
            self.counters.new_cycle(planned.cycle, time_s, self.step_count + 1)
        self.step_count += 1
        self.counters.cycle_steps += 1
        self.planned, self.state = planned, _StepState(start_s=time_s)
        step = planned.step
        self._step_checks = step.limits.checks() if step.limits is not None else ()
        self.supervisor.begin_step(step, time_s)
        if self.on_step is not None and cycler_index >= 0:
            self.on_step(cycler_index)
        self.writer.event(time_s, "step_start", self.step_count, step.text,
                          {"step_index": step.index, "cycle": planned.cycle, "cycler_step": cycler_index})

    def _reason(self) -> str:
        """Why the present step ended, judged on its last record as the live engine judges it."""
        assert self.planned is not None and self.state is not None
        if self.last is None or self.last.step_count != self.step_count:
            return ENDED_ON_CYCLER
        return end_reason(self.planned.step, self.last, self.state, self.chamber_setpoint_c) or ENDED_ON_CYCLER

    def _end(self, reason: str, time_s: float) -> None:
        """Record the present step (``/steps`` row and event) and send its result to the plan."""
        planned, state = self.planned, self.state
        assert planned is not None and state is not None
        step = planned.step
        sample = self.last if self.last is not None and self.last.step_count == self.step_count else None
        end_s = sample.time_s if sample is not None else time_s
        voltage = sample.voltage_v if sample is not None else math.nan
        current = sample.current_a if sample is not None else math.nan
        ended_on = next((c for c in step.until if c.describe() == reason), None)
        anchor = soc_anchor(step, ended_on, self.protocol.cell)
        if anchor is not None:
            self.counters.soc = anchor
        crossing = step_crossing(step.kind, ended_on, self.writer.recent_samples, self.step_count) \
            if sample is not None else None
        at = state if crossing is None else state.at_crossing(crossing.past_ah, crossing.past_wh)
        result: StepResult = at.result(reason, end_s, voltage, current)
        self.writer.append("steps", (
            self.step_count, step.index, self.counters.cycle, step.kind, step.text, state.start_s, end_s, reason,
            at.charge_ah, at.discharge_ah, at.charge_wh, at.discharge_wh, state.voltage_start_v, voltage, current,
            result.temperature_max_c, result.temperature_min_c,
            self.chamber_setpoint_c if self.chamber_setpoint_c is not None else math.nan,
            math.nan if crossing is None else crossing.time_s, 0.0 if crossing is None else crossing.past_ah,
            0.0 if crossing is None else crossing.past_wh), flush=False)
        self.writer.append("events", (end_s, "step_end", self.step_count, f"{step.text}: {reason}",
                                      json.dumps({"step_index": step.index, "reason": reason,
                                                  "cycle": planned.cycle})), flush=False)
        self.planned, self.state = None, None
        try:
            self.pending = self.plan.send(result)
        except StopIteration:
            self.pending = None

    def finish(self, status: str, time_s: float) -> None:
        """The run ended (``complete``, ``safety_trip``, ...): the present step and cycle are recorded."""
        if self.planned is not None:
            reason = self._reason() if status == "complete" else status.replace("_", " ")
            self._end(reason, time_s)
        self.close_cycle(status, time_s)

    def close_cycle(self, status: str, time_s: float) -> None:
        counters = self.counters
        if counters.cycle <= 0 or counters.cycle_steps == 0:
            return
        self.writer.append("cycles", counters.cycle_row(time_s, status), flush=False)
        counters.cycle_steps = 0

    # -- counting ----------------------------------------------------------------------------------
    def _sample(self, record: ChannelSample, t_cell_bench: float, t_air: float) -> tuple[Sample, tuple]:
        """The sample and its ``/samples`` row (trapezoid Ah / Wh as the live engine counts)."""
        if self.state is None:  # records after the plan ended (the cycler ran more than the plan): kept
            self.state = _StepState(start_s=record.test_time_s)
        state = self.state
        now, voltage, current, t_cell = record.test_time_s, record.voltage_v, record.current_a, record.temperature_c
        if t_cell != t_cell:
            t_cell = t_cell_bench
        counters, last = self.counters, self.last
        if last is not None:
            integrate(counters, state, last.time_s, last.voltage_v, last.current_a, now, voltage, current,
                      self._capacity_ah)
        if state.voltage_start_v != state.voltage_start_v:
            state.voltage_start_v = voltage
        if t_cell == t_cell:
            state.t_max = max(state.t_max, t_cell)
            state.t_min = min(state.t_min, t_cell)
            counters.t_max = max(counters.t_max, t_cell)
        index = self.planned.step.index if self.planned is not None else -1
        sample = Sample(now, voltage, current, t_cell, t_air, index, self.step_count, counters.cycle,
                        now - state.start_s - state.offset_s, state.net_ah, state.net_wh, counters.charge_ah,
                        counters.discharge_ah, counters.charge_wh, counters.discharge_wh, counters.soc)
        row = (now, self.unix0 + now, voltage, current, voltage * current, counters.cycle, self.step_count, index,
               state.net_ah, counters.charge_ah, counters.discharge_ah, counters.charge_wh, counters.discharge_wh,
               t_cell, t_air)
        self.last = sample
        self.samples += 1
        return sample, row

