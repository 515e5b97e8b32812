"""Walking a protocol: which step runs next, in which cycle, given what earlier steps measured.

A *plan* is a generator: it yields :class:`PlannedStep` and is sent each step's
:class:`StepResult`, so loop conditions (``until: discharge capacity < 80 % of reference``) and
Python protocols see what was measured. The engine, the estimator (``bench validate``) and
``bench resume`` (which replays the finished steps into a fresh plan) all walk the same plan.

Cycle counting: a cycle is one charge and the discharge that follows it, or what the protocol
declares. The cycle number starts at 1 and goes up whenever the present cycle already holds a
step and (a) a loop repetition starts, (b) a step follows a loop that ended, (c) a Python
protocol calls ``ctx.next_cycle()`` (it then declares its cycles: (d) is off), or (d) a charging step starts when the present cycle holds a
charge and a discharge after it (so two charge-discharge pairs written one after the other, as in ``cold_capacity``,
are two cycles, never one with the charges and discharges summed). So a preconditioning block
before a loop is cycle 1, each repetition of the innermost loop is a cycle of its own (or more,
when it holds several charge-discharge pairs), and the steps after a loop are the next cycle.

Variables an expression can use (all SI, NaN until measured):

* ``cycle``, ``repetition`` (of the innermost loop, 1-based), ``step_count``, ``test_time_s``;
* ``discharge_capacity_ah`` / ``discharge_energy_wh``: the last CC or CP step that discharged
  the cell (the report's metric of the same name);
* ``charge_capacity_ah``, ``cycle_charge_ah``, ``cycle_discharge_ah``, ``cycle_charge_wh``,
  ``cycle_discharge_wh``, ``coulombic_efficiency``, ``energy_efficiency``: the present cycle;
* numeric parameters by name, and everything a step recorded (``record: {name: expression}``,
  evaluated on the step's result: ``discharge_ah``, ``charge_ah``, ``duration_s``, ...).
"""

from __future__ import annotations

import math
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any

from protocols.errors import ProtocolError
from protocols.expressions import Expression, ExpressionError
from protocols.steps import Loop, Node, Protocol, Step
from protocols.variables import BUILTIN_VARIABLES, EIS_RESULT_NAMES, numeric_parameters


@dataclass(frozen=True)
class PlannedStep:
    """The next step to run: the step, its cycle, and the repetition of each enclosing loop."""

    step: Step
    cycle: int
    loops: tuple[tuple[int, int], ...] = ()  # (loop index, repetition 1-based), outermost first


@dataclass(frozen=True)
class StepResult:
    """What a finished step measured (Ah, Wh magnitudes; V, A, °C; times in s of test time)."""

    end_reason: str
    start_time_s: float = 0.0
    end_time_s: float = 0.0
    charge_ah: float = 0.0
    discharge_ah: float = 0.0
    charge_wh: float = 0.0
    discharge_wh: float = 0.0
    voltage_start_v: float = math.nan
    voltage_end_v: float = math.nan
    current_end_a: float = math.nan
    temperature_max_c: float = math.nan
    temperature_min_c: float = math.nan
    extra: Mapping[str, float] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        """Step duration, s."""
        return self.end_time_s - self.start_time_s

    def values(self) -> dict[str, float]:
        """The names a ``record:`` expression can use."""
        out = {
            "charge_ah": self.charge_ah, "discharge_ah": self.discharge_ah, "charge_wh": self.charge_wh,
            "discharge_wh": self.discharge_wh, "capacity_ah": max(self.charge_ah, self.discharge_ah),
            "energy_wh": max(self.charge_wh, self.discharge_wh), "duration_s": self.duration_s,
            "voltage_start_v": self.voltage_start_v, "voltage_end_v": self.voltage_end_v,
            "current_end_a": self.current_end_a, "temperature_max_c": self.temperature_max_c,
            "temperature_min_c": self.temperature_min_c,
        }
        for name in EIS_RESULT_NAMES:
            out[name] = float(self.extra.get(name, math.nan))
        out.update({k: float(v) for k, v in self.extra.items() if isinstance(v, (int, float))})
        return out


