"""Python protocols: a generator yielding steps, for logic beyond the grammar.

A ``.py`` protocol file defines ``protocol(ctx)`` and, like a YAML file's header, optional
upper-case constants::

    NAME = "fade_to_80"
    CELL = {"preset": "nmc_21700"}
    LIMITS = {"temperature_max_c": 55}
    PARAMETERS = {"rate": "1C"}          # bench run --set rate=C/2; ctx.parameters["rate"]
    SAMPLING = {"period_s": 2}
    PASS = ["discharge_capacity_ah >= 4.0"]

    def protocol(ctx):
        yield "Charge at 0.5C until 4.2 V"
        yield "Hold at 4.2 V until C/20"
        reference = (yield "Discharge at 1C until 2.5 V").discharge_ah
        for n in range(500):
            ctx.next_cycle()
            yield f"Charge at {ctx.parameters['rate']} until 4.2 V"
            result = yield "Discharge at 1C until 2.5 V"
            if result.discharge_ah < 0.8 * reference:
                break

Each ``yield`` gives a step string (or a :class:`Step`) and receives the step's
:class:`~protocols.plan.StepResult`. ``ctx.variables`` holds the built-in variables of
:mod:`protocols.plan`; ``ctx.record(name, value)`` adds one (it is journaled, shown in events).
``ctx.dry_run`` is True when ``bench validate`` walks the protocol on estimated results.

The file is Python: it runs with the operator's rights, like any script they run. It is not
imported as a module; its text is stored in the run file, so ``bench resume`` replays the same
code, sending the recorded results of the finished steps.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import math
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from protocols.checks import InstrumentLimits, check_step, is_soc_anchor
from protocols.errors import ProtocolError
from protocols.grammar import parse_step
from protocols.plan import Plan, PlanContext, StepResult
from protocols.steps import CellSpec, Limits, Protocol, Step

HEADER_CONSTANTS = {"NAME": "name", "DESCRIPTION": "description", "CELL": "cell", "LIMITS": "limits",
                    "PARAMETERS": "parameters", "SAMPLING": "sampling", "PASS": "pass", "ANALYSIS": "analysis"}


class ProtocolContext:
    """What a Python protocol sees: the cell, limits, parameters, measured variables."""

    def __init__(self, plan_ctx: PlanContext, protocol: Protocol, dry_run: bool) -> None:
        self._ctx = plan_ctx
        self.cell: CellSpec = protocol.cell
        self.limits: Limits = protocol.limits
        self.parameters: Mapping[str, str] = dict(protocol.parameters)
        self.dry_run = dry_run

    @property
    def variables(self) -> dict[str, float]:
        """Built-in and recorded variables (live; SI units, NaN until measured)."""
        return self._ctx.variables

    @property
    def cycle(self) -> int:
        """The present cycle number."""
        return self._ctx.cycle

    @property
    def last(self) -> StepResult | None:
        """The result of the last finished step."""
        return self._ctx.last

    def next_cycle(self) -> None:
        """Start a new cycle (unless the present one holds no step yet); from the first call on the
        protocol declares its cycles (a charge after a discharge no longer starts one by itself)."""
        self._ctx.cycles_declared = True
        self._ctx.next_cycle()

    def record(self, name: str, value: float) -> None:
        """Keep a measured value under ``name`` (journaled with the run)."""
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"record name must be an identifier, got {name!r}")
        self._ctx.variables[name] = float(value)

    def param(self, name: str) -> float:
        """A numeric parameter in SI base units (``"0.5 A"`` -> 0.5; C-rates -> A of this cell)."""
        from protocols.quantities import parse_quantity

        text = self.parameters[name]
        try:
            return float(text)
        except ValueError:
            quantity = parse_quantity(text)
        return quantity.value * self.cell.capacity_ah if quantity.dimension == "c_rate" else quantity.value


def is_python_protocol(path: str | Path) -> bool:
    """True for a ``.py`` protocol file."""
    return Path(path).suffix == ".py"


def parse_python_protocol(text: str, *, file: str, parse_header: Callable[..., Protocol],
                          overrides: Mapping[str, str] | None = None,
                          cell_defaults: Any = None, cell_spec: CellSpec | None = None,
                          cell: Any = None) -> Protocol:
    """Compile a Python protocol's ``text`` and read its header constants (errors name file:line).

    ``parse_header``: the YAML header parser (:func:`protocols.loader.parse_header`), given by
    the loader so that this module does not import it back."""
    try:
        tree = ast.parse(text, filename=file)
        code = compile(tree, file, "exec")
    except SyntaxError as exc:
        raise ProtocolError(f"Python syntax: {exc.msg}", file=file, line=exc.lineno or 0, col=exc.offset or 0) from None
    lines = {target.id: node.lineno for node in tree.body if isinstance(node, ast.Assign)
             for target in node.targets if isinstance(target, ast.Name)}
    lines.update({node.name: node.lineno for node in tree.body if isinstance(node, ast.FunctionDef)})
    namespace: dict[str, Any] = {"__name__": f"cellbench_protocol_{Path(file).stem}", "__file__": file}
    try:
        exec(code, namespace)  # noqa: S102 - a Python protocol is the operator's own script
    except Exception as exc:  # noqa: BLE001 - any error in the user's module is a protocol error
        raise _user_error(exc, file) from None
    function = namespace.get("protocol")
    if not callable(function) or not inspect.isgeneratorfunction(function):
        raise ProtocolError("a Python protocol defines a generator function 'protocol(ctx)' that yields steps",
                            file=file, line=lines.get("protocol", 1),
                            suggestion="def protocol(ctx):\n    yield 'Rest for 1 minute'")
    header = {key: namespace[const] for const, key in HEADER_CONSTANTS.items() if const in namespace}
    header.setdefault("name", Path(file).stem)
    header["steps"] = []
    try:
        dumped = yaml.safe_dump(header, sort_keys=False, allow_unicode=True)
    except yaml.YAMLError as exc:
        raise ProtocolError(f"header constants must be plain numbers, strings, lists and dicts ({exc})",
                            file=file, line=1) from None
    try:
        protocol = parse_header(dumped, file=file, overrides=overrides, cell_defaults=cell_defaults,
                                cell_spec=cell_spec, cell=cell)
    except ProtocolError as exc:
        constant = _constant_at(dumped, exc.line)
        raise ProtocolError(f"{constant}: {exc.message}" if constant else exc.message, file=file,
                            line=lines.get(constant, 1), suggestion=exc.suggestion) from None
    return dataclasses.replace(protocol, generator=function, source_text=text, source_path=file)


def _constant_at(dumped: str, line: int) -> str:
    """Which header constant the dumped-YAML ``line`` belongs to."""
    root = yaml.compose(dumped, Loader=yaml.SafeLoader)
    name = ""
    for key, _value in getattr(root, "value", []):
        if key.start_mark.line + 1 <= line:
            name = str(key.value)
    reverse = {v: k for k, v in HEADER_CONSTANTS.items()}
    return reverse.get(name, "")


def _user_error(exc: BaseException, file: str) -> ProtocolError:
    """A ProtocolError at the line of ``file`` where the user's code raised."""
    line = 0
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == file:
            line = frame.lineno or 0
    if isinstance(exc, ProtocolError):
        return exc.located(file=file, line=line or exc.line)
    return ProtocolError(f"the protocol raised {type(exc).__name__}: {exc}", file=file, line=line)


