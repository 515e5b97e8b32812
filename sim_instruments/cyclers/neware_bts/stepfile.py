"""The simulated Neware BTS's own reader of BTS 8.0 step files (``.xml``).

Format facts (no code) from the public step files written for BTS 8.0 by EmpaEconversion's
aurora-unicycler (``aurora_unicycler/_formats/neware.py``, "tested on BTS8.0.0") and
ben-nowacki/neware-utils (``neware_utils/protocols/step_modes.py``):

* ``<root><config type="Step File" version="17" ...>`` holding ``Head_Info``, ``Whole_Prt``
  (``Protect/Main``: ``Volt/Upper``, ``Volt/Lower``, ``Curr/Upper``, ``Curr/Lower``, ``Cap/Upper``;
  ``Record/Main``: ``Time``, ``Volt``, ``Curr``) and ``Step_Info Num="N"`` with elements
  ``Step1 .. StepN`` (attributes ``Step_ID``, ``Step_Type``).
* Step types: 1 CC charge, 2 CC discharge, 3 CV charge, 19 CV discharge, 7 CCCV charge,
  20 CCCV discharge, 4 rest, 5 cycle (``Limit/Other``: ``Start_Step``, ``Cycle_Count``),
  13 pause, 6 end.
* ``Limit/Main`` of a working step: ``Curr`` (set current), ``Volt`` (set voltage), ``Time`` (step
  time limit), ``Stop_Volt`` (cut-off voltage), ``Stop_Curr`` (cut-off current), ``Cap`` (step
  capacity limit: ASSUMED tag and unit, by analogy with ``Protect/Cap/Upper``).
* ``Limit/Other CndCount="n"`` with ``Cnd1..Cndn``: ``type`` (1 voltage, 2 current, 3 time),
  ``CmpType`` (3 ``>``, 4 ``>=``, 5 ``<``, 6 ``<=``), ``Value``, ``Jump_Line`` (a step number, or
  65526 next step, 65533 stop, 65534 protect, 65535 finish).
* Units in the file: voltage 0.1 mV, current mA, time ms, capacity mA·s.

Anything else (an unknown step type, a step without any end, a loop to a missing step, a set
current beyond the channel's range) makes the file invalid: :class:`StepFileError` carries the
reason the BTS replies with. Units of the parsed form: V, A, s, Ah.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

#: Step_Type -> (name in inquire / download replies, sign of the current: +1 charge, -1 discharge).
#: Names seen in replies captured from a BTS 8.0 (aurora-neware tests/mocks.py): "rest", "cc",
#: "cv", "dc"; the others are ASSUMED.
STEP_TYPES: dict[int, tuple[str, int]] = {
    1: ("cc", 1), 2: ("dc", -1), 3: ("cv", 1), 19: ("cv_dc", -1), 7: ("cccv", 1), 20: ("cccv_dc", -1),
    4: ("rest", 0), 5: ("cycle", 0), 13: ("pause", 0), 6: ("end", 0),
}
WORKING_TYPES = (1, 2, 3, 19, 7, 20, 4)
#: Jump_Line codes that are not step numbers.
JUMP_NEXT, JUMP_STOP, JUMP_PROTECT, JUMP_FINISH = 65526, 65533, 65534, 65535
#: Cnd ``type`` -> quantity; ``CmpType`` -> operator.
CND_QUANTITY = {1: "voltage_v", 2: "current_a", 3: "time_s"}
CND_OPERATOR = {3: ">", 4: ">=", 5: "<", 6: "<="}
#: File unit -> SI factor.
VOLT_UNIT_V, CURR_UNIT_A, TIME_UNIT_S, CAP_UNIT_AH = 1e-4, 1e-3, 1e-3, 1e-3 / 3600.0


class StepFileError(ValueError):
    """A step file the simulated BTS refuses; the message is the reason it replies with."""


@dataclass(frozen=True)
class Condition:
    """A ``Cnd`` jump: when ``quantity op value`` (SI), go to ``jump`` (step number or a code)."""

    quantity: str
    op: str
    value: float
    jump: int


@dataclass(frozen=True)
class SimStep:
    """One parsed step (SI units; None where the file gives none)."""

    number: int
    type: int
    current_a: float | None = None
    voltage_v: float | None = None
    time_s: float | None = None
    stop_voltage_v: float | None = None
    stop_current_a: float | None = None
    capacity_ah: float | None = None
    start_step: int | None = None
    cycle_count: int | None = None
    conditions: tuple[Condition, ...] = ()

    @property
    def name(self) -> str:
        """The step type's name in replies (``cc``, ``dc``, ``rest`` ...)."""
        return STEP_TYPES[self.type][0]

    @property
    def sign(self) -> int:
        """+1 charge, -1 discharge, 0 neither."""
        return STEP_TYPES[self.type][1]


