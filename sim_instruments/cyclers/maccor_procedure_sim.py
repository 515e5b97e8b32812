"""The simulated Maccor's reader of test procedures (``.000``, the XML "Maccor Procedure File"),
into :class:`~sim_instruments.cyclers.step_machine.SimStep` data.

Built from public procedure files (TRI's beep repository, ``beep/protocol/procedure_templates/
diagnosticV5.000``), not from any writer here: ``<MaccorTestProcedure><ProcSteps>`` holds
``<TestStep>`` elements, numbered from 1 in file order, each with ``StepType`` (`` Charge ``,
``Dischrge``, ``  Rest  ``, ``  Do 1  ``, `` Loop 1 ``, ``AdvCycle``, ``  End   ``: fixed-width,
compared stripped), ``StepMode`` (``Current``, ``Voltage``), ``StepValue``, ``Limits``
(``Voltage`` for a current step: charge/discharge to it then hold; ``Current`` for a voltage step),
``Ends/EndEntry`` (``EndType`` ``StepTime`` / ``Voltage`` / ``Current`` / ``Loop Cnt``, ``Oper``,
``Step`` the 3-digit step to go to, ``Value``; times ``hh:mm:ss[.ff]``, empty fields 0;
``ChanSafetyEnd`` True marks a channel safety end) and ``Reports/ReportEntry`` (``StepTime``: the
logging period).

Run here: the step types above (``Loop n`` jumps back to the step after the matching ``Do n`` until
it has run ``Loop Cnt`` times, then goes on to the next step); ends on those quantities; safety ends
(voltage) become the channel's safety limits (a pass suspends the channel). Anything else is a
:class:`ProcedureRejected` naming the step (the start answers a compile error).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from sim_instruments.cyclers.step_machine import NEXT, SimEnd, SimLimits, SimStep

_ENDS = {"StepTime": "time_s", "Voltage": "voltage_v", "Current": "current_a"}


class ProcedureRejected(ValueError):
    """The procedure holds something the simulated tester cannot run."""


def seconds(text: str) -> float:
    """``hh:mm:ss[.ff]`` (empty fields 0, ``::.01`` = 10 ms) or a plain number, as seconds."""
    parts = text.strip().split(":")
    try:
        values = [float(p) if p.strip() else 0.0 for p in parts]
    except ValueError:
        raise ProcedureRejected(f"time {text!r} is not hh:mm:ss") from None
    total = 0.0
    for value in values:
        total = total * 60.0 + value
    return total


def _text(node: ET.Element | None, tag: str) -> str:
    child = node.find(tag) if node is not None else None
    return (child.text or "").strip() if child is not None else ""


def parse_procedure(data: bytes) -> tuple[tuple[SimStep, ...], SimLimits]:
    """The steps and safety limits of a procedure file (ProcedureRejected with the reason)."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ProcedureRejected(f"not a procedure file: {exc}") from None
    nodes = root.findall("./ProcSteps/TestStep")
    if root.tag != "MaccorTestProcedure" or not nodes:
        raise ProcedureRejected("no <MaccorTestProcedure><ProcSteps><TestStep>")
    vmax: float | None = None
    vmin: float | None = None
    steps: list[SimStep] = []
    do_at: dict[str, int] = {}
    for n, node in enumerate(nodes):
        where = f"step {n + 1:03d}"
        kind_text = _text(node, "StepType")
        mode = _text(node, "StepMode")
        ends: list[SimEnd] = []
        loop_count = 0
        for entry in node.findall("./Ends/EndEntry"):
            end_type, oper = _text(entry, "EndType"), _text(entry, "Oper")
            value_text = _text(entry, "Value")
            goto = int(_text(entry, "Step") or "0") - 1
            if end_type == "Loop Cnt":
                loop_count = int(float(value_text))
                if goto != n + 1:
                    raise ProcedureRejected(f"{where}: a loop going on to step {goto + 1:03d}, not the next step")
                continue
            if end_type not in _ENDS:
                raise ProcedureRejected(f"{where}: end type {end_type!r} is not run by this simulator")
            op = {"=": ">=", ">=": ">=", "<=": "<=", ">": ">", "<": "<"}.get(oper)
            if op is None:
                raise ProcedureRejected(f"{where}: operator {oper!r} unknown")
            value = seconds(value_text) if end_type == "StepTime" else float(value_text)
            if _text(entry, "ChanSafetyEnd") == "True":
                if end_type != "Voltage":
                    raise ProcedureRejected(f"{where}: a safety end on {end_type} is not run by this simulator")
                if op in (">=", ">"):
                    vmax = value if vmax is None else min(vmax, value)
                else:
                    vmin = value if vmin is None else max(vmin, value)
                continue
            if not 0 <= goto < len(nodes):
                raise ProcedureRejected(f"{where}: goto step {goto + 1:03d} does not exist")
            ends.append(SimEnd(_ENDS[end_type], op, value, NEXT if goto == n + 1 else goto))
        period = 0.0
        for report in node.findall("./Reports/ReportEntry"):
            if _text(report, "ReportType") == "StepTime":
                period = seconds(_text(report, "Value"))
        if kind_text.startswith("Do "):
            do_at[kind_text[3:]] = n
            steps.append(SimStep("marker", ends=(SimEnd("always", ">=", 0.0),), label=kind_text))
        elif kind_text.startswith("Loop "):
            level = kind_text[5:]
            if level not in do_at or loop_count < 1:
                raise ProcedureRejected(f"{where}: {kind_text} without a Do {level} before it or a Loop Cnt")
            steps.append(SimStep("loop", goto_step=do_at.pop(level) + 1, loop_count=loop_count, label=kind_text))
        elif kind_text == "AdvCycle":
            steps.append(SimStep("advance_cycle", label=kind_text))
        elif kind_text == "End":
            steps.append(SimStep("end", label=kind_text))
        elif kind_text == "Rest":
            steps.append(SimStep("rest", ends=tuple(ends), record_period_s=period))
        elif kind_text in ("Charge", "Dischrge"):
            sign = 1.0 if kind_text == "Charge" else -1.0
            limits = node.find("Limits")
            try:
                value = float(_text(node, "StepValue"))
            except ValueError:
                raise ProcedureRejected(f"{where}: StepValue {_text(node, 'StepValue')!r} is not a number") from None
            if mode == "Current":
                limit_v = _text(limits, "Voltage")
                kind = "cccv" if limit_v else "cc"
                steps.append(SimStep(kind, current_a=sign * value, voltage_v=float(limit_v) if limit_v else None,
                                     ends=tuple(ends), record_period_s=period))
            elif mode == "Voltage":
                limit_a = _text(limits, "Current")
                if not limit_a:
                    raise ProcedureRejected(f"{where}: a voltage step needs a current limit here")
                steps.append(SimStep("cv", current_a=sign * float(limit_a), voltage_v=value, ends=tuple(ends),
                                     record_period_s=period))
            else:
                raise ProcedureRejected(f"{where}: step mode {mode!r} is not run by this simulator")
        else:
            raise ProcedureRejected(f"{where}: step type {kind_text!r} is not run by this simulator")
    if do_at:
        raise ProcedureRejected(f"Do {', '.join(do_at)} without its Loop")
    return tuple(steps), SimLimits(vmax, vmin, None)
