"""The engine's safety endings, a collaborator of the engine: the safe-state sequence with its
event, the observation window after a trip, and the emergency safe state after an instrument
failure or an operator abort.

It works on the engine through :class:`bench.engine.services.EngineServices` and never imports
the engine.
"""

from __future__ import annotations

import logging

from bench.engine.counters import _StepState
from bench.engine.end_conditions import step_limit_violation
from bench.engine.services import EngineServices
from bench.safety.safe_state import SafeStateReport, enter_safe_state
from bench.safety.supervisor import Supervisor, Trip
from bench.sample import Sample
from drivers.errors import InstrumentError
from protocols.steps import Step

logger = logging.getLogger("bench.engine.core")

#: Longest single sleep of the observation window, bench seconds: an operator abort (SIGTERM)
#: is seen within this time even when the sampling period is long.
ABORT_POLL_S = 1.0


def step_limit_trip(supervisor: Supervisor, checks: tuple, sample: Sample) -> Trip | None:
    """A ``step_limit`` trip (latched in ``supervisor``) when ``sample`` exceeds one of a step's
    own limits (``checks``: bench.engine.end_conditions); None when it does not. Used by the live
    engine and by a delegated run's tracker."""
    found = step_limit_violation(checks, sample)
    if found is None:
        return None
    name, value, bound = found
    side = "above" if value > bound else "below"
    supervisor.external_trip(Trip("step_limit", sample.time_s,
                                  f"{name} {value:.4g} {side} the step's limit {bound:g}",
                                  {"value": value, "limit": bound}))
    return supervisor.pending_trip()


class TripHandler:
    """Safe state, trip event and observation window (see the module docstring)."""

    def __init__(self, engine: EngineServices) -> None:
        self._engine = engine

    def record_trip(self, trip: Trip) -> SafeStateReport:
        """Safe-state sequence, then the ``safety_trip`` event (rule, values, times, latency);
        returns the safe-state report."""
        engine = self._engine
        logger.error("SAFETY TRIP %s at %.1f s: %s", trip.rule, trip.time_s, trip.message)
        report = enter_safe_state(engine.bench, fault_time_s=trip.time_s, t0_clock_s=engine.t0,
                                  chamber_setpoint_c=engine.chamber_setpoint_c)
        engine.output_on = False
        latency_wall_s = trip.values.get("latency_wall_s", report.latency_wall_s)
        engine.writer.event(trip.time_s, "safety_trip", engine.step_count, trip.message, {
            "rule": trip.rule, "values": trip.values, "latency_s": report.latency_clock_s,
            "latency_wall_s": latency_wall_s, "output_off_confirmed": report.output_off_confirmed,
            "chamber_setpoint_c": report.chamber_setpoint_c, "failures": report.failures,
            "safe_state_time_s": engine.now(), "alarm_latched": True,
            "abuse_test": bool(engine.abuse is not None and engine.abuse.active),
        })
        return report

    def observe(self) -> None:
        """Keep logging with the output off through the observation window.

        An operator abort ends the window at once (SIGTERM sets ``control.abort_wanted``, read
        between sleeps of at most :data:`ABORT_POLL_S` bench seconds; SIGINT raises
        KeyboardInterrupt wherever it lands): the output is turned off again and confirmed, an
        ``observation_aborted`` event is recorded and the run still ends as a safety trip.
        """
        engine = self._engine
        if engine.observe_s <= 0:
            return
        engine.writer.event(engine.now(), "observation_start", engine.step_count,
                            f"observing for {engine.observe_s:.0f} s after the trip")
        clock = engine.bench.clock
        control = engine.control
        end = engine.now() + engine.observe_s
        period = engine.protocol.period_s
        deadline = clock.now_s()
        rest = Step(kind="rest", text="observation", duration_s=engine.observe_s)
        state = _StepState(start_s=engine.now())
        engine.supervisor.begin_step(rest, state.start_s)
        engine.step_count += 1
        why = ""
        try:
            while engine.now() < end:
                deadline += period
                while not control.abort_wanted:
                    wait = deadline - clock.now_s()
                    if wait <= 0:
                        break
                    clock.sleep(min(wait, ABORT_POLL_S))
                if control.abort_wanted:
                    why = "operator abort (SIGTERM)"
                    break
                try:
                    sample = engine.acquire(-1, rest, state)
                except InstrumentError as exc:  # keep observing what can still be read
                    logger.error("observation: %s", exc)
                    continue
                engine.supervisor.check(sample)
                engine.log_latest()
        except KeyboardInterrupt:
            why = "operator interrupt (SIGINT)"
        if why:
            self._abort_observation(why, end)
            return
        engine.writer.event(engine.now(), "observation_end", engine.step_count, "observation window ended")

    def _abort_observation(self, why: str, end_s: float) -> None:
        """The observation window was cut short: output off again and confirmed, then the event."""
        engine = self._engine
        logger.warning("observation aborted: %s: output off, closing the run file", why)
        report = enter_safe_state(engine.bench, fault_time_s=engine.now(), t0_clock_s=engine.t0,
                                  chamber_setpoint_c=engine.chamber_setpoint_c)
        engine.output_on = False
        remaining = max(0.0, end_s - engine.now())
        try:
            engine.writer.event(engine.now(), "observation_aborted", engine.step_count,
                                f"observation aborted: {why}, {remaining:.0f} s of the window left", {
                                    "reason": why, "remaining_s": remaining,
                                    "output_off_confirmed": report.output_off_confirmed,
                                    "failures": report.failures})
        except Exception:  # noqa: BLE001 - the file may be the thing that failed
            logger.exception("could not record the observation abort")

    def emergency_safe(self, why: str) -> SafeStateReport:
        """Safe state after an instrument failure, a protocol error or an operator abort;
        returns the safe-state report (``output_off_confirmed``, ``failures``)."""
        engine = self._engine
        report = enter_safe_state(engine.bench, fault_time_s=engine.now(), t0_clock_s=engine.t0,
                                  chamber_setpoint_c=engine.chamber_setpoint_c)
        engine.output_on = False
        try:
            engine.writer.event(engine.now(), "safe_state", engine.step_count, why,
                                {"output_off_confirmed": report.output_off_confirmed, "failures": report.failures})
        except Exception:  # noqa: BLE001 - the file may be the thing that failed
            logger.exception("could not record the safe-state event")
        return report
