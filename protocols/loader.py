"""Load a protocol file (YAML, safe-loaded) into a validated :class:`Protocol`.

Every error names ``file:line:col``. Layout::

    name: capacity_check
    description: ...
    cell:       {preset: nmc_21700, capacity_ah: 5.0, voltage_max_v: 4.2, voltage_min_v: 2.5, current_max_a: 7}
    limits:     {voltage_max_v: 4.25, voltage_min_v: 2.4, current_max_a: 7.35, temperature_max_c: 60}
    parameters: {rate: 1C}                 # used as {rate} in steps; bench run --set rate=C/2
    sampling:   {period_s: 1}
    steps:
      - Charge at {rate} until 4.2 V
      - repeat: 3
        steps: [Discharge at 1C until 2.5 V, Charge at 1C until 4.2 V]
    pass: [discharge_capacity_ah >= 4.5]
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from protocols.errors import ProtocolError
from protocols.grammar import parse_step
from protocols.steps import CellSpec, Limits, Loop, Node, PassCriterion, Protocol, Step

LIBRARY = Path(__file__).parent / "library"
TOP_KEYS = ("name", "description", "cell", "limits", "parameters", "sampling", "steps", "pass", "analysis")
CELL_KEYS = tuple(f.name for f in dataclasses.fields(CellSpec))
LIMIT_KEYS = tuple(f.name for f in dataclasses.fields(Limits))
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_CRITERION = re.compile(r"^\s*(?P<metric>[a-z_][a-z0-9_]*)\s*(?P<op>>=|<=)\s*(?P<value>[-+0-9.eE]+)\s*$")

#: Looks up a cell preset's datasheet values by name (given by the bench that knows the presets).
CellDefaults = Callable[[str], Mapping[str, Any]]


def resolve_protocol_path(name_or_path: str) -> Path:
    """A path as given, or the shipped protocol of that name (``cold_capacity``)."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.exists():
            raise ProtocolError("file not found", file=str(path))
        return path
    shipped = LIBRARY / f"{name_or_path}.yaml"
    if shipped.exists():
        return shipped
    names = sorted(p.stem for p in LIBRARY.glob("*.yaml"))
    close = difflib.get_close_matches(name_or_path, names, n=1)
    hint = f"did you mean '{close[0]}'?" if close else f"shipped protocols: {', '.join(names)}"
    raise ProtocolError("no such protocol file or shipped protocol", file=name_or_path, suggestion=hint)


def shipped_protocols() -> list[str]:
    """Names of the protocols in ``protocols/library``."""
    return sorted(p.stem for p in LIBRARY.glob("*.yaml"))


def load_protocol(
    name_or_path: str,
    overrides: Mapping[str, str] | None = None,
    cell_defaults: CellDefaults | None = None,
) -> Protocol:
    """Read, parse and validate a protocol; ``overrides`` are ``--set name=value`` pairs."""
    path = resolve_protocol_path(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"cannot read: {exc}", file=str(path)) from None
    return parse_protocol(text, file=str(path), overrides=overrides, cell_defaults=cell_defaults)


class _Doc:
    """YAML node helpers that keep line/column for messages."""

    def __init__(self, file: str) -> None:
        self.file = file

    def error(self, node: yaml.Node | None, message: str, suggestion: str = "") -> ProtocolError:
        line = node.start_mark.line + 1 if node is not None else 0
        col = node.start_mark.column + 1 if node is not None else 0
        return ProtocolError(message, file=self.file, line=line, col=col, suggestion=suggestion)

    def mapping(self, node: yaml.Node, what: str, allowed: tuple[str, ...]) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, f"{what} must be a mapping of key: value")
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"allowed: {', '.join(allowed)}"
                raise self.error(key_node, f"unknown key {key!r} in {what}", hint)
            if key in out:
                raise self.error(key_node, f"duplicate key {key!r} in {what}")
            out[key] = (key_node, value_node)
        return out

    def scalar(self, node: yaml.Node, what: str) -> str:
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(node, f"{what} must be a single value")
        return str(node.value)

    def number(self, node: yaml.Node, what: str, low: float | None = None, high: float | None = None) -> float:
        text = self.scalar(node, what)
        try:
            value = float(text)
        except ValueError:
            raise self.error(node, f"{what} must be a number, got {text!r}") from None
        if value != value or (low is not None and value < low) or (high is not None and value > high):
            raise self.error(node, f"{what} = {text} is out of range [{low}, {high}]")
        return value


