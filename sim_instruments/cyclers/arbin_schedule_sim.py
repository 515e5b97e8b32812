"""The simulated Arbin's reader of schedule files (MITS Pro 7 ``.sdu``, INI text), into
:class:`~sim_instruments.cyclers.step_machine.SimStep` data.

Built from the public example schedule (TRI's beep repository,
``beep/protocol/schedule_templates/20170630-3_6C_9per_5C.sdu``), not from any writer here: sections
``[Schedule]`` (safety scopes ``m_VoltageSafetyScope`` / ``m_CurrentSafetyScope`` as ``min^max``
with their ``m_bCheck...Safety`` flags), ``[Schedule_StepN]`` (``m_szLabel``, ``m_szStepCtrlType``,
``m_szCtrlValue``, ``m_szExtCtrlValue1``, ``m_uLimitNum``) and ``[Schedule_StepN_LimitK]``
(``m_bStepLimit``, ``m_bLogDataLimit``, ``m_szGotoStep``, ``EquationM_szLeft/CompareSign/Right``).

What this simulator runs (anything else is a :class:`ScheduleRejected` naming the step, and the
start is refused as an invalid schedule): control types ``Rest``, ``Current(A)``, ``Voltage(V)``,
``CCCV``, ``Set Variable(s)`` that increments the Cycle Index (increment mask bit 0); limits of one
equation on ``PV_CHAN_Step_Time``, ``PV_CHAN_Voltage``, ``PV_CHAN_Current``,
``PV_CHAN_CV_Stage_Current`` (signed, as in the file: a negative right side is a discharge
current's magnitude with the comparison turned), ``PV_CHAN_Cycle_Index``; logging limits on
``DV_Time``. Not run: ``C-Rate`` (needs the test's capacity), ``Internal Resistance``, formulas,
multi-equation limits, aux safety.
"""

from __future__ import annotations

import configparser

from sim_instruments.cyclers.step_machine import END, NEXT, SimEnd, SimLimits, SimStep

_CONTROL = {"Rest": "rest", "Current(A)": "cc", "Voltage(V)": "cv", "CCCV": "cccv", "Set Variable(s)": "advance_cycle"}
_LEFT = {"PV_CHAN_Step_Time": "time_s", "PV_CHAN_Voltage": "voltage_v", "PV_CHAN_Current": "current_a",
         "PV_CHAN_CV_Stage_Current": "current_a", "PV_CHAN_Cycle_Index": "cycle_index"}
_TURN = {">=": "<=", "<=": ">=", ">": "<", "<": ">", "=": "="}


class ScheduleRejected(ValueError):
    """The schedule holds something the simulated Arbin cannot run."""


def _float(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ScheduleRejected(f"{where}: {text!r} is not a number") from None


def _scope(section: configparser.SectionProxy, flag: str, key: str) -> tuple[float | None, float | None]:
    if section.get(flag, "0").strip() != "1" or key not in section:
        return None, None
    low, _, high = section[key].partition("^")
    return _float(low, key), _float(high, key)


def parse_schedule(data: bytes) -> tuple[tuple[SimStep, ...], SimLimits]:
    """The steps and channel safety of an ``.sdu`` file (ScheduleRejected with the reason)."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    try:
        parser.read_string(data.decode("utf-8", "replace"))
    except configparser.Error as exc:
        raise ScheduleRejected(f"not a schedule file: {str(exc).splitlines()[0]}") from None
    if "Schedule" not in parser:
        raise ScheduleRejected("no [Schedule] section")
    head = parser["Schedule"]
    count = int(_float(head.get("m_uStepNum", "0"), "m_uStepNum"))
    if count < 1:
        raise ScheduleRejected("m_uStepNum: no steps")
    vmin, vmax = _scope(head, "m_bCheckVoltageSafety", "m_VoltageSafetyScope")
    imin, imax = _scope(head, "m_bCheckCurrentSafety", "m_CurrentSafetyScope")
    limits = SimLimits(vmax, vmin, max(abs(imin), abs(imax)) if imin is not None and imax is not None else None)
    labels = {}
    for n in range(count):
        name = f"Schedule_Step{n}"
        if name not in parser:
            raise ScheduleRejected(f"[{name}] missing (m_uStepNum is {count})")
        labels[parser[name].get("m_szLabel", "").strip()] = n
    return tuple(_step(parser, n, labels) for n in range(count)), limits


def _step(parser: configparser.ConfigParser, n: int, labels: dict[str, int]) -> SimStep:
    name = f"Schedule_Step{n}"
    sec = parser[name]
    ctrl = sec.get("m_szStepCtrlType", "").strip()
    if ctrl not in _CONTROL:
        raise ScheduleRejected(f"[{name}] control type {ctrl!r} is not run by this simulator")
    kind = _CONTROL[ctrl]
    current, voltage = 0.0, None
    if kind == "cc":
        current = _float(sec.get("m_szCtrlValue", ""), f"[{name}] m_szCtrlValue")
    elif kind == "cv":
        voltage, current = _float(sec.get("m_szCtrlValue", ""), f"[{name}] m_szCtrlValue"), 1e6
    elif kind == "cccv":
        current = _float(sec.get("m_szCtrlValue", ""), f"[{name}] m_szCtrlValue")
        voltage = _float(sec.get("m_szExtCtrlValue1", ""), f"[{name}] m_szExtCtrlValue1")
    elif kind == "advance_cycle":
        increment = int(_float(sec.get("m_szExtCtrlValue1", "0") or "0", f"[{name}] m_szExtCtrlValue1"))
        if increment != 1:
            raise ScheduleRejected(f"[{name}] Set Variable(s) other than 'increment Cycle Index' is not run here")
    ends: list[SimEnd] = []
    period = 0.0
    for k in range(int(_float(sec.get("m_uLimitNum", "0"), f"[{name}] m_uLimitNum"))):
        lname = f"{name}_Limit{k}"
        if lname not in parser:
            raise ScheduleRejected(f"[{lname}] missing")
        lim = parser[lname]
        left = lim.get("Equation0_szLeft", "").strip()
        op = lim.get("Equation0_szCompareSign", "").strip()
        right = _float(lim.get("Equation0_szRight", ""), f"[{lname}] Equation0_szRight")
        if lim.get("Equation1_szLeft", "").strip():
            raise ScheduleRejected(f"[{lname}] limits of several equations are not run by this simulator")
        if op not in _TURN:
            raise ScheduleRejected(f"[{lname}] comparison {op!r} unknown")
        if lim.get("m_bStepLimit", "0").strip() != "1":
            if left == "DV_Time" and lim.get("m_bLogDataLimit", "0").strip() == "1":
                period = right
                continue
            raise ScheduleRejected(f"[{lname}] logging limit on {left!r} is not run by this simulator")
        if left not in _LEFT:
            raise ScheduleRejected(f"[{lname}] limit on {left!r} is not run by this simulator")
        quantity = _LEFT[left]
        if quantity == "current_a" and right < 0:
            op, right = _TURN[op], -right
        target = lim.get("m_szGotoStep", "Next Step").strip()
        if target == "Next Step":
            goto = NEXT
        elif target == "End Test":
            goto = END
        elif target in labels:
            goto = labels[target]
        else:
            raise ScheduleRejected(f"[{lname}] goto {target!r}: no step has that label")
        ends.append(SimEnd(quantity, op, right, goto))
    return SimStep(kind, current_a=current, voltage_v=voltage, ends=tuple(ends), record_period_s=period,
                   label=sec.get("m_szLabel", "").strip())
