"""Maccor procedure writer: a delegated program as a Maccor test procedure (``.000``, XML), with the
table of what the format can express here.

Format facts (Maccor does not publish the procedure schema; what is written is what public procedure
files show): TRI's beep repository, ``beep/protocol/procedure_templates/diagnosticV5.000`` (a
"Maccor Procedure File", ``<MaccorTestProcedure>``, header ``BuildTestVersion`` / ``FileFormatVersion``
``BTVersion`` 11):

* ``<ProcSteps>`` of ``<TestStep>``, numbered from 1 in file order: ``StepType`` (fixed width:
  `` Charge ``, ``Dischrge``, ``  Rest  ``, ``  Do 1  ``, `` Loop 1 ``, ``AdvCycle``, ``  End   ``),
  ``StepMode`` (``Current `` / ``Voltage ``), ``StepValue`` (A or V, a magnitude: the step type gives
  the direction), ``Limits`` (``<Voltage>`` on a current step: CC then CV at it; ``<Current>`` on a
  voltage step), ``Ends`` of ``EndEntry`` (``EndType`` ``StepTime`` / ``Voltage `` / ``Current `` /
  ``Loop Cnt``, ``Oper`` `` = `` / ``>= `` / ``<= ``, ``Step`` the 3-digit step to go to, ``Value``;
  times ``hh:mm:ss``; ``ChanSafetyEnd`` True on the voltage safety ends that go to the end step),
  ``Reports`` (``ReportEntry`` ``StepTime`` = the logging period), ``Range``, ``Option1..3``, ``StepNote``.
* Loops: ``Do 1`` before the body, ``AdvCycle`` (cycle count + 1) and ``Loop 1`` after it with the end
  ``Loop Cnt = N`` going to the next step.

Not written (refused with the protocol step's file:line:col): constant power (no power step mode in
the public files read), step capacity ends (no capacity end type in them), nested loops (only
``Do 1`` / ``Loop 1`` is used). The current and temperature limits are not written into the
procedure (the public files show voltage safety ends only): noted; the bench's supervisor guards them
(and the lab's (6, 10) channel safety, if it sets it).
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from drivers.delegated.capabilities import FormatCapabilities

_ENDS = frozenset({"voltage_v", "current_a", "time_s"})
CAPABILITIES = FormatCapabilities(
    step_format="maccor_procedure",
    step_kinds=frozenset({"cc", "cccv", "cv", "rest", "cycle", "end"}),
    end_quantities={"cc": _ENDS, "cccv": _ENDS, "cv": _ENDS, "rest": frozenset({"voltage_v", "time_s"})},
    limits=frozenset({"voltage_max_v", "voltage_min_v"}),
    max_steps=900,  # the Step field has three digits; the Do/AdvCycle/Loop/End steps added count too
    max_ends_per_step=8,
    nested_loops=False,
    record_period_s=(0.01, 3600.0),
    source="Maccor procedure XML as in TRI beep's procedure_templates/diagnosticV5.000",
)
#: ``StepNote`` of every written step: this prefix and the program step it runs (the Maccor step
#: numbers also count the Do / AdvCycle / Loop steps the writer adds): the driver maps the tester's
#: step numbers back to the program's steps with it (:func:`program_steps`).
NOTE = "CellBench step "
#: The step index the driver reports for the program's first step: the program's own index.
FIRST_STEP_NUMBER = 0
REFUSED = {"cp": "constant power: no power step mode in the public Maccor procedure files",
           "capacity_ah": "step capacity end: no capacity end type in the public Maccor procedure files"}
_OPER = {">=": "&gt;= ", "<=": "&lt;= ", ">": "&gt;= ", "<": "&lt;= "}


class ProcedureUnsupported(ValueError):
    """The program holds something the Maccor writer cannot express (one line per problem)."""


def hms(seconds: float) -> str:
    """``hh:mm:ss`` (with hundredths when not whole seconds)."""
    whole = int(seconds)
    frac = seconds - whole
    text = f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"
    return text + f".{round(frac * 100):02d}" if frac >= 0.005 else text


def _where(step: Any) -> str:
    return f"{step.source}: " if getattr(step, "source", "") else ""


def write_step_file(program: Any) -> bytes:
    """The procedure file's bytes; ProcedureUnsupported listing every step it cannot express."""
    steps = list(program.steps)
    starts = {s.loop_to for s in steps if s.kind == "cycle" and s.loop_to is not None}
    # Maccor step numbers: a Do 1 before each loop's first step, an AdvCycle before each Loop 1, an End at the end.
    number: dict[int, int] = {}
    count = 0
    for n, step in enumerate(steps):
        count += 1 if n in starts else 0
        count += 1 if step.kind == "cycle" else 0
        count += 1
        number[n] = count
    end_step = count + 1
    number[len(steps)] = end_step
    lim = program.limits
    problems: list[str] = []
    body: list[str] = []
    for n, step in enumerate(steps):
        if n in starts:
            body.append(_step("  Do 1  ", "", "", "", [], [], n))
        kind = step.kind
        if kind == "cycle":
            if step.loop_count is None or step.loop_count < 1:
                problems.append(f"{_where(step)}loop without a count")
                continue
            body.append(_step("AdvCycle", "", "", "", [], [], n))
            body.append(_step(" Loop 1 ", "", "", "", [("Loop Cnt", " = ", number[n] + 1, str(step.loop_count), False)],
                              [], n))
            continue
        if kind == "end":
            body.append(_step("  End   ", "", "", "", [], [], n))
            continue
        if kind == "cp" or kind not in ("cc", "cccv", "cv", "rest"):
            problems.append(f"{_where(step)}{REFUSED.get(kind, f'step kind {kind!r} has no Maccor step type here')}")
            continue
        ends = []
        for end in step.ends:
            goto = number[end.goto] if end.goto is not None else number[n] + 1
            if end.quantity == "time_s":
                ends.append(("StepTime", " = ", goto, hms(end.value), False))
            elif end.quantity in ("voltage_v", "current_a"):
                ends.append(("Voltage " if end.quantity == "voltage_v" else "Current ", _OPER[end.op], goto,
                             f"{end.value:.6g}", False))
            else:
                problems.append(f"{_where(step)}{REFUSED.get(end.quantity, f'no Maccor end on {end.quantity}')}")
        ends += [("Voltage ", "&gt;= ", end_step, f"{lim.voltage_max_v:.6g}", True),
                 ("Voltage ", "&lt;= ", end_step, f"{lim.voltage_min_v:.6g}", True)]
        reports = [("StepTime", hms(step.record_period_s))] if step.record_period_s > 0 else []
        if kind == "rest":
            body.append(_step("  Rest  ", "", "", "", ends, reports, n))
            continue
        if kind == "cv":
            mid = 0.5 * (lim.voltage_max_v + lim.voltage_min_v)
            charge = float(step.voltage_v or 0.0) >= mid
            limits = f"<Current>{abs(step.current_a or 0.0):.6g}</Current>"
            body.append(_step(" Charge " if charge else "Dischrge", "Voltage ", f"{step.voltage_v:.6g}", limits, ends,
                              reports, n))
            continue
        current = float(step.current_a or 0.0)
        limits = f"<Voltage>{step.voltage_v:.6g}</Voltage>" if kind == "cccv" and step.voltage_v is not None else ""
        body.append(_step(" Charge " if current >= 0 else "Dischrge", "Current ", f"{abs(current):.6g}", limits, ends,
                          reports, n))
    if problems:
        raise ProcedureUnsupported("\n".join(problems))
    body.append(_step("  End   ", "", "", "", [], []))
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<?maccor-application progid=\"Maccor Procedure File\"?>\r\n"
            "<MaccorTestProcedure>\r\n  <header>\r\n    <BuildTestVersion>\r\n      <major>1</major>\r\n"
            "      <minor>5</minor>\r\n      <release>7006</release>\r\n      <build>32043</build>\r\n"
            "    </BuildTestVersion>\r\n    <FileFormatVersion>\r\n      <BTVersion>11</BTVersion>\r\n"
            "    </FileFormatVersion>\r\n    <ProcDesc>\r\n      <desc>" + escape(f"CellBench {program.name}")
            + "</desc>\r\n    </ProcDesc>\r\n  </header>\r\n  <ProcSteps>\r\n" + "".join(body)
            + "  </ProcSteps>\r\n</MaccorTestProcedure>\r\n").encode("utf-8")


