"""Load a protocol file (YAML, safe-loaded) into a validated :class:`Protocol`.

Every error names ``file:line:col``. Layout::

    name: capacity_check
    description: ...
    cell:       {preset: nmc_21700, capacity_ah: 5.0, voltage_max_v: 4.2, voltage_min_v: 2.5, current_max_a: 7}
    limits:     {voltage_max_v: 4.25, voltage_min_v: 2.4, current_max_a: 7.35, temperature_max_c: 60}
    parameters: {rate: 1C}                 # used as {rate} in steps; bench run --set rate=C/2
    sampling:   {period_s: 1}          # + record_when: {voltage: 5 mV, ...} (protocols.recording)
    steps:
      - Charge at {rate} until 4.2 V
      - step: Discharge at 1C until 2.5 V
        record: {reference_ah: discharge_ah}
      - repeat: 300
        until: discharge capacity < 80 % of reference_ah
        steps: [Discharge at 1C until 2.5 V, Charge at 1C until 4.2 V]
    pass: [discharge_capacity_ah >= 4.5]

The ``steps:`` forms are described in :mod:`protocols.tree`; a ``.py`` file is a Python
protocol (:mod:`protocols.generator`).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from protocols import input_limits
from protocols.cell_block import CELL_KEYS, CellDefaults, CellResolver, build_cell
from protocols.checks import InstrumentLimits, soc_unknown_steps
from protocols.claims import Claim, ClaimError, parse_claim
from protocols.errors import ProtocolError, raise_all
from protocols.expressions import ExpressionError, parse_expression
from protocols.recording import RecordRule, parse_record_when
from protocols.steps import CellSpec, Limits, Protocol
from protocols.tree import TreeBuilder
from protocols.yamldoc import Doc

LIBRARY = Path(__file__).parent / "library"
TOP_KEYS = ("name", "description", "cell", "limits", "parameters", "sampling", "steps", "claims", "pass",
            "analysis", "abuse")
LIMIT_KEYS = tuple(f.name for f in dataclasses.fields(Limits))
SUFFIXES = (".yaml", ".yml", ".py")
CLAIM_KEYS = ("claim", "name", "marginal", "source", "tested_if", "missed_early_is_final")

__all__ = ["CELL_KEYS", "CellDefaults", "CellResolver", "load_protocol", "parse_any", "parse_header",
           "parse_protocol", "resolve_protocol_path", "shipped_protocols"]


def resolve_protocol_path(name_or_path: str) -> Path:
    """A path as given, or the shipped protocol of that name (``cold_capacity``)."""
    path = Path(name_or_path)
    if path.suffix in SUFFIXES or path.exists():
        if not path.is_file():
            raise ProtocolError("file not found" if not path.exists() else "not a file", file=str(path))
        return path
    for suffix in SUFFIXES:
        shipped = LIBRARY / f"{name_or_path}{suffix}"
        if "/" not in name_or_path and shipped.exists():
            return shipped
    names = shipped_protocols()
    close = difflib.get_close_matches(name_or_path, names, n=1)
    hint = f"did you mean '{close[0]}'?" if close else f"shipped protocols: {', '.join(names)}"
    raise ProtocolError("no such protocol file or shipped protocol", file=name_or_path, suggestion=hint)


def shipped_protocols() -> list[str]:
    """Names of the protocols in ``protocols/library``."""
    return sorted(p.stem for p in LIBRARY.iterdir() if p.suffix in SUFFIXES)


def load_protocol(
    name_or_path: str,
    overrides: Mapping[str, str] | None = None,
    cell_defaults: CellDefaults | None = None,
    instrument: InstrumentLimits | None = None,
    cell: CellResolver | None = None,
) -> Protocol:
    """Read, parse and validate a protocol; ``overrides`` are ``--set name=value`` pairs;
    ``instrument``: the bound instruments' ranges (checked when given); ``cell``: the bench's
    cell (see :mod:`protocols.cell_block`; replaces ``cell_defaults``)."""
    path = resolve_protocol_path(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"cannot read: {exc}", file=str(path)) from None
    return parse_any(text, file=str(path), overrides=overrides, cell_defaults=cell_defaults, instrument=instrument,
                     cell=cell)


def parse_any(text: str, *, file: str, overrides: Mapping[str, str] | None = None,
              cell_defaults: CellDefaults | None = None, instrument: InstrumentLimits | None = None,
              cell_spec: CellSpec | None = None, cell: CellResolver | None = None) -> Protocol:
    """A YAML protocol, or a Python one when ``file`` ends in ``.py``."""
    if file.endswith(".py"):
        from protocols.generator import parse_python_protocol

        return parse_python_protocol(text, file=file, parse_header=parse_header, overrides=overrides,
                                     cell_defaults=cell_defaults, cell_spec=cell_spec, cell=cell)
    return parse_protocol(text, file=file, overrides=overrides, cell_defaults=cell_defaults,
                          instrument=instrument, cell_spec=cell_spec, cell=cell)


def parse_protocol(
    text: str,
    *,
    file: str = "<protocol>",
    overrides: Mapping[str, str] | None = None,
    cell_defaults: CellDefaults | None = None,
    instrument: InstrumentLimits | None = None,
    cell_spec: CellSpec | None = None,
    cell: CellResolver | None = None,
) -> Protocol:
    """Parse protocol YAML ``text``; see the module docstring for the layout.

    ``cell_spec`` replaces the file's ``cell:`` (``bench resume`` passes the recorded cell).
    """
    return _parse(text, file, overrides, cell_defaults, instrument, cell_spec, need_steps=True, cell=cell)


def parse_header(text: str, *, file: str, overrides: Mapping[str, str] | None = None,
                 cell_defaults: CellDefaults | None = None, cell_spec: CellSpec | None = None,
                 cell: CellResolver | None = None) -> Protocol:
    """Everything but the steps (a Python protocol's header constants, dumped as YAML)."""
    return _parse(text, file, overrides, cell_defaults, None, cell_spec, need_steps=False, cell=cell)


def _parse(text: str, file: str, overrides: Mapping[str, str] | None, cell_defaults: CellDefaults | None,
           instrument: InstrumentLimits | None, cell_spec: CellSpec | None, *, need_steps: bool,
           cell: CellResolver | None = None) -> Protocol:
    if not isinstance(text, str):
        raise ProtocolError("protocol text must be a string", file=file)
    try:
        return _parse_checked(text, file, overrides, cell_defaults, instrument, cell_spec, need_steps=need_steps,
                              cell_resolver=cell)
    except ProtocolError as exc:  # a U+2212 minus or a no-break space: name it and where it is
        raise input_limits.name_look_alikes(exc, text) from None


def _parse_checked(text: str, file: str, overrides: Mapping[str, str] | None, cell_defaults: CellDefaults | None,
                   instrument: InstrumentLimits | None, cell_spec: CellSpec | None, *, need_steps: bool,
                   cell_resolver: CellResolver | None = None) -> Protocol:
    doc = Doc(file)
    input_limits.check_text(text, file)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        col = mark.column + 1 if mark else 0
        problem = getattr(exc, "problem", None) or (str(exc).splitlines() or ["invalid YAML"])[0]
        raise ProtocolError(f"YAML syntax: {problem}", file=file, line=line, col=col) from None
    except (ValueError, RecursionError) as exc:  # e.g. characters YAML does not allow
        raise ProtocolError(f"not readable as YAML: {exc}", file=file) from None
    if root is None:
        raise ProtocolError("empty protocol file", file=file)
    input_limits.check_nodes(root, file)  # tags, aliases that expand without bound
    top = doc.mapping(root, "protocol", TOP_KEYS)
    overrides = dict(overrides or {})
    if "steps" not in top:
        raise doc.error(root, "protocol has no 'steps'")
    input_limits.check_steps(top["steps"][1], file)

    # Parameters (defaults from the file, overridden by --set).
    parameters: dict[str, str] = {}
    parameter_nodes: dict[str, yaml.Node] = {}
    if "parameters" in top:
        for key, (key_node, v) in doc.mapping(top["parameters"][1], "parameters",
                                              _any_key(top["parameters"][1])).items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise doc.error(key_node, f"parameter name {key!r} must be letters, digits and _")
            parameters[key] = doc.scalar(v, f"parameter {key!r}")
            parameter_nodes[key] = v
    cell_override = overrides.pop("cell", None)
    for key, value in overrides.items():
        if key not in parameters:
            close = difflib.get_close_matches(key, list(parameters) + ["cell"], n=1)
            hint = f"did you mean '{close[0]}'?" if close else \
                f"parameters: {', '.join(sorted(parameters)) or '(none)'}, cell"
            raise ProtocolError(f"--set {key}: no such parameter", file=file, suggestion=hint)
        parameters[key] = value

    try:
        cell_sources: dict[str, str] = {}
        if cell_spec is not None:
            cell = cell_spec
        else:
            cell, cell_sources = build_cell(doc, top.get("cell"), cell_override, cell_defaults, cell_resolver)
        quantities = cell_quantities(cell)
        for key, value in parameters.items():  # a parameter may name a cell quantity: {cell.voltage_max_v}
            if "{cell." in value:
                parameters[key] = doc.substitute(parameter_nodes.get(key, root), value, quantities)
        substitutions = {**quantities, **parameters}
        limits = _limits(doc, top.get("limits"), cell, substitutions)
    except ProtocolError as exc:  # no 'cell:' / 'limits:' node to point at: point at the document
        if exc.line:
            raise
        where = top["cell"][0] if "cell" in top else root
        raise doc.error(where, exc.message, exc.suggestion) from None
    period_s = 1.0
    record_when: RecordRule | None = None
    if "sampling" in top:
        sampling = doc.mapping(top["sampling"][1], "sampling", ("period_s", "record_when"))
        if "period_s" in sampling:
            period_s = doc.number(sampling["period_s"][1], "sampling.period_s", 0.001, 3600.0)
        if "record_when" in sampling:
            record_when = parse_record_when(doc, sampling["record_when"][1], cell.capacity_ah)

    builder = TreeBuilder(doc, parameters, cell, limits, instrument, substitutions=substitutions)
    steps = builder.nodes(top["steps"][1])
    problems = builder.problems
    try:
        builder.check_when_values()
    except ProtocolError as exc:
        problems.append(exc)
    if not steps and need_steps and not problems:
        raise doc.error(top["steps"][1], "protocol has no steps")
    criteria: list[Claim] = []
    for key in ("claims", "pass"):
        criteria += _claims(doc, top.get(key), substitutions, problems)
    name = doc.scalar(top["name"][1], "name") if "name" in top else Path(file).stem
    description = doc.scalar(top["description"][1], "description") if "description" in top else ""
    analysis = doc.scalar(top["analysis"][1], "analysis") if "analysis" in top else ""
    abuse = _abuse(doc, top.get("abuse"), parameters, steps)
    protocol = Protocol(
        name=name, steps=tuple(steps), cell=cell, limits=limits, description=description,
        period_s=period_s, parameters=parameters, pass_criteria=tuple(criteria), analysis=analysis,
        source_text=text, source_path=file, abuse=abuse, cell_sources=cell_sources, record_when=record_when,
    )
    for step in soc_unknown_steps(protocol):
        problems.append(ProtocolError(f"'{step.text}': the SOC is not known yet at this step", file=file,
                                      line=step.line, col=step.col,
                                      suggestion="put a full charge (Hold at voltage_max_v until C/20) or a "
                                      "full discharge before it, or give cell: initial_soc"))
    raise_all(problems)
    return protocol


#: CellSpec fields a protocol may not name as ``{cell.NAME}`` (text, or not a quantity).
_NOT_QUANTITIES = ("cell_id", "initial_soc", "datasheet")


def cell_quantities(cell: CellSpec) -> dict[str, str]:
    """``{"cell.voltage_max_v": "4.2", ...}``: the cell's stated values a step may use as
    ``{cell.NAME}`` (unstated ones are absent, so using them is an error naming the cell).
    ``cell.current_max_charge_a`` is the effective charge maximum, ``cell.current_max_discharge_a``
    the discharge one; ``cell.preset`` and ``cell.chemistry`` are text."""
    out: dict[str, str] = {}
    for f in dataclasses.fields(CellSpec):
        value = getattr(cell, f.name)
        if f.name in _NOT_QUANTITIES or value is None or value == "":
            continue
        if isinstance(value, float):
            if value != value:
                continue
            out[f"cell.{f.name}"] = f"{value:.6g}"
        else:
            out[f"cell.{f.name}"] = str(value)
    out["cell.current_max_charge_a"] = f"{cell.charge_current_max_a:.6g}"
    out["cell.current_max_discharge_a"] = f"{cell.current_max_a:.6g}"
    return out


def _any_key(node: yaml.Node) -> tuple[str, ...]:
    if isinstance(node, yaml.MappingNode):
        return tuple(str(k.value) for k, _ in node.value)
    return ()


def _limits(doc: Doc, item: tuple[yaml.Node, yaml.Node] | None, cell: CellSpec,
            substitutions: Mapping[str, str] | None = None) -> Limits:
    values: dict[str, float] = {
        "voltage_max_v": cell.voltage_max_v + 0.05,
        "voltage_min_v": max(0.0, cell.voltage_min_v - 0.1),
        "current_max_a": round(cell.current_max_a * 1.05, 6),
        "temperature_max_c": cell.temperature_max_c,
        "temperature_min_c": -40.0,
    }
    if item is not None:
        for key, (_k, v) in doc.mapping(item[1], "limits", LIMIT_KEYS).items():
            # supervisor settings (after the five hard limits) are magnitudes: 0 disables a rule
            low = -100.0 if LIMIT_KEYS.index(key) < 5 else 0.0
            values[key] = _limit_value(doc, v, f"limits.{key}", low, substitutions or {})
    if values["voltage_min_v"] >= values["voltage_max_v"]:
        raise doc.error(item[1] if item else None, "limits.voltage_min_v must be below limits.voltage_max_v")
    if values["temperature_min_c"] >= values["temperature_max_c"]:
        raise doc.error(item[1] if item else None, "limits.temperature_min_c must be below limits.temperature_max_c")
    return Limits(**values)


def _limit_value(doc: Doc, node: yaml.Node, what: str, low: float, substitutions: Mapping[str, str]) -> float:
    """A limit: a number, or arithmetic on parameters and cell quantities
    (``"{cell.voltage_min_v} - 0.1"``)."""
    text = doc.scalar(node, what)
    if "{" not in text:
        return doc.number(node, what, low, 1e5)
    text = doc.substitute(node, text, substitutions)
    try:
        expression = parse_expression(text)
        value = float(expression.evaluate({})) if not expression.is_condition else math.nan
    except (ExpressionError, TypeError, ValueError):
        raise doc.error(node, f"{what} = {text!r} is not a number or arithmetic on numbers") from None
    if not math.isfinite(value) or not low <= value <= 1e5:
        raise doc.error(node, f"{what} = {text} = {value:g} is out of range [{low}, 100000.0]")
    return value


def _claims(doc: Doc, item: tuple[yaml.Node, yaml.Node] | None, substitutions: Mapping[str, str],
            problems: list[ProtocolError]) -> list[Claim]:
    """The ``claims:`` (or ``pass:``) list: lines ``metric op value [unit]`` or mappings with
    ``claim``, ``name``, ``marginal``, ``source``, ``tested_if`` (see :mod:`protocols.claims`)."""
    if item is None:
        return []
    node = item[1]
    if not isinstance(node, yaml.SequenceNode):
        problems.append(doc.error(node, "claims must be a list like [discharge_capacity_ah >= 4.5]"))
        return []
    out = []
    for entry in node.value:
        try:
            out.append(_claim(doc, entry, substitutions))
        except ProtocolError as exc:
            problems.append(exc)
    return out


def _claim(doc: Doc, entry: yaml.Node, substitutions: Mapping[str, str]) -> Claim:
    def text(node: yaml.Node, what: str) -> str:
        return doc.substitute(node, doc.scalar(node, what), substitutions)

    where = entry
    options: dict[str, str] = {}
    tested_if: tuple[str, ...] = ()
    if isinstance(entry, yaml.MappingNode):
        fields = doc.mapping(entry, "claim", CLAIM_KEYS)
        if "claim" not in fields:
            raise doc.error(entry, "a claim mapping needs 'claim: metric >= value'",
                            "e.g. 'claim: retention_pct >= 70'")
        where = fields["claim"][1]
        line = text(where, "claim")
        options = {k: text(fields[k][1], f"claim {k}") for k in ("name", "marginal", "source", "missed_early_is_final") if k in fields}
        if "tested_if" in fields:
            pre = fields["tested_if"][1]
            items = pre.value if isinstance(pre, yaml.SequenceNode) else [pre]
            tested_if = tuple(text(n, "claim tested_if") for n in items)
    else:
        line = text(entry, "claim")
    try:
        return parse_claim(line, tested_if=tested_if, **options)
    except ClaimError as exc:
        raise doc.error(where, exc.message, exc.suggestion) from None


ABUSE_KEYS = ("test", "step", "prompt", "prompt_timeout_s", "simulate", "applied_by")
#: Who applies the abuse: the operator (nail...: prompted, or a fault on the simulated bench) or
#: the bench's own chamber (hot box: the soak step that heats the cell is the abuse).
ABUSE_APPLIERS = ("operator", "chamber")


def _abuse(doc: Doc, item: tuple[yaml.Node, yaml.Node] | None, parameters: Mapping[str, str],
           steps: list[Any]) -> dict[str, Any]:
    """The ``abuse:`` section (nail penetration...): the rest step it starts and what it does.

    ``step`` names the step by its text or its 1-based position in file order (default: the
    last step). It must be a top-level rest, and every step after it a rest too, so the bench
    never drives a damaged cell; with ``applied_by: chamber`` (hot box) the abuse step is the
    soak that heats the cell and soaks may follow it. See docs/safety.md.
    """
    if item is None:
        return {}
    fields = doc.mapping(item[1], "abuse", ABUSE_KEYS)
    flat: list[Any] = []

    def walk(nodes: Any) -> None:
        for n in nodes:
            if hasattr(n, "count"):
                walk(n.steps)
            else:
                flat.append(n)

    walk(steps)
    out: dict[str, Any] = {"test": "abuse", "prompt": "Apply the abuse now, then confirm", "prompt_timeout_s": 600.0}
    for key in ("test", "prompt"):
        if key in fields:
            out[key] = doc.substitute(fields[key][1], doc.scalar(fields[key][1], f"abuse.{key}"), parameters).strip()
    if "applied_by" in fields:
        node = fields["applied_by"][1]
        out["applied_by"] = doc.scalar(node, "abuse.applied_by").strip()
        if out["applied_by"] not in ABUSE_APPLIERS:
            raise doc.error(node, f"abuse.applied_by must be one of {', '.join(ABUSE_APPLIERS)}, "
                                  f"got {out['applied_by']!r}")
    if "prompt_timeout_s" in fields:
        out["prompt_timeout_s"] = doc.number(fields["prompt_timeout_s"][1], "abuse.prompt_timeout_s", 1.0, 86400.0)
    texts = [s.text for s in flat]
    where = fields["step"][1] if "step" in fields else item[0]
    position = len(flat)  # 1-based, default: the last step
    if "step" in fields:
        wanted = doc.substitute(where, doc.scalar(where, "abuse.step"), parameters).strip()
        if wanted.isdigit():
            position = int(wanted)
            if not 1 <= position <= len(flat):
                raise doc.error(where, f"abuse.step {position} is out of range [1, {len(flat)}] (steps in file order)")
        elif texts.count(wanted) == 1:
            position = texts.index(wanted) + 1
        elif wanted in texts:
            raise doc.error(where, f"abuse.step: {texts.count(wanted)} steps read {wanted!r}",
                            "give its position in file order instead, e.g. 'step: 5'")
        else:
            close = difflib.get_close_matches(wanted, texts, n=1)
            raise doc.error(where, f"abuse.step: no step reads {wanted!r}",
                            f"did you mean '{close[0]}'?" if close else "give the text or position of a rest step")
    if not flat:
        return out
    out["step"] = flat[position - 1].text
    out["step_index"] = flat[position - 1].index
    if not any(n is flat[position - 1] for n in steps):
        raise doc.error(where, f"abuse.step: '{out['step']}' is inside a loop; the abuse step must be a top-level rest")
    allowed = ("rest", "soak") if out.get("applied_by") == "chamber" else ("rest",)
    if out.get("applied_by") == "chamber" and flat[position - 1].kind != "soak":
        raise doc.error(where, f"abuse.step: '{out['step']}' is not a Soak; a chamber-applied abuse (hot box) "
                               "starts with the soak that heats the cell")
    for step in flat[position - 1:]:
        if step.kind not in allowed:
            raise doc.error(where, f"abuse.step: '{step.text}' runs at or after the abuse step; only "
                                   f"{' and '.join(k + 's' for k in allowed)} may (a damaged cell is never driven)")
    simulate: dict[str, Any] = {}
    if "simulate" in fields:
        node = fields["simulate"][1]
        for key, (_k, v) in doc.mapping(node, "abuse.simulate", _any_key(node)).items():
            text = doc.substitute(v, doc.scalar(v, f"abuse.simulate.{key}"), parameters).strip()
            try:
                simulate[key] = float(text)
            except ValueError:
                simulate[key] = text
    out["simulate"] = simulate
    return out