def walk_generator(protocol: Protocol, ctx: PlanContext, *, instrument: InstrumentLimits | None = None,
                   dry_run: bool = False) -> Plan:
    """The plan of a Python protocol: each yielded step parsed, checked and numbered."""
    generator_fn: Callable[[ProtocolContext], Any] = protocol.generator  # type: ignore[assignment]  # set: a .py protocol
    file = protocol.source_path
    source_lines = protocol.source_text.splitlines()
    gen = generator_fn(ProtocolContext(ctx, protocol, dry_run))
    indices: dict[str, int] = {}
    anchored = not math.isnan(protocol.cell.initial_soc)
    send: StepResult | None = None
    while True:
        try:
            item = next(gen) if send is None else gen.send(send)
        except StopIteration:
            return
        except Exception as exc:  # noqa: BLE001 - the user's code: report where it failed
            raise _user_error(exc, file) from None
        line = gen.gi_frame.f_lineno if gen.gi_frame is not None else 0
        step = _to_step(item, protocol, file, line, source_lines, instrument)
        if not anchored and any(c.quantity == "soc" for c in step.until):
            gen.close()
            raise ProtocolError(f"'{step.text}': the SOC is not known yet", file=file, line=line,
                                suggestion="reach it after a full charge or discharge, or set CELL['initial_soc']")
        anchored = anchored or is_soc_anchor(step, protocol.cell)
        step = dataclasses.replace(step, index=indices.setdefault(step.text, len(indices)), line=line)
        send = yield ctx.planned(step)
        ctx.finish(step, send)


def _to_step(item: Any, protocol: Protocol, file: str, line: int, source_lines: list[str],
             instrument: InstrumentLimits | None) -> Step:
    if isinstance(item, Step):
        step = item
    elif isinstance(item, str):
        text_line = source_lines[line - 1] if 0 < line <= len(source_lines) else ""
        col0 = text_line.find(item) if item and item in text_line else -1
        try:
            step = parse_step(item, capacity_ah=protocol.cell.capacity_ah)
        except ProtocolError as exc:
            raise exc.located(file=file, line=line, col_offset=col0 if col0 >= 0 else 0) from None
    else:
        raise ProtocolError(f"a Python protocol yields step strings, got {type(item).__name__}", file=file, line=line)
    if step.replay is not None and not step.replay.times_s:  # its profile, relative to the protocol file
        from pathlib import Path

        from protocols.profiles import ProfileError, replay_error, resolve_replay

        try:
            replay = resolve_replay(step.replay, Path(file).resolve().parent if file else None)
        except ProfileError as exc:
            raise replay_error(exc, step.replay, file, line, 0) from None
        duration = step.duration_s
        if duration is None and not step.until and not replay.repeat:
            duration = replay.duration_s
        step = dataclasses.replace(step, replay=replay, duration_s=duration)
    problem = check_step(step, protocol.cell, protocol.limits, instrument)
    if problem is not None:
        raise ProtocolError(problem.message, file=file, line=line, suggestion=problem.suggestion)
    return step
