"""Protocol -> :class:`DelegatedProgram`: what a cycler that runs its own step file can run.

A protocol's step tree becomes a flat list of cycler steps: CC, CV, CP and rest steps with their
end conditions (``for`` -> step time, ``until`` voltage / current / capacity / energy), loops
with a fixed count -> a ``cycle`` step jumping back, pulse trains unrolled into CC / rest pairs,
and a soak of fixed duration -> a rest on the cycler whose chamber setpoint the bench sets
(``chamber_setpoint_c``). The protocol's limits become the cycler's own protection
(:class:`DelegatedLimits`); each step's sampling period its record period.

What the cycler cannot decide on its own is reported as a problem with the protocol's
``file:line:col`` (a program with problems is refused): a loop ``until`` on measured values, a
Python protocol, an EIS sweep, a profile replay, an end on SOC / temperature / dT/dt / chamber
stability, an end that must hold for a while, a soak ramp, an abuse test with its operator
prompts. A format's own limits (:class:`drivers.delegated.capabilities.FormatCapabilities`) are
checked on top by :func:`compile_for`.

Units: SI (A, V, W, s, Ah, Wh, °C); a positive current charges the cell.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

from drivers.delegated.capabilities import FormatCapabilities
from drivers.delegated.program import DelegatedEnd, DelegatedLimits, DelegatedProgram, DelegatedStep
from protocols.errors import ProtocolError, ProtocolErrors
from protocols.steps import EndCondition, Loop, Node, Protocol, Step

#: End quantities the bench computes and the cycler cannot: the reason shown for each.
PC_ONLY_ENDS = {
    "soc": "an SOC end is the bench's own estimate (the cycler counts Ah, not SOC)",
    "temperature_c": "a cell-temperature end needs the bench's thermometer",
    "dtdt_k_per_s": "a dT/dt end is computed by the bench",
    "stable_within_k": "a soak ended by the cell's temperature reaching the chamber's is judged by the bench",
}
#: Most pulses unrolled into cycler steps; a longer train is refused.
MAX_PULSES = 50
#: Step-file writers by cycler driver name: the module exports ``CAPABILITIES`` and
#: ``write_step_file(program) -> bytes`` (see drivers/delegated/capabilities.py).
WRITERS: dict[str, str] = {
    "neware_bts": "drivers.neware_stepfile",
    "arbin_schedule": "drivers.arbin_schedule",
    "maccor_procedure": "drivers.maccor_procedure",
}


@dataclass(frozen=True)
class StepFormat:
    """A cycler's step-file format: its capability table and its writer."""

    cycler: str
    #: The writer's table (a FormatCapabilities, or the writer's own shape with ``step_format``).
    capabilities: Any
    module: ModuleType

    def write(self, program: DelegatedProgram) -> bytes:
        """The step file's bytes."""
        data: bytes = self.module.write_step_file(program)
        return data

    def problems(self, program: DelegatedProgram) -> list[str]:
        """What the format cannot express of ``program``: the writer module's own ``problems()``
        when it has one, else its capability table's."""
        check = getattr(self.module, "problems", None)
        found: list[str] = list(check(program)) if check is not None else self.capabilities.problems(program)
        return found

    @property
    def first_step_number(self) -> int:
        """The number the cycler gives the program's first step (Neware ``Step_ID``: 1); a
        record's step number minus this is the index into ``DelegatedProgram.steps``."""
        return int(getattr(self.module, "FIRST_STEP_NUMBER", 1))


def step_format(cycler: str) -> StepFormat:
    """The step-file format of ``cycler`` (a driver name); ValueError names the ones known."""
    name = WRITERS.get(cycler)
    if name is None:
        raise ValueError(f"--cycler {cycler}: not a cycler that runs its own step files "
                         f"(delegated execution: {', '.join(sorted(WRITERS))})")
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        raise ValueError(f"--cycler {cycler}: its step-file writer {name} is not available ({exc})") from None
    return StepFormat(cycler, module.CAPABILITIES, module)  # CAPABILITIES: the writer's own table


def compile_protocol(protocol: Protocol) -> DelegatedProgram:
    """The protocol's program; its ``problems`` list what no step file can carry (see module doc)."""
    return _Compiler(protocol).run()