@dataclass(frozen=True)
class StepFile:
    """A parsed step file: steps by number, protection (V, A, Ah; None = not set), record period (s)."""

    steps: dict[int, SimStep]
    start_step: int = 1
    voltage_upper_v: float | None = None
    voltage_lower_v: float | None = None
    current_upper_a: float | None = None
    capacity_upper_ah: float | None = None
    record_time_s: float | None = None
    record_voltage_v: float | None = None
    notes: list[str] = field(default_factory=list)


def _value(parent: ET.Element | None, path: str, unit: float, where: str) -> float | None:
    if parent is None:
        return None
    node = parent.find(path)
    if node is None:
        return None
    text = node.get("Value")
    try:
        value = float(text) * unit if text is not None else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise StepFileError(f"{where}: {path} Value={text!r} is not a number")
    return value


def _conditions(other: ET.Element | None, where: str) -> tuple[Condition, ...]:
    if other is None:
        return ()
    out = []
    for node in other:
        if not node.tag.startswith("Cnd"):
            continue
        try:
            quantity = CND_QUANTITY[int(node.get("type", "0"))]
            op = CND_OPERATOR[int(node.get("CmpType", "0"))]
            jump = int(node.get("Jump_Line", "0"))
            raw = float(node.get("Value", "nan"))
        except (KeyError, ValueError):
            raise StepFileError(f"{where}: {node.tag} has an unknown type, CmpType, Jump_Line or Value") from None
        unit = {"voltage_v": VOLT_UNIT_V, "current_a": CURR_UNIT_A, "time_s": TIME_UNIT_S}[quantity]
        if not math.isfinite(raw):
            raise StepFileError(f"{where}: {node.tag} Value is not a number")
        out.append(Condition(quantity, op, raw * unit, jump))
    return tuple(out)


def _step(node: ET.Element) -> SimStep:
    where = f"step {node.get('Step_ID', node.tag)}"
    try:
        number = int(node.get("Step_ID", ""))
        kind = int(node.get("Step_Type", ""))
    except ValueError:
        raise StepFileError(f"{node.tag}: Step_ID / Step_Type missing or not a number") from None
    if kind not in STEP_TYPES:
        raise StepFileError(f"{where}: unsupported Step_Type {kind}")
    main = node.find("Limit/Main")
    other = node.find("Limit/Other")
    start = _value(other, "Start_Step", 1.0, where)
    count = _value(other, "Cycle_Count", 1.0, where)
    return SimStep(
        number=number, type=kind,
        current_a=_value(main, "Curr", CURR_UNIT_A, where), voltage_v=_value(main, "Volt", VOLT_UNIT_V, where),
        time_s=_value(main, "Time", TIME_UNIT_S, where), stop_voltage_v=_value(main, "Stop_Volt", VOLT_UNIT_V, where),
        stop_current_a=_value(main, "Stop_Curr", CURR_UNIT_A, where), capacity_ah=_value(main, "Cap", CAP_UNIT_AH, where),
        start_step=None if start is None else int(start), cycle_count=None if count is None else int(count),
        conditions=_conditions(other, where))


