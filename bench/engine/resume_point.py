"""The engine's crash-resume side: the journal it writes and the state it restores.

The journal row (written by the run file at every flush, see bench.runfile.writer) holds the plan
position (``steps_done``: finished plan steps, the rows of ``/steps``), loop counters and
variables, the cycle's counters and SOC estimate, the chamber setpoint, the step in progress with
its counters, the last sample and, on the simulated bench, the simulated world.

Resuming replays the finished steps' recorded results into a fresh plan (so loop conditions and
Python protocols take the same decisions), checks each replayed step against the file, restores
the journaled variables and counters, and continues the interrupted step with its counters: its
time limit counts the time already run (an outage on a real bench is not step time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bench.engine.counters import _Counters, _StepState, result_from_step_row
from bench.engine.services import EngineServices
from bench.sample import Sample
from protocols.errors import ProtocolError
from protocols.plan import Plan, PlannedStep


@dataclass
class ResumePoint:
    """Where an interrupted run continues (built by :func:`bench.engine.resume.resume_point`).

    ``journal``: the last journal row; ``finished``: the ``/steps`` rows of the finished plan
    steps, in order; ``test_time_s``: test time at which the run continues; ``seamless``: the
    physics continues exactly where the journal left it (simulated bench), so no time is lost.
    """

    journal: dict[str, Any]
    finished: list[dict[str, Any]]
    test_time_s: float
    unix0: float
    seamless: bool



class Journal:
    """The engine's journal (what a flush records for ``bench resume``) and the restore of a
    resumed run; a collaborator of the engine that never imports it."""

    def __init__(self, engine: EngineServices, resume: ResumePoint | None) -> None:
        self._engine = engine
        self.resume = resume

    def start_plan(self, plan: Plan) -> tuple[PlannedStep | None, _StepState | None]:
        """The first step to run; when resuming, replay the finished steps and restore state."""
        engine = self._engine
        try:
            planned: PlannedStep | None = next(plan)
        except StopIteration:
            return None, None
        resume = self.resume
        if resume is None:
            return planned, None
        where = engine.protocol.source_path
        for number, row in enumerate(resume.finished, start=1):
            if planned is None or planned.step.index != row["step_index"] or planned.step.text != row["text"]:
                now = f"'{planned.step.text}'" if planned is not None else "the end of the protocol"
                raise ProtocolError(f"the run file does not replay: its finished step {number} is "
                                    f"'{row['text']}', the protocol gives {now}", file=where)
            try:
                planned = plan.send(result_from_step_row(row))
            except StopIteration:
                planned = None
        journal = resume.journal
        ctx = engine.plan_ctx
        assert ctx is not None
        for name, value in (journal.get("plan", {}).get("variables") or {}).items():
            ctx.variables[name] = math.nan if value is None else float(value)
        engine.counters = _Counters.from_json(journal["counters"])
        engine.step_count = int(journal["step_count"])
        engine.steps_done = len(resume.finished)
        engine.spectra = int(journal.get("spectra", 0))
        last = journal.get("last_sample")
        if last:
            current = float(last["current_a"]) if resume.seamless else 0.0
            engine.last = Sample(resume.test_time_s, float(last["voltage_v"]), current, math.nan, math.nan,
                                -1, engine.step_count, engine.counters.cycle)
        setpoint = journal.get("chamber_setpoint_c")
        if setpoint is not None and engine.bench.chamber is not None:
            engine.bench.chamber.set_setpoint_c(float(setpoint))
            engine.bench.chamber.start()
            engine.chamber_setpoint_c = float(setpoint)
        active = journal.get("active")
        if active is None or planned is None:
            return planned, None
        if active["index"] != planned.step.index or active["text"] != planned.step.text:
            raise ProtocolError(f"the journal's step in progress '{active['text']}' is not the protocol's next "
                                f"step '{planned.step.text}'", file=where)
        state = _StepState.from_json(active["state"])
        if not resume.seamless and last:
            state.offset_s += max(0.0, resume.test_time_s - float(last["time_s"]))  # the outage is not step time
        return planned, state

    def state(self) -> tuple[float, dict[str, Any]]:
        """The resume state at this instant (called by the writer at each flush)."""
        engine = self._engine
        now = engine.now()
        counters = engine.counters
        last = engine.last
        state: dict[str, Any] = {
            "version": 2, "next_step": engine.steps_done, "steps_done": engine.steps_done,
            "step_count": engine.step_count, "cycle": counters.cycle, "counters": counters.to_json(),
            "charge_ah": counters.charge_ah, "discharge_ah": counters.discharge_ah,
            "chamber_setpoint_c": engine.chamber_setpoint_c, "spectra": engine.spectra,
            "t0_clock_s": engine.t0, "unix0": engine.unix0, "output_on": engine.output_on,
            "plan": engine.plan_ctx.snapshot() if engine.plan_ctx is not None else {},
            "last_sample": None if last is None else
            {"time_s": last.time_s, "voltage_v": last.voltage_v, "current_a": last.current_a},
            "active": None,
        }
        if engine.active is not None:
            planned, step_state = engine.active
            state["active"] = {"index": planned.step.index, "text": planned.step.text,
                               "state": step_state.to_json()}
        if engine.bench.simulation_state is not None:
            state["simulation"] = engine.bench.simulation_state()
        return now, state
