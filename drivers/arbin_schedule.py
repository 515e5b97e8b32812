"""Arbin schedule writer: a :class:`~bench.delegated.program.DelegatedProgram`-shaped program as an
Arbin MITS Pro schedule file (``.sdu``), with the table of what the format can express here.

Format facts (Arbin's schedule format is not published by Arbin; what is written here is what the
public example files show): the ``.sdu`` schedule of MITS Pro 7 is an INI text file, as in TRI's
beep repository (``beep/protocol/schedule_templates/20170630-3_6C_9per_5C.sdu``, "Schedule Version
7.00.13", and ``beep/protocol/maccor_to_arbin.py``, which writes such files):

* ``[Schedule]``: ``m_uStepNum`` steps; channel safety ``m_bCheckVoltageSafety`` /
  ``m_VoltageSafetyScope=min^max`` (V), ``m_bCheckCurrentSafety`` / ``m_CurrentSafetyScope=min^max`` (A).
* ``[Schedule_StepN]`` (N from 0): ``m_szLabel`` (goto target), ``m_szStepCtrlType`` one of ``Rest``,
  ``Current(A)`` (``m_szCtrlValue`` A, + charges), ``CCCV`` (``m_szCtrlValue`` A signed,
  ``m_szExtCtrlValue1`` V), ``Voltage(V)``, ``Set Variable(s)`` (``m_szCtrlValue`` reset mask,
  ``m_szExtCtrlValue1`` increment mask; bit 0 = Cycle Index, per beep's table), ``m_uLimitNum``.
* ``[Schedule_StepN_LimitK]``: ``m_bStepLimit`` (1 ends the step), ``m_bLogDataLimit`` (1 logs a
  record), ``m_szGotoStep`` (``Next Step``, ``End Test`` or a label), ``Equation0_szLeft`` (``PV_CHAN_Voltage``,
  ``PV_CHAN_Current``, ``PV_CHAN_CV_Stage_Current``, ``PV_CHAN_Step_Time``, ``PV_CHAN_Cycle_Index``,
  ``DV_Time`` for a logging period), ``Equation0_szCompareSign``, ``Equation0_szRight``. Currents in
  limits are signed: a discharge's taper end is ``PV_CHAN_CV_Stage_Current > -0.022`` (beep).

Not written (refused with the protocol step's file:line:col): constant power (a ``Power(W)`` control
type appears in no public file read), step capacity ends (the public files only show the cycle's
``PV_CHAN_Charge_Capacity`` counters, not a step's), nested loops (one Cycle Index counter is used).
The temperature limit is not written either (an aux-channel safety needs the lab's aux map): noted,
the bench's supervisor guards it. MITS Pro 8's ``.sdx`` format could not be found in public: this
writer targets the ``.sdu`` format only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drivers.delegated.capabilities import FormatCapabilities

_ENDS = frozenset({"voltage_v", "current_a", "time_s"})
#: What this writer expresses (step kinds: cc -> Current(A), cccv / cv -> CCCV, rest -> Rest,
#: cycle -> Set Variable(s) + a PV_CHAN_Cycle_Index limit, end -> a Rest going to End Test).
CAPABILITIES = FormatCapabilities(
    step_format="arbin_schedule",
    step_kinds=frozenset({"cc", "cccv", "cv", "rest", "cycle", "end"}),
    end_quantities={"cc": _ENDS, "cccv": _ENDS, "cv": _ENDS, "rest": frozenset({"voltage_v", "time_s"})},
    limits=frozenset({"voltage_max_v", "voltage_min_v", "current_max_a"}),
    max_steps=1000,  # no limit found in the public documents: this writer's own bound
    max_ends_per_step=16,
    nested_loops=False,
    record_period_s=(0.1, 3600.0),
    source="MITS Pro 7 .sdu as in TRI beep's schedule_templates/20170630-3_6C_9per_5C.sdu and maccor_to_arbin.py",
)
#: The step index a record carries for the program's first step: the driver reports the schedule's
#: step (``[Schedule_StepN]``, one per program step) from 0, i.e. the program's own index.
FIRST_STEP_NUMBER = 0
REFUSED = {"cp": "constant power: no Power(W) control type in the public Arbin schedule files",
           "capacity_ah": "step capacity end: the public Arbin files show only cycle capacity counters"}
SDU_VERSION = "Schedule Version 7.00.13"


class ScheduleUnsupported(ValueError):
    """The program holds something the Arbin writer cannot express (one line per problem)."""


@dataclass(frozen=True)
class WrittenSchedule:
    """The schedule text and what was left out (``notes``: not refused, e.g. the temperature limit)."""

    text: str
    notes: tuple[str, ...]


def _num(value: float) -> str:
    return f"{value:.6g}"


def _where(step: Any) -> str:
    return f"{step.source}: " if getattr(step, "source", "") else ""


def write_schedule(program: Any) -> WrittenSchedule:
    """The ``.sdu`` text of ``program``; ScheduleUnsupported listing every step it cannot express."""
    steps = list(program.steps)
    labels = [f"S{n + 1:03d}" for n in range(len(steps))]
    problems: list[str] = []
    sections: list[tuple[str, list[tuple[str, str]]]] = []
    cycles_before = 1  # the Cycle Index a loop starts from (loops run one after the other)
    open_loops: list[int] = []

    def goto(target: int | None) -> str:
        if target is None:
            return "Next Step"
        return "End Test" if target >= len(steps) else labels[target]

    for n, step in enumerate(steps):
        kind = step.kind
        body: list[tuple[str, str]] = [("m_szLabel", labels[n])]
        limits: list[list[tuple[str, str]]] = []
        ctrl, value, ext1 = "Rest", "", ""
        sign = 1.0
        if kind == "cc":
            ctrl, value = "Current(A)", _num(step.current_a)
            sign = 1.0 if step.current_a >= 0 else -1.0
        elif kind in ("cccv", "cv"):
            if step.current_a is None or step.voltage_v is None:
                problems.append(f"{_where(step)}{kind} step needs a current and a voltage for the Arbin CCCV type")
                continue
            current = step.current_a
            if kind == "cv":  # a hold's current limit is a magnitude: charge above mid-window, else discharge
                mid = 0.5 * (program.limits.voltage_max_v + program.limits.voltage_min_v)
                current = abs(current) if step.voltage_v >= mid else -abs(current)
            ctrl, value, ext1 = "CCCV", _num(current), _num(step.voltage_v)
            sign = 1.0 if current >= 0 else -1.0
        elif kind == "cp":
            problems.append(f"{_where(step)}{REFUSED['cp']}")
            continue
        elif kind == "cycle":
            target = step.loop_to if step.loop_to is not None else 0
            if step.loop_count is None or step.loop_count < 1:
                problems.append(f"{_where(step)}loop without a count")
                continue
            if any(target <= inner < n for inner in open_loops):
                problems.append(f"{_where(step)}nested loops: the Arbin writer uses the one Cycle Index counter")
                continue
            open_loops.append(target)
            cycles_before += step.loop_count
            ctrl, value, ext1 = "Set Variable(s)", "0", "1"
            limits.append(_limit(goto(target), "PV_CHAN_Cycle_Index", "<", _num(cycles_before)))
            limits.append(_limit("Next Step", "PV_CHAN_Step_Time", ">=", "0"))
        elif kind == "end":
            limits.append(_limit("End Test", "PV_CHAN_Step_Time", ">=", "0"))
        elif kind != "rest":
            problems.append(f"{_where(step)}step kind {kind!r} has no Arbin control type here")
            continue
        if kind not in ("cycle", "end"):
            for end in step.ends:
                limit = _end_limit(end, kind, sign, goto(end.goto))
                if isinstance(limit, str):
                    problems.append(f"{_where(step)}{limit}")
                else:
                    limits.append(limit)
            if step.record_period_s > 0:
                limits.append([("m_bStepLimit", "0"), ("m_bLogDataLimit", "1"), ("m_szGotoStep", "Next Step"),
                               ("Equation0_szLeft", "DV_Time"), ("Equation0_szCompareSign", ">="),
                               ("Equation0_szRight", _num(step.record_period_s))])
        body += [("m_uLimitNum", str(len(limits))), ("m_szStepCtrlType", ctrl), ("m_szCtrlValue", value),
                 ("m_szExtCtrlValue1", ext1), ("m_szExtCtrlValue2", "0")]
        sections.append((f"Schedule_Step{n}", body))
        sections += [(f"Schedule_Step{n}_Limit{k}", lim) for k, lim in enumerate(limits)]
    if problems:
        raise ScheduleUnsupported("\n".join(problems))
    lim = program.limits
    notes = []
    if lim.temperature_max_c is not None:
        notes.append(f"temperature limit {lim.temperature_max_c:g} °C not written (needs the lab's aux channel "
                     "map); the bench's supervisor guards it")
    head = [("Version Section", [("Current_Version", SDU_VERSION)]),
            ("Schedule", [("m_szComments", f"CellBench {program.name}"), ("m_uStepNum", str(len(steps))),
                          ("m_bCheckVoltageSafety", "1"),
                          ("m_VoltageSafetyScope", f"{lim.voltage_min_v:.6f}^{lim.voltage_max_v:.6f}"),
                          ("m_bCheckCurrentSafety", "1"),
                          ("m_CurrentSafetyScope", f"{-lim.current_max_a:.6f}^{lim.current_max_a:.6f}")])]
    lines: list[str] = []
    for name, items in head + sections:
        lines.append(f"[{name}]")
        lines += [f"{key}={value}" for key, value in items]
    return WrittenSchedule("\r\n".join(lines) + "\r\n", tuple(notes))


def write_step_file(program: Any) -> bytes:
    """The schedule file's bytes (the compiler's writer entry point; ScheduleUnsupported as above)."""
    return write_schedule(program).text.encode("utf-8")


def _limit(goto: str, left: str, op: str, right: str) -> list[tuple[str, str]]:
    return [("m_bStepLimit", "1"), ("m_bLogDataLimit", "1"), ("m_szGotoStep", goto), ("Equation0_szLeft", left),
            ("Equation0_szCompareSign", op), ("Equation0_szRight", right)]


def _end_limit(end: Any, kind: str, sign: float, goto: str) -> list[tuple[str, str]] | str:
    """One end as a limit, or the reason it cannot be one."""
    if end.quantity == "capacity_ah":
        return REFUSED["capacity_ah"]
    if end.quantity == "time_s":
        return _limit(goto, "PV_CHAN_Step_Time", ">=", _num(end.value))
    if end.quantity == "voltage_v":
        return _limit(goto, "PV_CHAN_Voltage", end.op, _num(end.value))
    if end.quantity == "current_a":
        left = "PV_CHAN_CV_Stage_Current" if kind in ("cccv", "cv") else "PV_CHAN_Current"
        if sign < 0:  # signed current: |I| <= x while discharging is I >= -x
            return _limit(goto, left, {"<=": ">=", ">=": "<="}[end.op], _num(-end.value))
        return _limit(goto, left, end.op, _num(end.value))
    return f"end condition on {end.quantity!r} has no Arbin limit here"