def compile_for(protocol: Protocol, capabilities: FormatCapabilities | StepFormat) -> DelegatedProgram:
    """The program with the format's problems added (sorted by place, one line each)."""
    program = compile_protocol(protocol)
    found = list(capabilities.problems(program)) if program.steps else []
    placed = {p.rsplit(":", 1)[0] for p in (q.split(": ", 1)[0] for q in program.problems)}
    # a line the compiler already refused is not refused again for the format (one cause, one line)
    problems = list(program.problems) + [p for p in found if p.split(": ", 1)[0].rsplit(":", 1)[0] not in placed]
    return replace(program, problems=tuple(sorted(dict.fromkeys(problems), key=_place)))


def refusal(problems: tuple[str, ...] | list[str]) -> ProtocolErrors:
    """The problems as one error (``str()``: one ``file:line:col: message`` line each; exit 2)."""
    errors = []
    for problem in problems:
        file, line, col, _text = _place(problem)
        message = problem.split(": ", 1)[1] if line else problem
        errors.append(ProtocolError(message, file=file if line else "", line=line, col=col))
    return ProtocolErrors(errors)


def _place(problem: str) -> tuple[str, int, int, str]:
    """Sort key ``(file, line, col, text)`` of a ``file:line:col: message`` problem."""
    parts = problem.split(":", 3)
    try:
        return parts[0], int(parts[1]), int(parts[2]), problem
    except (IndexError, ValueError):
        return problem, 0, 0, problem