def _check_step(step: SimStep, steps: dict[int, SimStep], max_current_a: float, max_voltage_v: float) -> None:
    where = f"step {step.number} ({step.name})"
    if step.type in (1, 2, 3, 19, 7, 20):
        if step.current_a is None or not 0.0 < step.current_a:
            raise StepFileError(f"{where}: needs a current (Curr) above 0")
        if step.current_a > max_current_a * (1 + 1e-9):
            raise StepFileError(f"{where}: current {step.current_a:g} A exceeds the channel's {max_current_a:g} A range")
    if step.type in (3, 19, 7, 20):
        if step.voltage_v is None or not 0.0 < step.voltage_v <= max_voltage_v:
            raise StepFileError(f"{where}: needs a voltage (Volt) in 0..{max_voltage_v:g} V")
    if step.type in WORKING_TYPES:
        ends = (step.time_s, step.stop_voltage_v, step.stop_current_a, step.capacity_ah)
        if all(e is None for e in ends) and not step.conditions:
            raise StepFileError(f"{where}: has no end condition (Time, Stop_Volt, Stop_Curr, Cap or a Cnd)")
    if step.type == 5:
        if step.start_step not in steps or step.start_step is None or step.start_step >= step.number:
            raise StepFileError(f"{where}: Start_Step {step.start_step} is not an earlier step")
        if step.cycle_count is None or step.cycle_count < 1:
            raise StepFileError(f"{where}: Cycle_Count must be >= 1")
    for cnd in step.conditions:
        if cnd.jump not in steps and cnd.jump not in (JUMP_NEXT, JUMP_STOP, JUMP_PROTECT, JUMP_FINISH):
            raise StepFileError(f"{where}: a Cnd jumps to step {cnd.jump}, which does not exist")


def parse_step_file(data: bytes, *, max_current_a: float, max_voltage_v: float) -> StepFile:
    """Parse and check a BTS 8.0 step file for a channel of ``max_current_a`` A / ``max_voltage_v`` V;
    StepFileError with the reason otherwise."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise StepFileError(f"not a step file: XML error {exc}") from None
    config = root if root.tag == "config" else root.find("config")
    if config is None or config.get("type") != "Step File":
        raise StepFileError("not a step file: no <config type=\"Step File\">")
    info = config.find("Step_Info")
    if info is None or len(info) == 0:
        raise StepFileError("no Step_Info steps")
    steps: dict[int, SimStep] = {}
    for node in info:
        step = _step(node)
        if step.number in steps:
            raise StepFileError(f"step {step.number}: Step_ID used twice")
        steps[step.number] = step
    if sorted(steps) != list(range(1, len(steps) + 1)):
        raise StepFileError(f"Step_ID must run 1..{len(steps)} without gaps")
    if steps[len(steps)].type != 6:
        raise StepFileError(f"the last step ({len(steps)}) must be an end step (Step_Type 6)")
    for step in steps.values():
        _check_step(step, steps, max_current_a, max_voltage_v)
    protect = config.find("Whole_Prt/Protect/Main")
    record = config.find("Whole_Prt/Record/Main")
    head = config.find("Head_Info/Start_Step")
    start = int(head.get("Value", "1")) if head is not None and (head.get("Value") or "").isdigit() else 1
    if start not in steps:
        raise StepFileError(f"Head_Info Start_Step {start} does not exist")
    record_time = _value(record, "Time", TIME_UNIT_S, "Record")
    if record_time is not None and record_time <= 0:
        raise StepFileError("Record Time must be > 0")
    return StepFile(
        steps=steps, start_step=start,
        voltage_upper_v=_value(protect, "Volt/Upper", VOLT_UNIT_V, "Protect"),
        voltage_lower_v=_value(protect, "Volt/Lower", VOLT_UNIT_V, "Protect"),
        current_upper_a=_value(protect, "Curr/Upper", CURR_UNIT_A, "Protect"),
        capacity_upper_ah=_value(protect, "Cap/Upper", CAP_UNIT_AH, "Protect"),
        record_time_s=record_time, record_voltage_v=_value(record, "Volt", VOLT_UNIT_V, "Record"))
