"""The engine's run state as an explicit state machine.

Phases and the transitions allowed between them (anything else is a programming error and
raises :class:`IllegalTransition`)::

    idle -> preparing -> running <-> paused
    running | paused -> tripped -> observing -> finished
    running | paused | preparing -> aborting -> finished   (operator abort)
    running | paused | preparing -> failed -> finished     (instrument failure, protocol error)
    running -> finished                                    (protocol completed)

A tripped run goes to ``observing`` even with no observation window (it leaves it at once).
The phase is recorded on every change with its test time, so a report (or a test) can say
how a run went, not only how it ended.
"""

from __future__ import annotations

from enum import StrEnum


class RunPhase(StrEnum):
    """Where a run is."""

    IDLE = "idle"
    PREPARING = "preparing"
    RUNNING = "running"
    PAUSED = "paused"
    TRIPPED = "tripped"
    OBSERVING = "observing"
    ABORTING = "aborting"
    FAILED = "failed"
    FINISHED = "finished"


#: Allowed transitions: phase -> the phases it may move to.
TRANSITIONS: dict[RunPhase, frozenset[RunPhase]] = {
    RunPhase.IDLE: frozenset({RunPhase.PREPARING}),
    RunPhase.PREPARING: frozenset({RunPhase.RUNNING, RunPhase.ABORTING, RunPhase.FAILED}),
    RunPhase.RUNNING: frozenset({RunPhase.PAUSED, RunPhase.TRIPPED, RunPhase.ABORTING, RunPhase.FAILED,
                                 RunPhase.FINISHED}),
    RunPhase.PAUSED: frozenset({RunPhase.RUNNING, RunPhase.TRIPPED, RunPhase.ABORTING, RunPhase.FAILED}),
    RunPhase.TRIPPED: frozenset({RunPhase.OBSERVING, RunPhase.FAILED}),
    RunPhase.OBSERVING: frozenset({RunPhase.FINISHED, RunPhase.ABORTING}),
    RunPhase.ABORTING: frozenset({RunPhase.FINISHED}),
    RunPhase.FAILED: frozenset({RunPhase.FINISHED}),
    RunPhase.FINISHED: frozenset(),
}


class IllegalTransition(RuntimeError):
    """A move between two phases that the table does not allow."""


class RunStateMachine:
    """The present phase and its history ``[(phase, test time s), ...]``."""

    def __init__(self) -> None:
        self.phase = RunPhase.IDLE
        self.history: list[tuple[RunPhase, float]] = [(RunPhase.IDLE, 0.0)]

    def to(self, phase: RunPhase, time_s: float) -> None:
        """Move to ``phase`` at test time ``time_s`` (s); a move to the present phase is a no-op."""
        if phase is self.phase:
            return
        if phase not in TRANSITIONS[self.phase]:
            raise IllegalTransition(f"run state: {self.phase.value} -> {phase.value} is not allowed")
        self.phase = phase
        self.history.append((phase, time_s))

    def can(self, phase: RunPhase) -> bool:
        """Whether a move to ``phase`` is allowed now."""
        return phase is self.phase or phase in TRANSITIONS[self.phase]
