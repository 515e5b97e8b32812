"""One simulated Neware BTS channel running a step file on a world cell, on the world's clock.

The channel is processed at every sync of the world (a world hook: whoever syncs, the cell's
state is looked at) and after each command: it integrates capacity and energy, checks the step
file's protection (``Protect``: over/under voltage, over current, over capacity -> workstatus
``protect``), the step's ends (``Limit/Main`` limits and ``Cnd`` jumps) and records a data point
every ``Record/Time`` and at each step change. End conditions are seen at the world's sync
instants (the served simulator syncs every ``TICK_S`` wall seconds; a virtual clock at each
query). The output stage holds a CC step's voltage at the channel's range and a CV / CCCV step's
current at the set current, so an end seen one sync late does not overshoot the cell's limits.

It keeps running whatever the client does (a client is only a reader of this state). Units: V, A,
s, Ah, Wh; the ``download`` record's ``testtime`` is ms (as a BTS 8.0 replies).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import operator
from dataclasses import dataclass, field

from sim_instruments.cyclers.neware_bts.stepfile import (
    JUMP_FINISH,
    JUMP_NEXT,
    JUMP_PROTECT,
    JUMP_STOP,
    SimStep,
    StepFile,
)
from sim_instruments.world.sim_world import SimChannel

logger = logging.getLogger(__name__)

_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
#: downloadlog codes. 100000 (test started) and 100001 (test finished) appear in a BTS 8.0 log
#: captured in aurora-neware's tests; the stop / protect codes are ASSUMED.
LOG_START, LOG_FINISH, LOG_STOP, LOG_PROTECT = 100000, 100001, 100002, 100003
#: inquire ``log_code`` of a working channel (captured: 102000).
LOG_WORKING = 102000
#: Record period when the step file gives none, s (ASSUMED).
DEFAULT_RECORD_S = 1.0
EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@dataclass
class Record:
    """One stored data point (a ``download`` ``<data>`` row)."""

    seqid: int
    stepid: int
    cycleid: int
    steptype: str
    test_time_s: float
    at_s: float
    voltage_v: float
    current_a: float
    capacity_ah: float
    energy_wh: float


@dataclass
class ChannelState:
    """What the channel holds between syncs."""

    workstatus: str = "finish"
    barcode: str = ""
    test_id: int = 0
    step_file: StepFile | None = None
    step: SimStep | None = None
    cycle_id: int = 1
    loops: dict[int, int] = field(default_factory=dict)
    test_start_s: float = 0.0
    step_start_s: float = 0.0
    capacity_ah: float = 0.0
    energy_wh: float = 0.0
    last_s: float = 0.0
    last_record_s: float = -math.inf
    records: list[Record] = field(default_factory=list)
    log: list[tuple[int, int, float]] = field(default_factory=list)  # (seqid, code, at_s)
    alarm: str = ""


class NewareChannelSim:
    """Channel ``chlid`` of a simulated BTS unit, driving world channel ``channel``."""

    def __init__(self, sim_channel: SimChannel, chlid: int, *, max_voltage_v: float, max_current_a: float) -> None:
        self.world_channel = sim_channel
        self.chlid = chlid
        self.max_voltage_v = max_voltage_v
        self.max_current_a = max_current_a
        self.state = ChannelState()
        self.tests: dict[int, list[Record]] = {}

    # ------------------------------------------------------------------ control
    def start(self, step_file: StepFile, barcode: str, test_id: int, now_s: float) -> None:
        """Start ``step_file`` (already checked) under ``barcode`` at ``now_s``."""
        st = ChannelState(workstatus="working", barcode=barcode, test_id=test_id, step_file=step_file,
                          test_start_s=now_s, last_s=now_s)
        self.state = st
        self.tests[test_id] = st.records
        st.log.append((1, LOG_START, now_s))
        self._enter(step_file.steps[step_file.start_step], now_s)

    def stop(self, now_s: float, status: str = "stop", reason: str = "") -> None:
        """Output off; workstatus ``stop`` (operator) or ``protect`` (an alarm, ``reason``)."""
        st = self.state
        if st.workstatus not in ("working", "pause"):
            return
        self._record(now_s)
        self._output_off()
        st.workstatus = status
        st.alarm = reason
        st.log.append((len(st.records), LOG_PROTECT if status == "protect" else LOG_STOP, now_s))
        logger.info("neware channel %d: %s %s", self.chlid, status, reason)

    # ------------------------------------------------------------------ readings
    def readings(self) -> tuple[float, float]:
        """Terminal voltage (V) and current (A, + charge) after the latest physics step."""
        src = self.world_channel.source
        return src.actual_voltage_v, src.actual_current_a if src.output_on else 0.0

    def step_time_s(self, now_s: float) -> float:
        """Seconds in the present step (0 when not working)."""
        return now_s - self.state.step_start_s if self.state.workstatus == "working" else 0.0

    # ------------------------------------------------------------------ running
    def process(self, now_s: float) -> None:
        """Look at the channel's state at ``now_s`` (the world synced to it): count, protect,
        record, end steps. Idempotent for one instant."""
        st = self.state
        if st.workstatus != "working" or now_s <= st.last_s:
            return
        voltage, current = self.readings()
        dt_s = now_s - st.last_s
        st.last_s = now_s
        st.capacity_ah += abs(current) * dt_s / 3600.0
        st.energy_wh += abs(current * voltage) * dt_s / 3600.0
        reason = self._protection(voltage, current)
        if reason:
            self.stop(now_s, "protect", reason)
            return
        assert st.step_file is not None and st.step is not None
        period = st.step_file.record_time_s or DEFAULT_RECORD_S
        if now_s - st.last_record_s >= period - 1e-9:
            self._record(now_s)
        jump = self._end_of_step(st.step, voltage, current, now_s)
        if jump is not None:
            self._record(now_s)
            self._jump(jump, now_s)

    def _protection(self, voltage: float, current: float) -> str:
        sf = self.state.step_file
        assert sf is not None
        if sf.voltage_upper_v is not None and voltage > sf.voltage_upper_v:
            return f"voltage {voltage:.4f} V above the protection upper limit {sf.voltage_upper_v:g} V"
        if sf.voltage_lower_v is not None and voltage < sf.voltage_lower_v:
            return f"voltage {voltage:.4f} V below the protection lower limit {sf.voltage_lower_v:g} V"
        if sf.current_upper_a is not None and abs(current) > sf.current_upper_a:
            return f"current {abs(current):.4f} A above the protection upper limit {sf.current_upper_a:g} A"
        if sf.capacity_upper_ah is not None and self.state.capacity_ah > sf.capacity_upper_ah:
            return f"capacity above the protection upper limit {sf.capacity_upper_ah:g} Ah"
        return ""

    def _end_of_step(self, step: SimStep, voltage: float, current: float, now_s: float) -> int | None:
        """The jump when the step ends now (JUMP_NEXT for a Main limit), else None."""
        st = self.state
        step_s = now_s - st.step_start_s
        for cnd in step.conditions:
            value = {"voltage_v": voltage, "current_a": abs(current), "time_s": step_s}[cnd.quantity]
            if _OPS[cnd.op](value, cnd.value):
                return cnd.jump
        if step.time_s is not None and step_s >= step.time_s - 1e-9:
            return JUMP_NEXT
        if step.stop_voltage_v is not None and step.sign != 0:
            if (voltage >= step.stop_voltage_v) if step.sign > 0 else (voltage <= step.stop_voltage_v):
                return JUMP_NEXT
        if step.stop_current_a is not None and step.type in (3, 19, 7, 20) and step_s > 0:
            if abs(current) <= step.stop_current_a:
                return JUMP_NEXT
        if step.capacity_ah is not None and st.capacity_ah >= step.capacity_ah:
            return JUMP_NEXT
        return None

    def _jump(self, jump: int, now_s: float) -> None:
        st = self.state
        assert st.step_file is not None and st.step is not None
        if jump == JUMP_STOP:
            self.stop(now_s, "stop", "Cnd jump: stop")
            return
        if jump == JUMP_PROTECT:
            self.stop(now_s, "protect", "Cnd jump: protect")
            return
        if jump == JUMP_FINISH:
            self._finish(now_s)
            return
        target = st.step.number + 1 if jump == JUMP_NEXT else jump
        self._enter(st.step_file.steps[target], now_s)

    def _enter(self, step: SimStep, now_s: float) -> None:
        """Run ``step`` from ``now_s``: control steps (cycle, end) resolve at once."""
        st = self.state
        assert st.step_file is not None
        for _ in range(len(st.step_file.steps) + 2):
            if step.type == 6:
                self._finish(now_s)
                return
            if step.type == 5:
                assert step.start_step is not None and step.cycle_count is not None
                done = st.loops.get(step.number, 0) + 1
                if done < step.cycle_count:
                    st.loops[step.number] = done
                    st.cycle_id += 1
                    step = st.step_file.steps[step.start_step]
                else:
                    st.loops[step.number] = 0
                    step = st.step_file.steps[step.number + 1]
                continue
            break
        st.step = step
        st.step_start_s = now_s
        st.capacity_ah = 0.0
        st.energy_wh = 0.0
        self._apply(step)

    def _apply(self, step: SimStep) -> None:
        """Set the world's output stage for ``step``."""
        src = self.world_channel.source
        src.overvoltage_v = src.overcurrent_a = None
        src.limit_both_ways = False
        if step.type in (4, 13):
            src.output_on = False
            return
        current = step.current_a or 0.0
        if step.type in (1, 2):
            src.function = "CURR"
            src.current_a = current * step.sign
            src.voltage_limit_v = self.max_voltage_v
        else:  # CV / CCCV: hold Volt, the current limited to Curr (the CC part of CCCV)
            src.function = "VOLT"
            src.voltage_v = step.voltage_v or 0.0
            src.current_limit_a = current
        src.output_on = True

    def _finish(self, now_s: float) -> None:
        st = self.state
        self._output_off()
        st.workstatus = "finish"
        st.log.append((len(st.records), LOG_FINISH, now_s))

    def _output_off(self) -> None:
        self.world_channel.source.output_on = False

    def _record(self, now_s: float) -> None:
        st = self.state
        if st.step is None or (st.records and st.records[-1].at_s == now_s):
            return
        voltage, current = self.readings()
        st.records.append(Record(len(st.records) + 1, st.step.number, st.cycle_id, st.step.name,
                                 now_s - st.test_start_s, now_s, voltage, current, st.capacity_ah, st.energy_wh))
        st.last_record_s = now_s


def atime(at_s: float) -> str:
    """A record's ``atime`` (``YYYY-MM-DD HH:MM:SS``) for world time ``at_s`` s."""
    return (EPOCH + dt.timedelta(seconds=at_s)).strftime("%Y-%m-%d %H:%M:%S")