def parse_protocol(
    text: str,
    *,
    file: str = "<protocol>",
    overrides: Mapping[str, str] | None = None,
    cell_defaults: CellDefaults | None = None,
) -> Protocol:
    """Parse protocol YAML ``text``; see the module docstring for the layout."""
    doc = _Doc(file)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        col = mark.column + 1 if mark else 0
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ProtocolError(f"YAML syntax: {problem}", file=file, line=line, col=col) from None
    if root is None:
        raise ProtocolError("empty protocol file", file=file)
    top = doc.mapping(root, "protocol", TOP_KEYS)
    overrides = dict(overrides or {})
    if "steps" not in top:
        raise doc.error(root, "protocol has no 'steps'")

    # Parameters (defaults from the file, overridden by --set).
    parameters: dict[str, str] = {}
    if "parameters" in top:
        for key, (_k, v) in doc.mapping(top["parameters"][1], "parameters", _any_key(top["parameters"][1])).items():
            parameters[key] = doc.scalar(v, f"parameter {key!r}")
    cell_override = overrides.pop("cell", None)
    for key, value in overrides.items():
        if key not in parameters:
            close = difflib.get_close_matches(key, list(parameters) + ["cell"], n=1)
            hint = f"did you mean '{close[0]}'?" if close else \
                f"parameters: {', '.join(sorted(parameters)) or '(none)'}, cell"
            raise ProtocolError(f"--set {key}: no such parameter", file=file, suggestion=hint)
        parameters[key] = value

    cell = _cell(doc, top.get("cell"), cell_override, cell_defaults)
    limits = _limits(doc, top.get("limits"), cell)
    period_s = 1.0
    if "sampling" in top:
        sampling = doc.mapping(top["sampling"][1], "sampling", ("period_s",))
        if "period_s" in sampling:
            period_s = doc.number(sampling["period_s"][1], "sampling.period_s", 0.001, 3600.0)

    steps = _nodes(doc, top["steps"][1], parameters, cell, limits)
    if not steps:
        raise doc.error(top["steps"][1], "protocol has no steps")
    criteria = _criteria(doc, top.get("pass"), parameters)
    name = doc.scalar(top["name"][1], "name") if "name" in top else Path(file).stem
    description = doc.scalar(top["description"][1], "description") if "description" in top else ""
    analysis = doc.scalar(top["analysis"][1], "analysis") if "analysis" in top else ""
    return Protocol(
        name=name, steps=tuple(steps), cell=cell, limits=limits, description=description,
        period_s=period_s, parameters=parameters, pass_criteria=criteria, analysis=analysis,
        source_text=text, source_path=file,
    )


def _any_key(node: yaml.Node) -> tuple[str, ...]:
    if isinstance(node, yaml.MappingNode):
        return tuple(str(k.value) for k, _ in node.value)
    return ()


def _cell(doc: _Doc, item: tuple[yaml.Node, yaml.Node] | None, preset_override: str | None,
          cell_defaults: CellDefaults | None) -> CellSpec:
    given: dict[str, Any] = {}
    node = item[1] if item else None
    fields = doc.mapping(node, "cell", CELL_KEYS) if node is not None else {}
    for key, (_k, v) in fields.items():
        if key in ("preset", "cell_id", "chemistry"):
            given[key] = doc.scalar(v, f"cell.{key}")
        else:
            given[key] = doc.number(v, f"cell.{key}", -100.0, 1e5)
    preset = preset_override or given.get("preset") or "nmc_21700"
    values: dict[str, Any] = {}
    if cell_defaults is not None:
        try:
            values.update(cell_defaults(preset))
        except KeyError as exc:
            raise ProtocolError(f"unknown cell preset {preset!r}: {exc.args[0] if exc.args else ''}",
                                file=doc.file, line=(fields["preset"][1].start_mark.line + 1) if "preset" in fields else 0)
    if preset_override:
        # --set cell=NAME: the preset's datasheet replaces the file's numbers.
        given = {k: v for k, v in given.items() if k in ("cell_id",)}
    values.update(given)
    values["preset"] = preset
    missing = [k for k in ("capacity_ah", "voltage_max_v", "voltage_min_v", "current_max_a") if k not in values]
    if missing:
        raise doc.error(node, f"cell needs {', '.join(missing)} (or a known preset on the simulated bench)")
    if values["voltage_min_v"] >= values["voltage_max_v"]:
        raise doc.error(node, "cell.voltage_min_v must be below cell.voltage_max_v")
    if values["capacity_ah"] <= 0 or values["current_max_a"] <= 0:
        raise doc.error(node, "cell.capacity_ah and cell.current_max_a must be positive")
    return CellSpec(**{k: v for k, v in values.items() if k in CELL_KEYS})


def _limits(doc: _Doc, item: tuple[yaml.Node, yaml.Node] | None, cell: CellSpec) -> Limits:
    values: dict[str, float] = {
        "voltage_max_v": cell.voltage_max_v + 0.05,
        "voltage_min_v": max(0.0, cell.voltage_min_v - 0.1),
        "current_max_a": round(cell.current_max_a * 1.05, 6),
        "temperature_max_c": cell.temperature_max_c,
        "temperature_min_c": -40.0,
    }
    if item is not None:
        for key, (_k, v) in doc.mapping(item[1], "limits", LIMIT_KEYS).items():
            values[key] = doc.number(v, f"limits.{key}", -100.0, 1e5)
    if values["voltage_min_v"] >= values["voltage_max_v"]:
        raise doc.error(item[1] if item else None, "limits.voltage_min_v must be below limits.voltage_max_v")
    if values["temperature_min_c"] >= values["temperature_max_c"]:
        raise doc.error(item[1] if item else None, "limits.temperature_min_c must be below limits.temperature_max_c")
    return Limits(**values)


