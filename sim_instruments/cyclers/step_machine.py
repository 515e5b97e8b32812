"""A simulated cycler channel running its own step file on the shared world (Arbin schedules,
Maccor procedures): the part every vendor's simulator shares once its parser has read the file.

Each vendor front end parses its own format into :class:`SimStep` data (what the file says, in the
vendor's terms turned into SI) and hands it to a :class:`StepMachine` bound to one world channel.
The machine runs in a world hook (:meth:`StepMachine.on_sync`): at every sync of the world it
counts the interval that just ended (capacity), logs a record when the step's logging period has
passed, checks the channel's safety limits and the step's end conditions, moves on (through any
zero-time steps: loops, cycle counters) and sets the output stage for the coming interval. It keeps
running whether or not anyone queries it: the server's ticker syncs the world.

Semantics (the common ground of the formats read; each parser says how its file maps):

* kinds ``cc`` (current_a, + charges; voltage_v, if set, caps the charge voltage), ``cccv``
  (current_a up to voltage_v then hold; a negative current discharges down to voltage_v and holds),
  ``cv`` (voltage_v, |current_a| limit), ``rest``, ``loop`` (jump to ``goto_step`` until it has
  jumped ``loop_count - 1`` times, then fall through; its counter clears on exit), ``marker`` (a
  zero-time step that only takes its ends: a Maccor ``Do``), ``advance_cycle``
  (cycle index + 1, then the ends), ``end`` (the test ends: Finished).
* end quantities ``time_s`` (step time), ``voltage_v``, ``current_a`` (magnitude), ``capacity_ah``
  (step, magnitude), ``cycle_index``, ``always``; op ``>=``, ``<=``, ``>``, ``<``; goto a step index,
  :data:`NEXT` or :data:`END`. The first end met (in the file's order) wins.
* safety: voltage above ``voltage_max_v`` or below ``voltage_min_v``, |current| above
  ``current_max_a``: output off, state ``alarm`` with the reason (the cycler's own protection).

Units: s, V, A, Ah, °C.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

NEXT = -1
END = -2
#: Zero-time steps taken in one sync before the machine calls the program a runaway loop.
MAX_JUMPS_PER_SYNC = 1000


@dataclass(frozen=True)
class SimEnd:
    """One end condition: ``quantity op value`` -> go to ``goto`` (a step index, NEXT or END)."""

    quantity: str
    op: str
    value: float
    goto: int = NEXT


@dataclass(frozen=True)
class SimStep:
    """One parsed step (see the module docstring for the kinds)."""

    kind: str
    current_a: float = 0.0
    voltage_v: float | None = None
    ends: tuple[SimEnd, ...] = ()
    record_period_s: float = 0.0
    goto_step: int = NEXT
    loop_count: int = 0
    label: str = ""


@dataclass(frozen=True)
class SimLimits:
    """The channel's own safety limits from the file (None: not set)."""

    voltage_max_v: float | None = None
    voltage_min_v: float | None = None
    current_max_a: float | None = None


@dataclass(frozen=True)
class SimRecord:
    """One logged record: test and step time (s), V, A (+ charge), °C (cell surface), step
    (0-based), cycle index, step capacity (Ah)."""

    test_time_s: float
    step_time_s: float
    voltage_v: float
    current_a: float
    temperature_c: float
    step_index: int
    cycle_index: int
    capacity_ah: float


_OPS = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
        "<": lambda a, b: a < b, "=": lambda a, b: a >= b}


