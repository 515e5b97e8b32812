"""The final observation after a completed protocol, a collaborator of the engine.

Every protocol ends with the output off and the chamber held while the supervisor's rest rules
judge the last cycle (:mod:`bench.safety.last_stretch` says why and when it may end). It runs
until the judge is satisfied, a rule trips, or ``limits: final_observation_s`` passes (then the
last stretch is "not judged" and the report's safety claims over it are "not tested"). Events:
``final_observation_start`` and ``final_observation_end`` (``judged``, ``reason``, ``excess_k``,
``observed_s``, ``judged_through_s``: the protocol's end, the time the judgement covers).

Abuse tests (nail penetration) are left out: their rests after the abuse are the observation.
SIGTERM (seen within one sampling period) or SIGINT ends it, not judged. Times in test seconds.
"""

from __future__ import annotations

import logging

from bench.engine.counters import _StepState
from bench.engine.services import EngineServices
from bench.safety.last_stretch import LastStretchJudge, LastStretchRule, LastStretchVerdict
from bench.safety.supervisor import Trip
from drivers.errors import InstrumentError
from protocols.steps import Step

logger = logging.getLogger("bench.engine.core")

#: Sampling period of the observation, s (or the protocol's, if longer): with the output off the
#: rest rules' windows (30 s of voltage, 60-120 s blocks of temperature) still get 3 or more samples
#: each, and a hard short still steps the voltage between two samples.
OBSERVATION_PERIOD_S = 10.0


def final_observation(engine: EngineServices) -> Trip | None:
    """Observe the cell with the output off after the protocol; a trip if a rule trips."""
    limits = engine.protocol.limits
    max_s = limits.final_observation_s
    if engine.abuse is not None:
        return None
    engine.stop_output()
    start = engine.now()
    # the supervisor's judge has followed the protocol's last rest, if it ended on one
    rule = next((r for r in engine.supervisor.rules if isinstance(r, LastStretchRule)), None)
    if rule is not None:
        judge = rule.judge
    else:
        judge = LastStretchJudge(limits.short_rest_heating_k if limits.short_rest_heating_k > 0 else 2.0,
                                 tolerance_k=limits.window_tolerance_k if limits.window_tolerance_k > 0 else 1.0)
        judge.start(start)
    engine.writer.event(start, "final_observation_start", engine.step_count,
                        f"final observation: output off, up to {max_s:.0f} s, until the cell is judged",
                        {"max_s": max_s})
    verdict: LastStretchVerdict | None = None
    trip: Trip | None = None
    if max_s <= 0:
        verdict = LastStretchVerdict(False, "no final observation (limits: final_observation_s = 0)")
    elif engine.bench.thermometer is None:
        verdict = LastStretchVerdict(False, "no thermometer: the heat balance cannot judge the last stretch")
    else:
        verdict, trip = _observe(engine, judge, start, max_s, fed=rule is not None)
    if verdict is None:
        verdict = judge.unjudged(engine.now() - start)
    if trip is None:
        engine.writer.event(engine.now(), "final_observation_end", engine.step_count, verdict.reason, {
            "judged": verdict.judged, "reason": verdict.reason, "excess_k": verdict.excess_k,
            "observed_s": engine.now() - start, "judged_through_s": start if verdict.judged else None})
        (logger.info if verdict.judged else logger.warning)("final observation: %s", verdict.reason)
    return trip


def _observe(engine: EngineServices, judge: LastStretchJudge, start: float, max_s: float,
             *, fed: bool) -> tuple[LastStretchVerdict | None, Trip | None]:
    """Sample until judged (a clean window of blocks that includes one after ``start``), a trip,
    an abort or ``max_s``; ``fed``: the supervisor feeds ``judge`` (its rule), else this does."""
    clock = engine.bench.clock
    control = engine.control
    period = max(engine.protocol.period_s, OBSERVATION_PERIOD_S)
    rest = Step(kind="rest", text="final observation", duration_s=max_s, period_s=period)
    state = _StepState(start_s=start)
    engine.supervisor.begin_step(rest, start)
    engine.step_count += 1
    end = start + max_s
    ready_s = start + judge.block_s  # a clean window must include a block after the protocol's end
    blind_s = start + judge.settle_s + 2.0 * judge.block_s
    deadline = clock.now_s()
    try:
        while engine.now() < end:
            deadline += period
            clock.sleep(deadline - clock.now_s())  # SIGTERM is seen within one period
            if control.abort_wanted:
                return LastStretchVerdict(False, "final observation aborted by the operator (SIGTERM)"), None
            try:
                sample = engine.acquire(-1, rest, state)
            except InstrumentError as exc:  # a reading lost: the observation goes on
                logger.error("final observation: %s", exc)
                continue
            trip = engine.supervisor.check(sample)
            engine.log_latest()
            if trip is not None:
                return None, trip
            if not fed:
                judge.add(sample)
            if judge.verdict_s >= ready_s and judge.verdict is not None:  # (NaN: not yet)
                return judge.verdict, None
            if sample.time_s >= blind_s and judge.blind(sample.time_s):
                return judge.unjudged(engine.now() - start), None
    except KeyboardInterrupt:
        return LastStretchVerdict(False, "final observation aborted by the operator (SIGINT)"), None
    return None, None