def notes(program: Any) -> list[str]:
    """What the procedure leaves to the bench's supervisor (not refused)."""
    out = [f"current limit {program.limits.current_max_a:g} A not written into the procedure"]
    if program.limits.temperature_max_c is not None:
        out.append(f"temperature limit {program.limits.temperature_max_c:g} °C not written into the procedure")
    return out


def _step(kind: str, mode: str, value: str, limits: str, ends: list[tuple[str, str, int, str, bool]],
          reports: list[tuple[str, str]], index: int = -1) -> str:
    out = [f"    <TestStep>\r\n      <StepType>{kind}</StepType>\r\n      <StepMode>{mode or '        '}</StepMode>\r\n"
           f"      <StepValue>{value}</StepValue>\r\n"]
    out.append(f"      <Limits>{limits}</Limits>\r\n" if limits else "      <Limits/>\r\n")
    if ends:
        out.append("      <Ends>\r\n")
        for end_type, oper, goto, val, safety in ends:
            out.append(f"        <EndEntry>\r\n          <EndType>{end_type}</EndType>\r\n"
                       f"          <SpecialType> </SpecialType>\r\n          <Oper>{oper}</Oper>\r\n"
                       f"          <Step>{goto:03d}</Step>\r\n          <Value>{val}</Value>\r\n"
                       + ("          <ChanSafetyEnd>True</ChanSafetyEnd>\r\n" if safety else "")
                       + "        </EndEntry>\r\n")
        out.append("      </Ends>\r\n")
    else:
        out.append("      <Ends/>\r\n")
    if reports:
        out.append("      <Reports>\r\n" + "".join(
            f"        <ReportEntry>\r\n          <ReportType>{t}</ReportType>\r\n          <Value>{v}</Value>\r\n"
            "        </ReportEntry>\r\n" for t, v in reports) + "      </Reports>\r\n")
    else:
        out.append("      <Reports/>\r\n")
    out.append("      <Range>A</Range>\r\n      <Option1>N</Option1>\r\n      <Option2>N</Option2>\r\n"
               f"      <Option3>N</Option3>\r\n      <StepNote>{NOTE}{index}</StepNote>\r\n    </TestStep>\r\n")
    return "".join(out)


def program_steps(procedure: bytes) -> dict[int, int]:
    """Maccor step number (from 1) -> program step index, from the ``StepNote`` of a procedure this
    writer wrote (steps without such a note are left out)."""
    import xml.etree.ElementTree as ET

    out: dict[int, int] = {}
    try:
        nodes = ET.fromstring(procedure).findall("./ProcSteps/TestStep")
    except ET.ParseError:
        return out  # not a procedure this writer wrote: the tester says what is wrong with it at the start
    for number, node in enumerate(nodes, 1):
        note = (node.findtext("StepNote") or "").strip()
        if note.startswith(NOTE.strip()) and note[len(NOTE):].strip().lstrip("-").isdigit():
            index = int(note[len(NOTE):])
            if index >= 0:
                out[number] = index
    return out
