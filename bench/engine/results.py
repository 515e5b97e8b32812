"""What an engine run reports: how it ended (:class:`RunStatus`, :class:`RunResult`) and what a
progress display reads while it runs (:class:`Progress`). Times in s, voltages in V, currents in A."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bench.safety.supervisor import Trip


class RunStatus(StrEnum):
    """How a run ended; maps to the CLI exit code."""

    COMPLETED = "completed"
    SAFETY_TRIP = "safety_trip"
    INSTRUMENT_FAILURE = "instrument_failure"
    ABORTED = "aborted"
    #: The run file could not be written (disk full, I/O error): output off, run stopped.
    WRITE_FAILURE = "write_failure"


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
