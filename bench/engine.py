"""The protocol engine: runs steps against the bench's roles on its clock, sample by sample.

One direction per sample: acquire (drivers over the wire) -> supervisor (may trip: safe state)
-> counters -> end conditions (may end the step) -> run file. The engine knows roles, not
instruments, and a clock, not whether time is real or virtual.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Callable

from bench.bench import Bench
from bench.datalog import RunWriter
from bench.safe_state import enter_safe_state
from bench.safety import Supervisor, Trip
from bench.sample import Sample
from drivers.errors import InstrumentError
from drivers.roles import ProtectionLimits
from protocols.steps import EndCondition, Protocol, Step

logger = logging.getLogger(__name__)

#: Voltage end conditions count as met within this margin, V (the instrument clamps exactly at
#: its limit, and measurement noise would otherwise keep the reading a hair below it).
VOLTAGE_TOLERANCE_V = 0.001
#: Window for the dT/dt estimate, s.
DTDT_WINDOW_S = 30.0


class RunStatus(str, Enum):
    """How a run ended; maps to the CLI exit code."""

    COMPLETED = "completed"
    SAFETY_TRIP = "safety_trip"
    INSTRUMENT_FAILURE = "instrument_failure"
    ABORTED = "aborted"


@dataclass
class RunResult:
    """Outcome of :meth:`Engine.run`."""

    status: RunStatus
    message: str = ""
    trip: Trip | None = None
    samples: int = 0
    test_time_s: float = 0.0
    wall_time_s: float = 0.0


@dataclass
class Progress:
    """What a progress display needs, updated every few samples."""

    step_text: str = ""
    step_number: int = 0
    step_total: int = 0
    cycle: int = 0
    test_time_s: float = 0.0
    voltage_v: float = 0.0
    current_a: float = 0.0


@dataclass
class _Counters:
    charge_ah: float = 0.0
    discharge_ah: float = 0.0
    charge_wh: float = 0.0
    discharge_wh: float = 0.0
    cycle: int = 0
    soc: float = 0.5


@dataclass
class _StepState:
    start_s: float
    charge_ah: float = 0.0
    discharge_ah: float = 0.0
    charge_wh: float = 0.0
    discharge_wh: float = 0.0
    net_ah: float = 0.0
    net_wh: float = 0.0
    voltage_start_v: float = math.nan
    t_max: float = -math.inf
    t_min: float = math.inf
    held_since: dict[int, float] = field(default_factory=dict)
    temps: deque[tuple[float, float]] = field(default_factory=deque)


class Engine:
    """Runs ``protocol`` on ``bench``, writing to ``writer``."""

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
        start_index: int = 0,
    ) -> None:
        self.protocol = protocol
        self.bench = bench
        self.writer = writer
        self.supervisor = supervisor or Supervisor.for_limits(protocol.limits)
        self.observe_s = observe_s
        self.progress = progress
        self.progress_every = progress_every
        self.plan = protocol.flat_steps()
        self.start_index = start_index
        self.counters = _Counters()
        self.chamber_setpoint_c: float | None = None
        self.step_count = 0
        self.samples = 0
        self._t0 = bench.clock.now_s()
        self._unix0 = time.time()
        self._output_on = False
        self._last: Sample | None = None
        self._progress = Progress(step_total=len(self.plan))

    # -- public ------------------------------------------------------------------------------
    def run(self) -> RunResult:
        """Execute the protocol; never raises for instrument failures or trips (see status)."""
        wall0 = time.perf_counter()
        try:
            self._prepare()
            for index in range(self.start_index, len(self.plan)):
                step, cycle = self.plan[index]
                if cycle != self.counters.cycle:
                    self.counters.cycle = cycle
                    self.counters.charge_ah = self.counters.discharge_ah = 0.0
                    self.counters.charge_wh = self.counters.discharge_wh = 0.0
                self._journal(index)
                outcome = self._run_step(index, step)
                if isinstance(outcome, Trip):
                    return self._finish_trip(outcome, wall0)
            self._stop_output()
            self._journal(len(self.plan))
            return self._result(RunStatus.COMPLETED, "protocol completed", wall0)
        except InstrumentError as exc:
            logger.error("instrument failure: %s", exc)
            self._emergency_safe(f"instrument failure: {exc}")
            return self._result(RunStatus.INSTRUMENT_FAILURE, str(exc), wall0)
        except KeyboardInterrupt:
            logger.warning("operator abort (Ctrl-C): output off")
            self._emergency_safe("operator abort")
            return self._result(RunStatus.ABORTED, "aborted by the operator", wall0)
        finally:
            self.writer.flush()

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
        self.writer.event(self._now(), "run_start", 0, f"protocol {self.protocol.name} started")

    # -- one step ----------------------------------------------------------------------------
    def _run_step(self, index: int, step: Step) -> Trip | str:
        self.step_count += 1
        clock = self.bench.clock
        self._apply(step)
        period = step.period_s or self.protocol.period_s
        state = _StepState(start_s=self._now())
        self.writer.event(state.start_s, "step_start", self.step_count, step.text, {"step_index": index})
        progress = self._progress
        progress.step_text, progress.step_number, progress.cycle = step.text, index + 1, self.counters.cycle
        deadline = clock.now_s()
        reason = ""
        while True:
            sample = self._acquire(index, step, state)
            trip = self.supervisor.check(sample)
            self._log(sample)
            if trip is not None:
                self._end_step(index, step, state, sample, f"safety trip: {trip.rule}")
                return trip
            if step.kind == "cp" and step.power_w is not None:
                self._update_power(step, sample)
            reason = self._end_reason(step, sample, state)
            if reason:
                self._end_step(index, step, state, sample, reason)
                return reason
            deadline += period
            clock.sleep(deadline - clock.now_s())

    def _apply(self, step: Step) -> None:
        cycler = self.bench.cycler
        cell = self.protocol.cell
        if step.kind == "cc":
            current = float(step.current_a or 0.0)
            limit_v = cell.voltage_max_v
            if current > 0:
                ends = [c.value for c in step.until if c.quantity == "voltage_v"]
                limit_v = min([cell.voltage_max_v] + ends)
            cycler.set_current(current, limit_v)
            self._start_output()
        elif step.kind == "cv":
            cycler.set_voltage(float(step.voltage_v or 0.0), cell.current_max_a)
            self._start_output()
        elif step.kind == "cp":
            voltage = self._last.voltage_v if self._last else cell.voltage_max_v
            current = float(step.power_w or 0.0) / max(voltage, 0.1)
            cycler.set_current(_clamp(current, cell.current_max_a), cell.voltage_max_v)
            self._start_output()
        else:
            self._stop_output()
        if step.kind == "soak" and self.bench.chamber is not None and step.temperature_c is not None:
            self.bench.chamber.set_setpoint_c(step.temperature_c)
            self.bench.chamber.start()
            self.chamber_setpoint_c = step.temperature_c

    def _update_power(self, step: Step, sample: Sample) -> None:
        current = float(step.power_w or 0.0) / max(sample.voltage_v, 0.1)
        self.bench.cycler.set_current(_clamp(current, self.protocol.cell.current_max_a),
                                      self.protocol.cell.voltage_max_v)

    def _start_output(self) -> None:
        if not self._output_on:
            self.bench.cycler.output_on()
            self._output_on = True

    def _stop_output(self) -> None:
        if self._output_on:
            self.bench.cycler.output_off()
            self._output_on = False

    # -- per sample --------------------------------------------------------------------------
    def _now(self) -> float:
        return self.bench.clock.now_s() - self._t0

    def _acquire(self, index: int, step: Step, state: _StepState) -> Sample:
        voltage, current = self.bench.cycler.measure()
        t_cell = t_air = math.nan
        if self.bench.thermometer is not None:
            temps = self.bench.thermometer.read_c()
            t_cell = temps[0]
            if len(temps) > 1:
                t_air = temps[1]
        now = self._now()
        counters = self.counters
        last = self._last
        if last is not None:
            dt_h = (now - last.time_s) / 3600.0
            mean_i = 0.5 * (current + last.current_a)
            mean_p = 0.5 * (current * voltage + last.current_a * last.voltage_v)
            d_ah = mean_i * dt_h
            d_wh = mean_p * dt_h
            if d_ah >= 0:
                counters.charge_ah += d_ah
                state.charge_ah += d_ah
            else:
                counters.discharge_ah -= d_ah
                state.discharge_ah -= d_ah
            if d_wh >= 0:
                counters.charge_wh += d_wh
                state.charge_wh += d_wh
            else:
                counters.discharge_wh -= d_wh
                state.discharge_wh -= d_wh
            state.net_ah += d_ah
            state.net_wh += d_wh
            counters.soc += d_ah / self.protocol.cell.capacity_ah
        if math.isnan(state.voltage_start_v):
            state.voltage_start_v = voltage
        if t_cell == t_cell:
            state.t_max = max(state.t_max, t_cell)
            state.t_min = min(state.t_min, t_cell)
            state.temps.append((now, t_cell))
            while state.temps and now - state.temps[0][0] > DTDT_WINDOW_S:
                state.temps.popleft()
        sample = Sample(
            now, voltage, current, t_cell, t_air, index, self.step_count, counters.cycle,
            now - state.start_s, state.net_ah, state.net_wh, counters.charge_ah, counters.discharge_ah,
            counters.charge_wh, counters.discharge_wh, counters.soc,
        )
        self._last = sample
        self.samples += 1
        if self.progress is not None and self.samples % self.progress_every == 0:
            p = self._progress
            p.test_time_s, p.voltage_v, p.current_a = now, voltage, current
            self.progress(p)
        return sample

    def _log(self, s: Sample) -> None:
        self.writer.append_sample_row((
            s.time_s, self._unix0 + s.time_s, s.voltage_v, s.current_a, s.voltage_v * s.current_a,
            s.cycle, s.step_count, s.step_index, s.step_ah, s.charge_ah, s.discharge_ah,
            s.charge_wh, s.discharge_wh, s.temperature_cell_c, s.temperature_chamber_c,
        ))

    def _end_reason(self, step: Step, sample: Sample, state: _StepState) -> str:
        if step.duration_s is not None and sample.step_time_s >= step.duration_s - 1e-9:
            return "time"
        for number, condition in enumerate(step.until):
            if self._condition_met(condition, sample, state):
                if condition.hold_s > 0:
                    since = state.held_since.setdefault(number, sample.time_s)
                    if sample.time_s - since < condition.hold_s:
                        continue
                return condition.describe()
            state.held_since.pop(number, None)
        return ""

    def _condition_met(self, condition: EndCondition, sample: Sample, state: _StepState) -> bool:
        q, value = condition.quantity, condition.value
        if q == "voltage_v":
            measured = sample.voltage_v
            tol = VOLTAGE_TOLERANCE_V
            return measured >= value - tol if condition.op == ">=" else measured <= value + tol
        if q == "current_a":
            return sample.step_time_s > 0 and abs(sample.current_a) <= value
        if q == "capacity_ah":
            return abs(sample.step_ah) >= value
        if q == "time_s":
            return sample.step_time_s >= value
        if q == "soc":
            return sample.soc >= value if condition.op == ">=" else sample.soc <= value
        if q == "temperature_c":
            t = sample.temperature_cell_c
            return t == t and (t >= value if condition.op == ">=" else t <= value)
        if q == "stable_within_k":
            target = self.chamber_setpoint_c
            t = sample.temperature_cell_c
            return target is not None and t == t and abs(t - target) <= value
        if q == "dtdt_k_per_s":
            if len(state.temps) < 2 or state.temps[-1][0] - state.temps[0][0] < DTDT_WINDOW_S * 0.5:
                return False
            (t0, y0), (t1, y1) = state.temps[0], state.temps[-1]
            rate = (y1 - y0) / (t1 - t0)
            return rate >= value if condition.op == ">=" else rate <= value
        return False

    def _end_step(self, index: int, step: Step, state: _StepState, sample: Sample, reason: str) -> None:
        # Anchor the SOC estimate at full charge / full discharge.
        cell = self.protocol.cell
        if step.kind == "cv" and reason != "time" and (step.voltage_v or 0) >= cell.voltage_max_v - 0.01:
            self.counters.soc = 1.0
        if step.kind == "cc" and (step.current_a or 0) < 0 and any(
                c.quantity == "voltage_v" and c.value <= cell.voltage_min_v + 0.01 for c in step.until) \
                and reason not in ("time",) and not reason.startswith("safety"):
            self.counters.soc = 0.0
        self.writer.append("steps", (
            self.step_count, index, self.counters.cycle, step.kind, step.text, state.start_s, sample.time_s,
            reason, state.charge_ah, state.discharge_ah, state.charge_wh, state.discharge_wh,
            state.voltage_start_v, sample.voltage_v, sample.current_a,
            state.t_max if state.t_max > -math.inf else math.nan,
            state.t_min if state.t_min < math.inf else math.nan,
            self.chamber_setpoint_c if self.chamber_setpoint_c is not None else math.nan,
        ))
        self.writer.event(sample.time_s, "step_end", self.step_count, f"{step.text}: {reason}",
                          {"step_index": index, "reason": reason})

    def _journal(self, next_index: int) -> None:
        state = {
            "next_step": next_index, "step_count": self.step_count, "cycle": self.counters.cycle,
            "charge_ah": self.counters.charge_ah, "discharge_ah": self.counters.discharge_ah,
            "charge_wh": self.counters.charge_wh, "discharge_wh": self.counters.discharge_wh,
            "soc": self.counters.soc, "chamber_setpoint_c": self.chamber_setpoint_c,
        }
        if self.bench.simulation_state is not None:
            state["simulation"] = self.bench.simulation_state()
        self.writer.journal(self._now(), state)

    # -- endings -----------------------------------------------------------------------------
    def _finish_trip(self, trip: Trip, wall0: float) -> RunResult:
        logger.error("SAFETY TRIP %s at %.1f s: %s", trip.rule, trip.time_s, trip.message)
        report = enter_safe_state(self.bench, fault_time_s=trip.time_s, t0_clock_s=self._t0,
                                  chamber_setpoint_c=self.chamber_setpoint_c)
        self._output_on = False
        self.writer.event(trip.time_s, "safety_trip", self.step_count, trip.message, {
            "rule": trip.rule, "values": trip.values, "latency_s": report.latency_clock_s,
            "latency_wall_s": report.latency_wall_s, "output_off_confirmed": report.output_off_confirmed,
            "chamber_setpoint_c": report.chamber_setpoint_c, "failures": report.failures,
        })
        self._observe()
        return self._result(RunStatus.SAFETY_TRIP, trip.message, wall0, trip)

    def _observe(self) -> None:
        """Keep logging with the output off through the observation window."""
        if self.observe_s <= 0:
            return
        self.writer.event(self._now(), "observation_start", self.step_count,
                          f"observing for {self.observe_s:.0f} s after the trip")
        clock = self.bench.clock
        end = self._now() + self.observe_s
        period = self.protocol.period_s
        deadline = clock.now_s()
        rest = Step(kind="rest", text="observation", duration_s=self.observe_s)
        state = _StepState(start_s=self._now())
        self.step_count += 1
        while self._now() < end:
            deadline += period
            clock.sleep(deadline - clock.now_s())
            sample = self._acquire(-1, rest, state)
            self.supervisor.check(sample)
            self._log(sample)
        self.writer.event(self._now(), "observation_end", self.step_count, "observation window ended")

    def _emergency_safe(self, why: str) -> None:
        report = enter_safe_state(self.bench, fault_time_s=self._now(), t0_clock_s=self._t0,
                                  chamber_setpoint_c=self.chamber_setpoint_c)
        self._output_on = False
        try:
            self.writer.event(self._now(), "safe_state", self.step_count, why,
                              {"output_off_confirmed": report.output_off_confirmed, "failures": report.failures})
        except Exception:  # noqa: BLE001 - the file may be the thing that failed
            logger.exception("could not record the safe-state event")

    def _result(self, status: RunStatus, message: str, wall0: float, trip: Trip | None = None) -> RunResult:
        return RunResult(status, message, trip, self.samples, self._now(), time.perf_counter() - wall0)


def _clamp(current_a: float, limit_a: float) -> float:
    return max(-limit_a, min(limit_a, current_a))
