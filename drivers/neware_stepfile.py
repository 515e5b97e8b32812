"""DelegatedProgram -> Neware BTS 8.0 step file (``.xml``), and what that format can express.

Format facts (no code copied) from the public BTS 8.0 step files written by EmpaEconversion's
aurora-unicycler (``aurora_unicycler/_formats/neware.py``, "tested on BTS8.0.0") and
ben-nowacki/neware-utils (``neware_utils/protocols/step_modes.py``):

* ``<root><config type="Step File" version="17" client_version=...>``: ``Head_Info`` (``Operate``
  66, ``Scale`` 1, ``Start_Step`` 1, ``Creator``, ``Remark``, ``RateType`` 103 = not C-rate),
  ``Whole_Prt`` (``Protect/Main``: ``Volt/Upper|Lower``, ``Curr/Upper``; ``Record/Main/Time``),
  ``Step_Info Num="N"`` with ``Step1..StepN`` (``Step_ID``, ``Step_Type``), ``SMBUS``.
* Step types: 1 CC charge, 2 CC discharge, 3 CV charge, 19 CV discharge, 7 CCCV charge, 20 CCCV
  discharge, 4 rest, 5 cycle (``Limit/Other``: ``Start_Step``, ``Cycle_Count``), 6 end.
* ``Limit/Main``: ``Curr``, ``Volt``, ``Time``, ``Stop_Volt``, ``Stop_Curr``, ``Cap`` (ASSUMED tag
  and unit for a step's capacity limit, by analogy with ``Protect/Cap/Upper``).
* ``Limit/Other CndCount``: ``Cnd1..n`` jumps: ``type`` 1 voltage / 2 current / 3 time, ``CmpType``
  3 ``>`` / 4 ``>=`` / 5 ``<`` / 6 ``<=`` (voltage and current take ``>`` / ``<``, time ``>=`` /
  ``<=``), ``Value``, ``Jump_Line`` (step number; 65526 = next step).
* Units: voltage 0.1 mV, current mA, time ms, capacity mA·s.

Step numbers: ``program.steps[k]`` is written as ``Step{k+1}`` (one Neware step per delegated step;
an end step is appended when the program lacks one), so a record's ``stepid`` n maps back to
``program.steps[n - 1]`` (its ``protocol_step``). A ``cv`` step is a CV charge (type 3) when its
``current_a`` is positive, a CV discharge (19) when negative.

:data:`CAPABILITIES` says which step kinds, end conditions, limits and loops this writer expresses;
:func:`problems` lists what a program asks beyond them (``file:line:col: message`` from
``DelegatedStep.source``) and :func:`write_step_file` raises :class:`StepFileUnsupported` with them.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from drivers.delegated.program import DelegatedEnd, DelegatedProgram, DelegatedStep

#: File units per SI unit.
PER_V, PER_A, PER_S, PER_AH = 10_000.0, 1000.0, 1000.0, 3_600_000.0
JUMP_NEXT = 65526
CMP = {">": 3, ">=": 4, "<": 5, "<=": 6}


@dataclass(frozen=True)
class StepFileCapabilities:
    """What a vendor step-file format expresses (for ``bench validate --cycler``).

    ``ends``: per step kind, the (quantity, op) end conditions it takes that go to the next step;
    ``goto_ends``: those that may jump to any step (``DelegatedEnd.goto``); ``limits``: the
    :class:`DelegatedLimits` fields written into the file; ``supervisor_only``: limit fields the
    format cannot hold (the bench's supervisor alone enforces them); ``loops``: cycle steps,
    ``nested_loops``: a cycle inside another; ``record_period``: how logging periods are kept.
    """

    step_format: str
    step_kinds: frozenset[str]
    ends: dict[str, frozenset[tuple[str, str]]]
    goto_ends: frozenset[tuple[str, str]]
    limits: frozenset[str]
    supervisor_only: frozenset[str]
    loops: bool
    nested_loops: bool
    record_period: str
    notes: tuple[str, ...] = ()


_V = {("voltage_v", ">="), ("voltage_v", "<="), ("voltage_v", ">"), ("voltage_v", "<")}
_I = {("current_a", ">="), ("current_a", "<="), ("current_a", ">"), ("current_a", "<")}
_T = {("time_s", ">="), ("time_s", ">")}
_C = {("capacity_ah", ">="), ("capacity_ah", ">")}

CAPABILITIES = StepFileCapabilities(
    step_format="neware_xml",
    step_kinds=frozenset({"cc", "cccv", "cv", "rest", "cycle", "end"}),
    ends={"cc": frozenset(_V | _I | _T | _C), "cccv": frozenset(_V | _I | _T | _C), "cv": frozenset(_V | _I | _T | _C),
          "rest": frozenset(_V | _I | _T)},
    goto_ends=frozenset(_V | _I | _T),
    limits=frozenset({"voltage_max_v", "voltage_min_v", "current_max_a"}),
    supervisor_only=frozenset({"temperature_max_c"}),
    loops=True, nested_loops=True,
    record_period="one period for the whole file (Record/Time): the shortest of the steps'",
    notes=("cp (constant power) steps: no public source gives the BTS step type, so none is written",
           "capacity ends go to the next step only (a Cnd has no capacity type)",
           "voltage / current jumps compare with > / < (the BTS takes no >= / <= there): a step ending at "
           "V >= x ends once V passes x"),
)


class StepFileUnsupported(ValueError):
    """The program asks something the Neware step file cannot express; one line per problem, each
    ``file:line:col: message``."""


def _where(step: DelegatedStep, index: int) -> str:
    return step.source or f"step {index + 1}"


def problems(program: DelegatedProgram) -> list[str]:
    """What ``program`` needs beyond :data:`CAPABILITIES` (empty: it can be written)."""
    out = list(program.problems)
    count = len(program.steps)
    for index, step in enumerate(program.steps):
        where = _where(step, index)
        if step.kind not in CAPABILITIES.step_kinds:
            out.append(f"{where}: a Neware step file has no {step.kind!r} step ({CAPABILITIES.notes[0]})"
                       if step.kind == "cp" else f"{where}: a Neware step file has no {step.kind!r} step")
            continue
        if step.kind in ("cc", "cccv", "cv") and (step.current_a is None or step.current_a == 0):
            out.append(f"{where}: a {step.kind} step needs a non-zero current")
        if step.kind in ("cccv", "cv") and (step.voltage_v is None or step.voltage_v <= 0):
            out.append(f"{where}: a {step.kind} step needs a voltage above 0 V")
        if step.kind == "cycle":
            if step.loop_to is None or not 0 <= step.loop_to < index or not step.loop_count or step.loop_count < 1:
                out.append(f"{where}: a cycle step needs an earlier loop_to step and loop_count >= 1")
            continue
        if step.kind == "end":
            continue
        if not step.ends:
            out.append(f"{where}: a Neware step needs an end condition")
        allowed = CAPABILITIES.ends.get(step.kind, frozenset())
        for end in step.ends:
            key = (end.quantity, end.op)
            if key not in allowed:
                out.append(f"{where}: a Neware {step.kind} step cannot end on {end.quantity} {end.op} {end.value:g}")
            elif end.goto is not None:
                if key not in CAPABILITIES.goto_ends:
                    out.append(f"{where}: a Neware step cannot jump on {end.quantity} {end.op} (only go to the next step)")
                elif not 0 <= end.goto < count:
                    out.append(f"{where}: jump to step {end.goto} outside the program (0..{count - 1})")
        if not step.record_period_s > 0:
            out.append(f"{where}: record period must be > 0 s")
    return out


def _sub(parent: ET.Element, tag: str, value: float) -> None:
    ET.SubElement(parent, tag, Value=f"{value:.0f}" if float(value).is_integer() else f"{value:.3f}")


def _main_ends(step: DelegatedStep, main: ET.Element) -> list[DelegatedEnd]:
    """Write the ends a ``Limit/Main`` field holds; the rest become Cnd jumps."""
    rest: list[DelegatedEnd] = []
    sign = 1 if (step.current_a or 0.0) >= 0 else -1
    for end in step.ends:
        natural_v = end.quantity == "voltage_v" and step.kind == "cc" and end.op == (">=" if sign > 0 else "<=")
        if end.goto is not None:
            rest.append(end)
        elif end.quantity == "time_s" and end.op in (">=", ">") and main.find("Time") is None:
            _sub(main, "Time", end.value * PER_S)
        elif natural_v and main.find("Stop_Volt") is None:
            _sub(main, "Stop_Volt", end.value * PER_V)
        elif (end.quantity, end.op) == ("current_a", "<=") and step.kind in ("cccv", "cv") \
                and main.find("Stop_Curr") is None:
            _sub(main, "Stop_Curr", abs(end.value) * PER_A)
        elif end.quantity == "capacity_ah" and main.find("Cap") is None:
            _sub(main, "Cap", abs(end.value) * PER_AH)
        else:
            rest.append(end)
    return rest


def _conditions(ends: list[DelegatedEnd], limit: ET.Element) -> None:
    if not ends:
        return
    other = ET.SubElement(limit, "Other", CndCount=str(len(ends)))
    for n, end in enumerate(ends, 1):
        kind, per = {"voltage_v": (1, PER_V), "current_a": (2, PER_A), "time_s": (3, PER_S)}[end.quantity]
        op = end.op
        if kind in (1, 2):
            op = {">=": ">", "<=": "<"}.get(op, op)
        else:
            op = {">": ">=", "<": "<="}.get(op, op)
        jump = JUMP_NEXT if end.goto is None else end.goto + 1
        ET.SubElement(other, f"Cnd{n}", type=str(kind), Function="0", CmpType=str(CMP[op]), Jump_Line=str(jump),
                      Value=f"{abs(end.value) * per:.0f}")


def _step(step: DelegatedStep, number: int) -> ET.Element:
    current = step.current_a or 0.0
    sign = 1 if current >= 0 else -1
    kind = {"cc": 1 if sign > 0 else 2, "cccv": 7 if sign > 0 else 20, "cv": 3 if sign > 0 else 19,
            "rest": 4, "cycle": 5, "end": 6}[step.kind]
    node = ET.Element(f"Step{number}", Step_ID=str(number), Step_Type=str(kind))
    if step.kind == "end":
        return node
    limit = ET.SubElement(node, "Limit")
    if step.kind == "cycle":
        other = ET.SubElement(limit, "Other")
        ET.SubElement(other, "Start_Step", Value=str((step.loop_to or 0) + 1))
        ET.SubElement(other, "Cycle_Count", Value=str(step.loop_count))
        return node
    main = ET.SubElement(limit, "Main")
    if step.kind in ("cc", "cccv", "cv"):
        _sub(main, "Curr", abs(current) * PER_A)
    if step.kind in ("cccv", "cv"):
        _sub(main, "Volt", (step.voltage_v or 0.0) * PER_V)
    _conditions(_main_ends(step, main), limit)
    return node


def write_step_file(program: DelegatedProgram, *, client_version: str = "BTS Client 8.0.0") -> bytes:
    """The BTS 8.0 step file of ``program`` (UTF-8 XML); StepFileUnsupported listing every
    ``file:line:col`` problem when the format cannot express it. An end step is appended when the
    program does not end with one."""
    found = problems(program)
    if found:
        raise StepFileUnsupported("\n".join(found))
    steps = list(program.steps)
    if not steps or steps[-1].kind != "end":
        steps.append(DelegatedStep(kind="end"))
    root = ET.Element("root")
    config = ET.SubElement(root, "config", type="Step File", version="17", client_version=client_version)
    head = ET.SubElement(config, "Head_Info")
    ET.SubElement(head, "Operate", Value="66")
    ET.SubElement(head, "Scale", Value="1")
    ET.SubElement(head, "Start_Step", Value="1", Hide_Ctrl_Step="0")
    ET.SubElement(head, "Creator", Value="CellBench")
    ET.SubElement(head, "Remark", Value=program.name)
    ET.SubElement(head, "RateType", Value="103")
    whole = ET.SubElement(config, "Whole_Prt")
    protect = ET.SubElement(ET.SubElement(whole, "Protect"), "Main")
    limits = program.limits
    volt = ET.SubElement(protect, "Volt")
    _sub(volt, "Upper", limits.voltage_max_v * PER_V)
    _sub(volt, "Lower", limits.voltage_min_v * PER_V)
    _sub(ET.SubElement(protect, "Curr"), "Upper", abs(limits.current_max_a) * PER_A)
    periods = [s.record_period_s for s in steps if s.kind not in ("cycle", "end")] or [1.0]
    _sub(ET.SubElement(ET.SubElement(whole, "Record"), "Main"), "Time", min(periods) * PER_S)
    info = ET.SubElement(config, "Step_Info", Num=str(len(steps)))
    for number, step in enumerate(steps, 1):
        info.append(_step(step, number))
    ET.SubElement(ET.SubElement(config, "SMBUS"), "SMBUS_Info", Num="0", AdjacentInterval="0")
    ET.indent(root, space="  ")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n").encode("utf-8")
