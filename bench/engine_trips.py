"""The engine's safety endings: the safe-state sequence with its event, the observation window
after a trip, and the emergency safe state after an instrument failure or an operator abort.

A mixin of :class:`bench.engine.Engine` (it uses the engine's bench, writer, supervisor, clock
and counters); kept apart so the engine module stays about stepping.
"""

from __future__ import annotations

import logging

from bench.counters import _StepState
from bench.safe_state import enter_safe_state
from bench.safety import Trip
from drivers.errors import InstrumentError
from protocols.steps import Step

logger = logging.getLogger("bench.engine")


class _TripMixin:
    """Safe state, trip event and observation window (see the module docstring)."""

    def _record_trip(self, trip: Trip) -> None:
        """Safe-state sequence, then the ``safety_trip`` event (rule, values, times, latency)."""
        logger.error("SAFETY TRIP %s at %.1f s: %s", trip.rule, trip.time_s, trip.message)
        report = enter_safe_state(self.bench, fault_time_s=trip.time_s, t0_clock_s=self._t0,
                                  chamber_setpoint_c=self.chamber_setpoint_c)
        self._output_on = False
        latency_wall_s = trip.values.get("latency_wall_s", report.latency_wall_s)
        self.writer.event(trip.time_s, "safety_trip", self.step_count, trip.message, {
            "rule": trip.rule, "values": trip.values, "latency_s": report.latency_clock_s,
            "latency_wall_s": latency_wall_s, "output_off_confirmed": report.output_off_confirmed,
            "chamber_setpoint_c": report.chamber_setpoint_c, "failures": report.failures,
            "safe_state_time_s": self._now(), "alarm_latched": True,
            "abuse_test": bool(self.abuse is not None and self.abuse.active),
        })

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
        self.supervisor.begin_step(rest, state.start_s)
        self.step_count += 1
        while self._now() < end:
            deadline += period
            clock.sleep(deadline - clock.now_s())
            try:
                sample = self._acquire(-1, rest, state)
            except InstrumentError as exc:  # keep observing what can still be read
                logger.error("observation: %s", exc)
                continue
            self.supervisor.check(sample)
            self._log_latest()
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
