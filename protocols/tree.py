"""The ``steps:`` list of a protocol file -> a tree of Steps and Loops, numbered depth-first.

Forms of a list item::

    - Charge at 1C until 4.2 V                       a step (PyBaMM string or bench step)
    - step: Discharge at 1C until 2.5 V              a step with options:
      record: {reference_ah: discharge_ah}           measured values kept for later (expressions)
      limits: {temperature_max_c: 45}                tighter safety limits for this step
      period: 0.5 s                                  sampling period of this step
    - repeat: 500                                    a loop (each repetition is a cycle) ...
      until: discharge capacity < 80 % of reference  ... ended early when the condition holds
      steps: [...]
    - [Discharge at 1C until 2.5 V, Rest for 1 hour] a group (PyBaMM's tuple): one cycle
    - when: profile == cccv                          steps included only when a parameter has
      steps: [...]                                   that value (decided when the file loads)

Step indices (``Step.index``) count steps depth-first from 0 in file order, loops (``Loop.index``)
likewise; they are stable for a given file, whatever the run does.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml

from protocols.checks import InstrumentLimits, check_step, check_window
from protocols.errors import ProtocolError
from protocols.expressions import Expression, ExpressionError, check_names, parse_expression
from protocols.grammar import parse_step
from protocols.profiles import ProfileError, replay_error, resolve_replay
from protocols.quantities import QuantityError, parse_quantity
from protocols.steps import CellSpec, Limits, Loop, Node, Step, StepLimits
from protocols.variables import BUILTIN_VARIABLES, STEP_RESULT_NAMES, numeric_parameters
from protocols.yamldoc import Doc

STEP_KEYS = ("step", "record", "limits", "period")
LOOP_KEYS = ("repeat", "until", "steps")
WHEN_KEYS = ("when", "steps")
_WHEN = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(==|!=)\s*(.+?)\s*$")
STEP_LIMIT_KEYS = tuple(f.name for f in dataclasses.fields(StepLimits))


class TreeBuilder:
    """Builds the step tree, numbering steps and loops and checking names as it goes."""

    def __init__(self, doc: Doc, parameters: Mapping[str, str], cell: CellSpec, limits: Limits,
                 instrument: InstrumentLimits | None = None, *,
                 substitutions: Mapping[str, str] | None = None) -> None:
        self.doc = doc
        self.parameters = parameters
        #: What ``{name}`` may name in a step: the parameters and the cell's ``{cell.NAME}``.
        self.subs: Mapping[str, str] = parameters if substitutions is None else substitutions
        #: Every problem found so far (the loader raises them all at the end, sorted).
        self.problems: list[ProtocolError] = []
        #: The chamber setpoint the next step runs at (the last Soak's, in file order), °C.
        self.chamber_c: float | None = None
        self.cell = cell
        self.limits = limits
        self.instrument = instrument
        self.known: set[str] = set(BUILTIN_VARIABLES) | set(numeric_parameters(parameters))
        self.step_count = 0
        self.loop_count = 0
        #: parameter -> (first 'when:' node, the values the file compares it with)
        self.when_values: dict[str, tuple[yaml.Node, set[str]]] = {}

    def check_when_values(self) -> None:
        """Every parameter that picks ``when:`` blocks must hold one of the values compared."""
        for name, (node, values) in self.when_values.items():
            given = str(self.parameters[name]).strip()
            if given not in values:
                raise self.doc.error(node, f"parameter {name} = {given!r} matches no 'when:' block",
                                     f"use one of: {', '.join(sorted(values))}")

    def nodes(self, node: yaml.Node) -> list[Node]:
        """The items of a ``steps:`` sequence."""
        if not isinstance(node, yaml.SequenceNode):
            raise self.doc.error(node, "steps must be a list")
        out: list[Node] = []
        for item in node.value:
            try:
                self._item(item, out)
            except ProtocolError as exc:  # keep going: validation reports every problem
                self.problems.append(exc)
        return out

    def _item(self, item: yaml.Node, out: list[Node]) -> None:
        if isinstance(item, yaml.ScalarNode):
            out.append(self.step(item, item))
        elif isinstance(item, yaml.SequenceNode):
            out.append(self.group(item))
        elif isinstance(item, yaml.MappingNode):
            keys = {str(k.value) for k, _ in item.value}
            if "when" in keys:
                out.extend(self.when(item))
                return
            out.append(self.loop(item) if keys & {"repeat", "until"} and "step" not in keys
                       else self.step_mapping(item))
        else:
            raise self.doc.error(item, "a step is a string like 'Rest for 1 hour', a step mapping or a loop")

    def when(self, item: yaml.MappingNode) -> list[Node]:
        """A conditional block: its steps when ``PARAMETER == VALUE`` (or ``!=``) holds, else none.

        Decided at load time from the parameters (``--set`` included); a value the file never
        compares against is refused, so a typo such as ``--set profile=ccvc`` is not silently
        a run without those steps.
        """
        doc = self.doc
        fields = doc.mapping(item, "conditional block", WHEN_KEYS)
        if "steps" not in fields:
            raise doc.error(item, "a 'when:' block needs 'steps: [...]'")
        node = fields["when"][1]
        match = _WHEN.match(doc.scalar(node, "when"))
        if not match:
            raise doc.error(node, "when: must read 'PARAMETER == VALUE' or 'PARAMETER != VALUE'",
                            "e.g. 'when: profile == cccv'")
        name, op, value = match.groups()
        if name not in self.parameters:
            raise doc.error(node, f"when: unknown parameter {name!r}", "declare it under 'parameters:'")
        self.when_values.setdefault(name, (node, set()))[1].add(value)
        holds = (str(self.parameters[name]).strip() == value) == (op == "==")
        return self.nodes(fields["steps"][1]) if holds else []

    def group(self, item: yaml.SequenceNode) -> Loop:
        index = self._next_loop()
        inner = self.nodes(item)
        if not inner:
            raise self.doc.error(item, "an empty group")
        return Loop(count=1, steps=tuple(inner), line=item.start_mark.line + 1, index=index)

    def loop(self, item: yaml.MappingNode) -> Loop:
        doc = self.doc
        fields = doc.mapping(item, "loop", LOOP_KEYS)
        if "steps" not in fields:
            raise doc.error(item, "a loop needs 'steps: [...]'")
        if "repeat" not in fields:
            raise doc.error(item, "a loop needs 'repeat: N' (with 'until:', N is its maximum)",
                            "e.g. 'repeat: 1000' above 'until: ...'")
        count_node = fields["repeat"][1]
        count_text = doc.substitute(count_node, doc.scalar(count_node, "repeat"), self.subs)
        try:
            count = int(count_text)
        except ValueError:
            raise doc.error(count_node, f"repeat must be a whole number, got {count_text!r}") from None
        if not 1 <= count <= 1_000_000:
            raise doc.error(count_node, f"repeat = {count} is out of range [1, 1000000]")
        index = self._next_loop()
        inner = self.nodes(fields["steps"][1])
        if not inner:
            raise doc.error(fields["steps"][1], "a loop needs at least one step")
        until = None
        if "until" in fields:
            until = self.expression(fields["until"][1], self.known, condition=True)
        return Loop(count=count, steps=tuple(inner), line=item.start_mark.line + 1, until=until, index=index)

    def step_mapping(self, item: yaml.MappingNode) -> Step:
        doc = self.doc
        fields = doc.mapping(item, "step", STEP_KEYS)
        if "step" not in fields:
            raise doc.error(item, "a step mapping needs 'step: <text>'", "e.g. 'step: Discharge at 1C until 2.5 V'")
        text_node = fields["step"][1]
        if not isinstance(text_node, yaml.ScalarNode):
            raise doc.error(text_node, "step must be a single string")
        period_s = None
        if "period" in fields:
            period_node = fields["period"][1]
            text = doc.substitute(period_node, doc.scalar(period_node, "period"), self.subs)
            try:
                quantity = parse_quantity(text)
            except QuantityError as exc:
                raise doc.error(period_node, f"period: {exc}") from None
            if quantity.dimension != "time" or not 0.001 <= quantity.value <= 3600:
                raise doc.error(period_node, f"period must be a time between 1 ms and 1 h, got {text!r}")
            period_s = quantity.value
        own_limits = None
        if "limits" in fields:
            values = {key: doc.number(v, f"limits.{key}", -100.0, 1e5)
                      for key, (_k, v) in doc.mapping(fields["limits"][1], "step limits", STEP_LIMIT_KEYS).items()}
            own_limits = StepLimits(**values)
        step = self.step(text_node, item, period_s=period_s, limits=own_limits)
        if "record" in fields:
            records = []
            for name, (key_node, value_node) in doc.mapping(fields["record"][1], "record",
                                                            _keys(fields["record"][1])).items():
                if not name.isidentifier() or name in STEP_RESULT_NAMES or name in BUILTIN_VARIABLES:
                    raise doc.error(key_node, f"cannot record into {name!r}",
                                    "use a new name such as reference_ah" if name.isidentifier()
                                    else "names are letters, digits and _")
                expression = self.expression(value_node, self.known | set(STEP_RESULT_NAMES) | set(step_extras(step)),
                                             condition=False)
                records.append((name, expression))
            for name, _ in records:
                self.known.add(name)
            step = dataclasses.replace(step, record=tuple(records))
        return step

    def step(self, node: yaml.ScalarNode, where: yaml.Node, *, period_s: float | None = None,
             limits: StepLimits | None = None) -> Step:
        """Parse one step string at ``node``; options from its mapping (``where``)."""
        doc = self.doc
        raw = str(node.value)
        text = doc.substitute(node, raw, self.subs)
        line = node.start_mark.line + 1
        col0 = node.start_mark.column + (1 if node.style in ("'", '"') else 0)
        try:
            step = parse_step(text, capacity_ah=self.cell.capacity_ah)
        except ProtocolError as exc:
            self.problems.append(exc.located(file=doc.file, line=line, col_offset=col0 if text == raw else 0))
            step = Step(kind="rest", text=text, duration_s=0.0)  # a stand-in: the file is invalid anyway
        if period_s is not None and step.period_s is None:
            step = dataclasses.replace(step, period_s=period_s)
        step = dataclasses.replace(step, line=line, col=node.start_mark.column + 1, limits=limits,
                                   index=self.step_count)
        self.step_count += 1
        if step.replay is not None:
            step = self._load_replay(step, raw, col0, line)
        for problem in (check_step(step, self.cell, self.limits, self.instrument),
                        check_window(step, self.cell, self.chamber_c)):
            if problem is not None:
                self.problems.append(doc.error(node, problem.message, problem.suggestion))
        if step.kind == "soak" and step.temperature_c is not None:
            self.chamber_c = step.temperature_c
        return step

    def _load_replay(self, step: Step, raw: str, col0: int, line: int) -> Step:
        """Load a Replay step's profile (relative to the protocol file); a problem is recorded at
        the profile's name (file:line:col) and the step stands in as a zero-length rest."""
        spec = step.replay
        assert spec is not None
        found = raw.find(spec.source)
        col = col0 + found + 1 if found >= 0 else step.col
        base = Path(self.doc.file).resolve().parent if self.doc.file and self.doc.file != "<string>" else Path.cwd()
        try:
            loaded = resolve_replay(spec, base)
        except ProfileError as exc:
            self.problems.append(replay_error(exc, spec, self.doc.file, line, col))
            return dataclasses.replace(step, kind="rest", replay=None, duration_s=0.0, until=())
        until = step.until
        if loaded.mean() > 0:  # a profile that charges on net ends on a rising voltage
            until = tuple(dataclasses.replace(c, op=">=") if c.quantity == "voltage_v" else c for c in until)
        duration = step.duration_s
        if duration is None and not until and not loaded.repeat:
            duration = loaded.duration_s
        return dataclasses.replace(step, replay=loaded, until=until, duration_s=duration)

    def expression(self, node: yaml.Node, known: Iterable[str], *, condition: bool) -> Expression:
        doc = self.doc
        text = doc.substitute(node, doc.scalar(node, "expression"), self.subs)
        col0 = node.start_mark.column + (1 if getattr(node, "style", None) in ("'", '"') else 0)
        try:
            expression = parse_expression(text)
            check_names(expression, known)
        except ExpressionError as exc:
            raise ProtocolError(exc.message, file=doc.file, line=node.start_mark.line + 1,
                                col=col0 + exc.col, suggestion=exc.suggestion) from None
        if condition and not expression.is_condition:
            raise doc.error(node, f"{text!r} is a value, not a condition", "compare it, e.g. 'x < 0.8 * reference_ah'")
        if not condition and expression.is_condition:
            raise doc.error(node, f"{text!r} is a condition, not a value", "record a number, e.g. 'discharge_ah'")
        return expression

    def _next_loop(self) -> int:
        self.loop_count += 1
        return self.loop_count - 1


def step_extras(step: Step) -> tuple[str, ...]:
    """Result values a step kind adds to STEP_RESULT_NAMES (an EIS step reports its fit)."""
    return ("r0_ohm", "r_ct_ohm") if step.kind == "eis" else ()


def _keys(node: yaml.Node) -> tuple[str, ...]:
    if isinstance(node, yaml.MappingNode):
        return tuple(str(k.value) for k, _ in node.value)
    return ()