class _Compiler:
    """One compilation (steps and problems accumulate here)."""

    def __init__(self, protocol: Protocol) -> None:
        self.protocol = protocol
        self.file = protocol.source_path or protocol.name
        self.lines = protocol.source_text.splitlines()
        self.steps: list[DelegatedStep] = []
        self.problems: list[str] = []

    def run(self) -> DelegatedProgram:
        protocol = self.protocol
        limits = protocol.limits
        program_limits = DelegatedLimits(voltage_max_v=limits.voltage_max_v, voltage_min_v=limits.voltage_min_v,
                                         current_max_a=limits.current_max_a, temperature_max_c=limits.temperature_max_c)
        if protocol.generator is not None:
            self._problem(1, 1, "a Python protocol decides its next step on the PC; a cycler's step file "
                                "cannot (write it as a YAML protocol to run it delegated)")
        elif protocol.abuse:
            self._problem(1, 1, f"the abuse test {protocol.abuse.get('test', '')!r} needs the bench's operator "
                                "prompts and chamber control step by step")
        else:
            self._nodes(protocol.steps)
            self.steps.append(DelegatedStep(kind="end", source=f"{self.file}:{len(self.lines) or 1}:1"))
        problems = sorted(dict.fromkeys(self.problems), key=_place)  # a YAML anchor repeats its steps
        return DelegatedProgram(name=protocol.name, steps=tuple(self.steps), limits=program_limits,
                                problems=tuple(problems))

    # -- tree --------------------------------------------------------------------------------
    def _nodes(self, nodes: tuple[Node, ...]) -> None:
        for node in nodes:
            if isinstance(node, Loop):
                self._loop(node)
            else:
                self._step(node)

    def _loop(self, loop: Loop) -> None:
        line, col = self._loop_place(loop, "repeat")
        if loop.until is not None:
            until_line, until_col = self._loop_place(loop, "until")
            self._problem(until_line, until_col,
                          f"a loop ending on a measured value ('until: {loop.until.text}') is decided on the "
                          "PC; a step file repeats a fixed count (drop 'until' or run it live)")
        first = len(self.steps)
        self._nodes(loop.steps)
        if len(self.steps) == first or loop.count <= 1:
            return
        self.steps.append(DelegatedStep(kind="cycle", loop_to=first, loop_count=loop.count,
                                        source=f"{self.file}:{line}:{col}", protocol_step=-1))

    def _step(self, step: Step) -> None:
        where = f"{self.file}:{step.line}:{step.col or 1}"
        period = float(step.period_s or self.protocol.period_s)

        def add(kind: str, ends: tuple[DelegatedEnd, ...], **setpoints: Any) -> None:
            self.steps.append(DelegatedStep(kind=kind, ends=ends, record_period_s=period, source=where,
                                            protocol_step=step.index, **setpoints))

        kind = step.kind
        ends = self._ends(step) if kind in ("cc", "cv", "cp", "rest", "soak") else ()
        if kind == "cc":
            add("cc", ends, current_a=step.current_a)
        elif kind == "cv":
            add("cv", ends, voltage_v=step.voltage_v, current_a=self._cv_limit_a(step))
        elif kind == "cp":
            add("cp", ends, power_w=step.power_w)
        elif kind == "rest":
            add("rest", ends)
        elif kind == "soak":
            if step.ramp_k_per_s:
                self._problem(step.line, step.col, "a soak that ramps the chamber needs the PC to move the "
                                                   "setpoint; only a soak to a fixed setpoint runs delegated")
            add("rest", ends, chamber_setpoint_c=step.temperature_c)
        elif kind == "pulse" and step.pulse is not None:
            self._pulses(step, add)
        elif kind == "eis":
            self._problem(step.line, step.col, "an EIS sweep is measured by the bench's impedance analyser "
                                               "between cycler steps; a step file cannot hand over to it")
        elif kind == "replay":
            self._problem(step.line, step.col, "a profile replay sets the current from the PC sample by sample "
                                               "(run it live)")
        else:
            self._problem(step.line, step.col, f"a {kind} step has no delegated form")

    def _pulses(self, step: Step, add: Callable[..., None]) -> None:
        """A pulse train unrolled: each pulse a CC step, each pause a rest (or CC) step, all of
        fixed length and all mapped to the pulse step."""
        pulse = step.pulse
        assert pulse is not None
        if pulse.count > MAX_PULSES:
            self._problem(step.line, step.col, f"{pulse.count} pulses: at most {MAX_PULSES} are unrolled into "
                                               "cycler steps")
            return
        for _ in range(pulse.count):
            add("cc", (DelegatedEnd("time_s", ">=", pulse.on_s),), current_a=pulse.current_a)
            if pulse.off_s > 0:
                pause = (DelegatedEnd("time_s", ">=", pulse.off_s),)
                if pulse.off_current_a == 0:
                    add("rest", pause)
                else:
                    add("cc", pause, current_a=pulse.off_current_a)
        if step.until:
            self._problem(step.line, step.col, "a pulse train ended by a condition: each pulse is a cycler "
                                               "step of fixed length")

    # -- end conditions ------------------------------------------------------------------------
    def _ends(self, step: Step) -> tuple[DelegatedEnd, ...]:
        ends: list[DelegatedEnd] = []
        if step.duration_s is not None:
            ends.append(DelegatedEnd("time_s", ">=", float(step.duration_s)))
        for condition in step.until:
            end = self._end(step, condition)
            if end is not None:
                ends.append(end)
        if not ends and not step.until:
            self._problem(step.line, step.col, "a step with no end condition the cycler can judge never ends "
                                               "on the cycler")
        return tuple(ends)

    def _end(self, step: Step, condition: EndCondition) -> DelegatedEnd | None:
        col = self._col_of(step.line, condition.text) or step.col
        reason = PC_ONLY_ENDS.get(condition.quantity)
        if reason is not None:
            self._problem(step.line, col, f"'{condition.describe()}': {reason}")
            return None
        if condition.hold_s:
            self._problem(step.line, col, f"'{condition.describe()}' must hold for {condition.hold_s:g} s: the "
                                          "bench judges held conditions")
            return None
        return DelegatedEnd(condition.quantity, condition.op, float(condition.value))

    def _cv_limit_a(self, step: Step) -> float:
        """A CV step's current limit, A: the charge rating for a hold above mid-voltage (a charge
        hold, as the live engine's), else the discharge rating."""
        cell = self.protocol.cell
        charging = float(step.voltage_v or 0.0) >= 0.5 * (cell.voltage_max_v + cell.voltage_min_v)
        return cell.charge_current_max_a if charging else cell.current_max_a

    # -- places --------------------------------------------------------------------------------
    def _problem(self, line: int, col: int, message: str) -> None:
        self.problems.append(f"{self.file}:{line or 1}:{col or 1}: {message}")

    def _col_of(self, line: int, text: str) -> int:
        """1-based column of ``text`` on ``line`` of the source (0 when not found)."""
        if not text or not 0 < line <= len(self.lines):
            return 0
        at = self.lines[line - 1].find(text)
        return at + 1 if at >= 0 else 0

    def _loop_place(self, loop: Loop, key: str) -> tuple[int, int]:
        """(line, col) of ``key:`` of the loop (``repeat`` or ``until``), near the loop's line."""
        for line in range(max(1, loop.line), min(len(self.lines), loop.line + 4) + 1):
            at = self.lines[line - 1].find(f"{key}:")
            if at >= 0:
                return line, at + 1
        return loop.line, 1