def _substitute(doc: _Doc, node: yaml.Node, text: str, parameters: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in parameters:
            close = difflib.get_close_matches(name, list(parameters), n=1)
            raise doc.error(node, f"unknown parameter {{{name}}}", f"did you mean '{{{close[0]}}}'?" if close else
                            "declare it under 'parameters:'")
        return str(parameters[name])
    return _PLACEHOLDER.sub(replace, text)


def _nodes(doc: _Doc, node: yaml.Node, parameters: Mapping[str, str], cell: CellSpec, limits: Limits) -> list[Node]:
    if not isinstance(node, yaml.SequenceNode):
        raise doc.error(node, "steps must be a list")
    out: list[Node] = []
    for item in node.value:
        if isinstance(item, yaml.ScalarNode):
            out.append(_step(doc, item, parameters, cell, limits))
        elif isinstance(item, yaml.MappingNode):
            fields = doc.mapping(item, "loop", ("repeat", "steps"))
            if "repeat" not in fields or "steps" not in fields:
                raise doc.error(item, "a loop needs 'repeat: N' and 'steps: [...]'")
            count_node = fields["repeat"][1]
            count_text = _substitute(doc, count_node, doc.scalar(count_node, "repeat"), parameters)
            try:
                count = int(count_text)
            except ValueError:
                raise doc.error(count_node, f"repeat must be a whole number, got {count_text!r}") from None
            if not 1 <= count <= 1_000_000:
                raise doc.error(count_node, f"repeat = {count} is out of range [1, 1000000]")
            inner = _nodes(doc, fields["steps"][1], parameters, cell, limits)
            if not inner:
                raise doc.error(fields["steps"][1], "a loop needs at least one step")
            out.append(Loop(count=count, steps=tuple(inner), line=item.start_mark.line + 1))
        else:
            raise doc.error(item, "a step is a string like 'Rest for 1 hour' or a loop")
    return out


def _step(doc: _Doc, node: yaml.ScalarNode, parameters: Mapping[str, str], cell: CellSpec, limits: Limits) -> Step:
    raw = str(node.value)
    text = _substitute(doc, node, raw, parameters)
    line = node.start_mark.line + 1
    col0 = node.start_mark.column + (1 if node.style in ("'", '"') else 0)
    try:
        step = parse_step(text, capacity_ah=cell.capacity_ah)
    except ProtocolError as exc:
        raise exc.located(file=doc.file, line=line, col_offset=col0) from None
    step = dataclasses.replace(step, line=line)
    _check_step_limits(doc, node, step, cell, limits)
    return step


def _check_step_limits(doc: _Doc, node: yaml.Node, step: Step, cell: CellSpec, limits: Limits) -> None:
    where = f"'{step.text}'"
    if step.current_a is not None:
        allowed = cell.charge_current_max_a if step.current_a > 0 else cell.current_max_a
        allowed = min(allowed, limits.current_max_a)
        if abs(step.current_a) > allowed + 1e-9:
            what = "charge" if step.current_a > 0 else "discharge"
            raise doc.error(node, f"{where}: {abs(step.current_a):g} A exceeds the cell's maximum {what} "
                                  f"current {allowed:g} A")
    if step.voltage_v is not None and not (cell.voltage_min_v - 1e-9 <= step.voltage_v <= cell.voltage_max_v + 1e-9):
        raise doc.error(node, f"{where}: {step.voltage_v:g} V is outside the cell's "
                              f"{cell.voltage_min_v:g}-{cell.voltage_max_v:g} V")
    for condition in step.until:
        if condition.quantity == "voltage_v" and not (limits.voltage_min_v <= condition.value <= limits.voltage_max_v):
            raise doc.error(node, f"{where}: end voltage {condition.value:g} V is outside the limits "
                                  f"{limits.voltage_min_v:g}-{limits.voltage_max_v:g} V")
    if step.temperature_c is not None and not (limits.temperature_min_c <= step.temperature_c <= limits.temperature_max_c):
        raise doc.error(node, f"{where}: {step.temperature_c:g} °C is outside the protocol's temperature limits "
                              f"{limits.temperature_min_c:g}-{limits.temperature_max_c:g} °C")


def _criteria(doc: _Doc, item: tuple[yaml.Node, yaml.Node] | None, parameters: Mapping[str, str]) -> tuple[PassCriterion, ...]:
    if item is None:
        return ()
    node = item[1]
    if not isinstance(node, yaml.SequenceNode):
        raise doc.error(node, "pass must be a list like [discharge_capacity_ah >= 4.5]")
    out = []
    for entry in node.value:
        text = _substitute(doc, entry, doc.scalar(entry, "pass criterion"), parameters)
        match = _CRITERION.match(text)
        if not match:
            raise doc.error(entry, f"pass criterion {text!r} must read 'metric >= number' or 'metric <= number'")
        out.append(PassCriterion(match.group("metric"), match.group("op"), float(match.group("value")), text.strip()))
    return tuple(out)