@dataclass
class StepMachine:
    """Runs ``steps`` on world channel ``channel`` (a :class:`~sim_instruments.world.sim_world.SimChannel`)
    from ``start_s``; ``state`` is ``running``, ``finished``, ``stopped`` or ``alarm``."""

    channel: Any
    steps: tuple[SimStep, ...]
    limits: SimLimits
    start_s: float
    test_name: str = ""
    state: str = "running"
    detail: str = ""
    step_index: int = 0
    cycle_index: int = 1
    step_start_s: float = 0.0
    step_capacity_ah: float = 0.0
    records: list[SimRecord] = field(default_factory=list)
    _last_s: float = 0.0
    _last_record_s: float = -math.inf
    _loop_counts: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.step_start_s = self._last_s = self.start_s
        self._enter(0, self.start_s)
        self._settle(self.start_s)

    # -- the world hook ----------------------------------------------------------------------------------
    def on_sync(self, world_now_s: float) -> None:
        """Called at a sync of the world whose state is that of ``world_now_s`` (the previous sync):
        count, log, check, move on, set the output for the coming interval."""
        dt_s = world_now_s - self._last_s
        if self.state != "running" or dt_s <= 0:  # (no interval has passed since the last look)
            return
        src = self.channel.source
        self._last_s = world_now_s
        if src.output_on:
            self.step_capacity_ah += abs(src.actual_current_a) * dt_s / 3600.0
        self._log(world_now_s, force=False)
        if self._unsafe(src):
            return
        self._settle(world_now_s)

    def stop(self, now_s: float, reason: str = "stopped") -> None:
        """Output off; the test ends ``stopped`` (by the operator / a remote command)."""
        if self.state == "running":
            self._log(now_s, force=True)
            self._finish("stopped", reason)

    # -- internals ---------------------------------------------------------------------------------------
    def _log(self, now_s: float, *, force: bool) -> None:
        step = self.steps[self.step_index]
        period = step.record_period_s
        if not force and (period <= 0 or now_s - self._last_record_s < period - 1e-9):
            return
        src = self.channel.source
        current = src.actual_current_a if src.output_on else 0.0
        self.records.append(SimRecord(now_s - self.start_s, now_s - self.step_start_s, src.actual_voltage_v, current,
                                      float(self.channel.cell.temperature_surface_c), self.step_index,
                                      self.cycle_index, self.step_capacity_ah))
        self._last_record_s = now_s

    def _unsafe(self, src: Any) -> bool:
        lim = self.limits
        v, i = src.actual_voltage_v, src.actual_current_a
        reason = ""
        if lim.voltage_max_v is not None and v > lim.voltage_max_v:
            reason = f"voltage {v:.4f} V above the safety limit {lim.voltage_max_v:g} V"
        elif lim.voltage_min_v is not None and src.output_on and v < lim.voltage_min_v:
            reason = f"voltage {v:.4f} V below the safety limit {lim.voltage_min_v:g} V"
        elif lim.current_max_a is not None and abs(i) > lim.current_max_a * (1 + 1e-6):
            reason = f"current {i:.4f} A beyond the safety limit {lim.current_max_a:g} A"
        if reason:
            self._finish("alarm", reason)
            return True
        return False

    def _finish(self, state: str, detail: str) -> None:
        self.channel.source.output_on = False
        self.state, self.detail = state, detail
        logger.info("simulated step file %r: %s (%s)", self.test_name, state, detail)

    def _enter(self, index: int, now_s: float) -> None:
        self.step_index, self.step_start_s, self.step_capacity_ah = index, now_s, 0.0
        self._last_record_s = -math.inf
        if self.steps[index].kind == "advance_cycle":
            self.cycle_index += 1

    def _goto(self, goto: int, now_s: float) -> bool:
        """Move to ``goto``; False when the test ended."""
        target = self.step_index + 1 if goto == NEXT else goto
        if goto == END or target >= len(self.steps):
            self._log(now_s, force=True)
            self._finish("finished", "end of the step file")
            return False
        if self.steps[self.step_index].kind in ("cc", "cccv", "cv", "rest"):
            self._log(now_s, force=True)  # the last record of a step, as cyclers log at a step's end
        self._enter(target, now_s)
        return True

    def _settle(self, now_s: float) -> None:
        """Take every end now met (zero-time steps included), then drive the output."""
        for _ in range(MAX_JUMPS_PER_SYNC):
            step = self.steps[self.step_index]
            if step.kind == "end":
                self._log(now_s, force=True)
                self._finish("finished", "end step")
                return
            if step.kind == "loop":
                done = self._loop_counts.get(self.step_index, 0) + 1
                if done < step.loop_count:
                    self._loop_counts[self.step_index] = done
                    self._enter(step.goto_step, now_s)
                else:
                    self._loop_counts.pop(self.step_index, None)
                    if not self._goto(NEXT, now_s):
                        return
                continue
            goto = self._end_met(step, now_s)
            if goto is None:
                self._drive(step)
                return
            if not self._goto(goto, now_s):
                return
        self._finish("alarm", f"more than {MAX_JUMPS_PER_SYNC} steps without time passing (a loop with no end)")

    def _end_met(self, step: SimStep, now_s: float) -> int | None:
        src = self.channel.source
        values = {"time_s": now_s - self.step_start_s, "voltage_v": src.actual_voltage_v,
                  "current_a": abs(src.actual_current_a), "capacity_ah": self.step_capacity_ah,
                  "cycle_index": float(self.cycle_index), "always": 1.0}
        for end in step.ends:
            if end.quantity in ("voltage_v", "current_a") and now_s == self.step_start_s:
                continue  # a reading taken under the previous step's set point does not end this one
            if _OPS[end.op](values[end.quantity], end.value):
                return end.goto
        return NEXT if step.kind == "advance_cycle" else None

    def _drive(self, step: SimStep) -> None:
        src = self.channel.source
        src.overvoltage_v = src.overcurrent_a = None
        vmax = self.limits.voltage_max_v if self.limits.voltage_max_v is not None else 5.0
        if step.kind == "rest":
            src.function, src.current_a, src.voltage_limit_v = "CURR", 0.0, vmax
        elif step.kind == "cv" or (step.kind == "cccv" and step.current_a < 0):
            src.function, src.voltage_v = "VOLT", float(step.voltage_v or 0.0)
            src.current_limit_a = abs(step.current_a)
        else:  # cc, cccv charge
            src.function, src.current_a = "CURR", step.current_a
            src.voltage_limit_v = step.voltage_v if step.voltage_v is not None else vmax
        src.output_on = True