class PlanContext:
    """The walk's state: cycle, loop repetitions, variables. Shared with Python protocols."""

    def __init__(self, protocol: Protocol) -> None:
        self.protocol = protocol
        self.cycle = 1
        self.steps_in_cycle = 0
        #: The present cycle holds a charge, and a discharge after it (a charge then starts a new cycle).
        self.charged_in_cycle = False
        self.discharged_in_cycle = False
        #: A Python protocol that calls ``ctx.next_cycle()`` declares its own cycles (rule (d) off).
        self.cycles_declared = False
        self.step_count = 0
        self.loops: list[list[int]] = []
        self.last: StepResult | None = None
        self._after_loop = False
        self.variables: dict[str, float] = {name: math.nan for name in BUILTIN_VARIABLES}
        self.variables.update(numeric_parameters(protocol.parameters))
        self._cycle_totals = [0.0, 0.0, 0.0, 0.0]  # charge Ah, discharge Ah, charge Wh, discharge Wh
        self._refresh()

    # -- cycles and loops ----------------------------------------------------------------------
    def next_cycle(self) -> None:
        """Start a new cycle unless the present one holds no step yet."""
        if self.steps_in_cycle:
            self.cycle += 1
            self.steps_in_cycle = 0
            self.charged_in_cycle = self.discharged_in_cycle = False
            self._cycle_totals = [0.0, 0.0, 0.0, 0.0]
            self._refresh()

    def enter_loop(self, loop: Loop) -> None:
        """A loop starts (its repetition counter is pushed)."""
        self.loops.append([loop.index, 0])

    def next_repetition(self) -> None:
        """The innermost loop starts its next repetition (and a new cycle)."""
        self.loops[-1][1] += 1
        self._after_loop = False
        self.next_cycle()
        self._refresh()

    def leave_loop(self) -> None:
        """The innermost loop ended."""
        self.loops.pop()
        self._after_loop = True
        self._refresh()

    def planned(self, step: Step) -> PlannedStep:
        """The PlannedStep for ``step`` now (counts it in the present cycle)."""
        if self._after_loop:
            self._after_loop = False
            self.next_cycle()
        elif self.discharged_in_cycle and step.is_charge and not self.cycles_declared:
            self.next_cycle()
        self.steps_in_cycle += 1
        return PlannedStep(step, self.cycle, tuple((i, r) for i, r in self.loops))

    # -- results -------------------------------------------------------------------------------
    def finish(self, step: Step, result: StepResult) -> None:
        """Account ``result`` of ``step``: built-in variables, then the step's ``record:``."""
        if not isinstance(result, StepResult):
            raise TypeError(f"a plan must be sent a StepResult, got {type(result).__name__}")
        self.step_count += 1
        self.last = result
        totals = self._cycle_totals
        totals[0] += result.charge_ah
        totals[1] += result.discharge_ah
        totals[2] += result.charge_wh
        totals[3] += result.discharge_wh
        variables = self.variables
        if step.kind in ("cc", "cv", "cp", "pulse") and result.charge_ah > result.discharge_ah:
            self.charged_in_cycle = True
        elif (self.charged_in_cycle and step.kind in ("cc", "cp", "pulse", "replay")
              and result.discharge_ah > result.charge_ah):
            self.discharged_in_cycle = True
        if step.kind in ("cc", "cp") and result.discharge_ah > result.charge_ah:
            variables["discharge_capacity_ah"] = result.discharge_ah
            variables["discharge_energy_wh"] = result.discharge_wh
        variables["test_time_s"] = result.end_time_s
        self._refresh()
        if step.record:
            env = dict(variables)
            env.update(result.values())
            for name, expression in step.record:
                variables[name] = float(self.evaluate(expression, step.line, env))

    def evaluate(self, expression: Expression, line: int, env: Mapping[str, float] | None = None) -> float | bool:
        """Evaluate ``expression`` on the variables; errors name the protocol file and line."""
        try:
            return expression.evaluate(self.variables if env is None else env)
        except ExpressionError as exc:
            raise ProtocolError(f"{expression.text!r}: {exc.message}", file=self.protocol.source_path,
                                line=line, suggestion=exc.suggestion) from None

    def _refresh(self) -> None:
        charge_ah, discharge_ah, charge_wh, discharge_wh = self._cycle_totals
        v = self.variables
        v["cycle"] = float(self.cycle)
        v["repetition"] = float(self.loops[-1][1]) if self.loops else 0.0
        v["step_count"] = float(self.step_count)
        v["charge_capacity_ah"] = v["cycle_charge_ah"] = charge_ah
        v["cycle_discharge_ah"] = discharge_ah
        v["cycle_charge_wh"] = charge_wh
        v["cycle_discharge_wh"] = discharge_wh
        v["coulombic_efficiency"] = discharge_ah / charge_ah if charge_ah > 0 else math.nan
        v["energy_efficiency"] = discharge_wh / charge_wh if charge_wh > 0 else math.nan

    def snapshot(self) -> dict[str, Any]:
        """Loop counters and variables for the journal (JSON-safe; NaN as null)."""
        return {
            "cycle": self.cycle, "loops": [list(x) for x in self.loops],
            "variables": {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in self.variables.items()},
        }


Plan = Generator[PlannedStep, StepResult, None]


def walk_tree(nodes: tuple[Node, ...], ctx: PlanContext) -> Plan:
    """Yield the steps of ``nodes`` in execution order, evaluating loop conditions as it goes."""
    for node in nodes:
        if isinstance(node, Step):
            result = yield ctx.planned(node)
            ctx.finish(node, result)
            continue
        ctx.enter_loop(node)
        for _ in range(node.count):
            ctx.next_repetition()
            yield from walk_tree(node.steps, ctx)
            if node.until is not None and ctx.evaluate(node.until, node.line):
                break
        ctx.leave_loop()
