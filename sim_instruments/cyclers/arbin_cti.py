"""Simulated Arbin MITS Pro server (CTI): one system, N channels on N world cells, running schedules
whose steps take their set points from meta-variables.

Command table from Arbin's "ArbinCTI_Protocol v1.1" (copy in the public pyctiarbin repository):
USER_LOGIN, GET_CHANNELS_INFO, ASSIGN_SCHEDULE, START_SCHEDULE, STOP_SCHEDULE, SET_MV_VALUE,
UPDATE_MV_ADVANCED, with the feedback result codes of each table (framing and byte layouts in
:mod:`sim_instruments.cyclers.arbin_wire`). Channel indices are 0-based. Behaviour per the document:
assigning needs an existing schedule name (0x13), a channel not running (0x14); assigned
MV_UD1..16 values apply on MITS Pro 7 only (``mits_version``); starting needs an assigned schedule
(0x15), a test name (0x23), a channel not running (0x12); meta-variables can be set only while the
channel runs (0x12), for MV_UD1..16 meta codes (0x11), MV_Type 1 only (0x10); the advanced update
refuses a channel updated less than 200 ms before (0x14).

A schedule is the lab's file on the Arbin PC; the simulator knows schedules as :class:`MvSchedule`
data: which meta-variables give the current (A, + charge), the voltage (CV ceiling when charging,
floor when discharging) and the step's unsafe limits (voltage high / low, current magnitude), and
their defaults. A running channel follows them on the shared world: CC-CV charge, CC-CV discharge
to the floor, rest at 0 A; a limit passed ends the test with status Unsafe. Stop ends it Finished.
Units: V, A, s.

Delegated execution (CTI v4.5, "Arbin CTI Instructions v4.5" in the same repository, "File
Operation Commands" and the command table): UPLOAD_FILE puts a file on the MITS Pro PC (here: a
schedule into :attr:`ArbinSystemSim.work_dir`), DOWNLOAD_FILE gets one back. A schedule file that
was uploaded can be assigned by its name and started; the channel then runs it on the world
(:mod:`sim_instruments.cyclers.arbin_schedule_sim`, :mod:`sim_instruments.cyclers.step_machine`),
with or without a client connected, and START answers 0x14 (schedule not valid) for a file it cannot
run. The test's records are kept as ``<data_dir>\\<test name>.csv`` (columns of Arbin's data export:
``Data_Point, Test_Time(s), Step_Time(s), Step_Index, Cycle_Index, Current(A), Voltage(V),
Charge_Capacity(Ah)`` ...) for DOWNLOAD_FILE. A real MITS Pro keeps its data in a results database
(``.res`` / SQL), not as this CSV: the simulator's stand-in for the lab's export.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

from sim_instruments.cyclers.arbin_schedule_sim import ScheduleRejected, parse_schedule
from sim_instruments.cyclers.step_machine import StepMachine
from sim_instruments.world.sim_world import SimWorld

logger = logging.getLogger(__name__)

STATUS_IDLE, STATUS_CHARGE, STATUS_DISCHARGE, STATUS_REST, STATUS_UNSAFE, STATUS_FINISHED = 0, 2, 3, 4, 8, 15
#: MV_UD1..16 meta codes (THIRD_PARTY_SET_MV_VALUE table).
MV_CODES = {code: n for n, code in enumerate((52, 53, 54, 55, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114,
                                              115, 116), start=1)}
MV_MIN_INTERVAL_S = 0.2
WORK_DIR = "C:\\ArbinSoftware\\MITS_PRO\\Work"
DATA_DIR = "C:\\ArbinSoftware\\MITS_PRO\\Data"
#: UPLOAD / DOWNLOAD feedback results (ArbinCommandUpLoadFileFeed / DownLoadFileFeed).
FILE_OK, FILE_FAILED, FILE_MD5_ERROR, FILE_IN_USE = 1, 2, 3, 4
START_SCHEDULE_INVALID = 0x14


@dataclass(frozen=True)
class MvSchedule:
    """A schedule whose one CCCV step reads its set points from meta-variables (numbers 1..16)."""

    current_mv: int = 1
    voltage_mv: int = 2
    voltage_max_mv: int = 3
    voltage_min_mv: int = 4
    current_max_mv: int = 5
    #: Initial values of the meta-variables (schedule editor, "Log and Others" tab).
    defaults: tuple[tuple[int, float], ...] = ((1, 0.0), (2, 4.2), (3, 4.25), (4, 2.5), (5, 5.0))


@dataclass
class ArbinChannelState:
    """One channel: assigned schedule, running test, meta-variables, timing."""

    index: int
    status: int = STATUS_IDLE
    schedule: str = ""
    assigned_mvs: list[float] | None = None
    test_name: str = ""
    exit_condition: str = ""
    mvs: list[float] = field(default_factory=lambda: [0.0] * 16)
    running: bool = False
    test_start_s: float = 0.0
    step_start_s: float = 0.0
    last_mv_s: float = -math.inf
    charge_ah: float = 0.0
    discharge_ah: float = 0.0
    #: The schedule file this channel runs on its own (None: a meta-variable schedule).
    machine: StepMachine | None = None


class ArbinSystemSim:
    """An Arbin system whose channel k drives ``world.channels[channels[k]]``.

    ``users``: registered CTI clients {user: password}; ``schedules``: schedule files by name.
    """

    def __init__(self, world: SimWorld, channels: list[int] | None = None, *, serial: str = "ARB0240117",
                 users: dict[str, str] | None = None, schedules: dict[str, MvSchedule] | None = None,
                 mits_version: int = 8) -> None:
        self.world = world
        self.world_channels = list(range(len(world.channels))) if channels is None else list(channels)
        self.serial = serial
        self.users = {"admin": "000000"} if users is None else dict(users)
        self.schedules = {"CellBench_MV.sdx": MvSchedule()} if schedules is None else dict(schedules)
        self.mits_version = mits_version
        self.channels = [ArbinChannelState(index=k) for k in range(len(self.world_channels))]
        #: Files on the MITS Pro PC by lower-case Windows path; the test records by test name.
        self.files: dict[str, bytes] = {}
        self.work_dir, self.data_dir = WORK_DIR, DATA_DIR
        self.tests: dict[str, StepMachine] = {}
        self._last_sync_s = world.clock.now_s()
        world.hooks.append(self._hook)

    # -- physics ---------------------------------------------------------------------------------------
    def _world_channel(self, index: int) -> Any:
        return self.world.channels[self.world_channels[index]]

    def sync(self) -> float:
        """Bring the world (and every running channel's limits) to now; seconds."""
        now = self.world.sync()
        for state in self.channels:
            self._follow(state)
        return now

    def _hook(self, world: SimWorld, now_s: float) -> None:
        dt_s = now_s - self._last_sync_s
        self._last_sync_s = now_s
        for state in self.channels:
            if state.machine is not None:
                self._run_machine(state, world.now_s)
                continue
            self._follow(state)
            channel = self._world_channel(state.index)
            if state.running and channel.source.output_on and dt_s > 0:
                current = channel.applied_current_a()
                if current > 0:
                    state.charge_ah += current * dt_s / 3600.0
                else:
                    state.discharge_ah -= current * dt_s / 3600.0

    def _follow(self, state: ArbinChannelState) -> None:
        """A running channel: end it on an unsafe limit, else drive the cell from the meta-variables."""
        if not state.running or state.machine is not None:
            return
        sched = self.schedules[state.schedule]
        mv = state.mvs
        channel = self._world_channel(state.index)
        src, cell = channel.source, channel.cell
        voltage, current = src.actual_voltage_v, src.actual_current_a
        if src.output_on:
            if voltage >= mv[sched.voltage_max_mv - 1]:
                return self._end(state, STATUS_UNSAFE, f"Voltage >= MV_UD{sched.voltage_max_mv}")
            if voltage <= mv[sched.voltage_min_mv - 1] and current < 0:
                return self._end(state, STATUS_UNSAFE, f"Voltage <= MV_UD{sched.voltage_min_mv}")
            if abs(current) >= mv[sched.current_max_mv - 1] * (1 + 1e-6):
                return self._end(state, STATUS_UNSAFE, f"|Current| >= MV_UD{sched.current_max_mv}")
        set_a, set_v = mv[sched.current_mv - 1], mv[sched.voltage_mv - 1]
        open_v = cell.terminal_voltage_v(0.0)
        if set_a > 0:
            src.function, src.current_a, src.voltage_limit_v = "CURR", set_a, set_v
            state.status = STATUS_CHARGE
        elif set_a < 0 and open_v > set_v:
            src.function, src.voltage_v, src.current_limit_a = "VOLT", set_v, -set_a
            state.status = STATUS_DISCHARGE
        else:
            src.function, src.current_a = "CURR", 0.0
            state.status = STATUS_REST
        src.overvoltage_v = src.overcurrent_a = None
        src.output_on = True

    def _end(self, state: ArbinChannelState, status: int, condition: str) -> None:
        self._world_channel(state.index).source.output_on = False
        state.running, state.status, state.exit_condition = False, status, condition
        logger.info("simulated Arbin: channel %d ended: %s", state.index + 1, condition)

    # -- commands (result byte, 0 = success) ------------------------------------------------------------
    def valid(self, index: int) -> bool:
        return 0 <= index < len(self.channels)

    def assign(self, index: int, schedule: str, mvs: list[float]) -> int:
        """ASSIGN_SCHEDULE."""
        if not self.valid(index):
            return 0x10
        state = self.channels[index]
        if not schedule:
            return 0x12
        if schedule not in self.schedules and self._path(f"{self.work_dir}\\{schedule}") not in self.files:
            return 0x13
        if state.running:
            return 0x14
        state.schedule = schedule
        state.assigned_mvs = list(mvs) if self.mits_version == 7 else None
        return 0

    def start(self, index: int, test_name: str, now_s: float) -> int:
        """START_SCHEDULE of one channel."""
        if not self.valid(index):
            return 0x10
        state = self.channels[index]
        if state.running:
            return 0x12
        if not state.schedule:
            return 0x15
        if not test_name or test_name in self.tests:
            return 0x23
        if state.schedule not in self.schedules:
            return self._start_file(state, test_name, now_s)
        state.machine = None
        sched = self.schedules[state.schedule]
        mvs = [0.0] * 16
        for number, value in sched.defaults:
            mvs[number - 1] = value
        if state.assigned_mvs is not None:
            mvs = list(state.assigned_mvs)
        state.mvs, state.test_name, state.exit_condition = mvs, test_name, ""
        state.running, state.test_start_s = True, now_s
        state.step_start_s, state.charge_ah, state.discharge_ah = now_s, 0.0, 0.0
        self._follow(state)
        return 0

    def stop(self, index: int) -> int:
        """STOP_SCHEDULE (a channel not running stops fine)."""
        if not self.valid(index):
            return 0x10
        state = self.channels[index]
        if state.machine is not None and state.running:
            state.machine.stop(self.world.now_s, "Stopped by CTI")
            self._run_machine(state, self.world.now_s)
        elif state.running:
            self._end(state, STATUS_FINISHED, "Stopped by CTI")
        return 0

    def set_mvs(self, values: list[tuple[int, int, float]], now_s: float, *, advanced: bool) -> tuple[int, int]:
        """SET_MV_VALUE / UPDATE_MV_ADVANCED: (channel index, meta code, value) each; (index, result)."""
        for index, code, _value in values:
            if not self.valid(index):
                return index, 0x10
            if code not in MV_CODES:
                return index, 0x11
            state = self.channels[index]
            if not state.running:
                return index, 0x12
            if advanced and now_s - state.last_mv_s < MV_MIN_INTERVAL_S - 1e-9:
                return index, 0x14
        for index, code, value in values:
            state = self.channels[index]
            state.mvs[MV_CODES[code] - 1] = value
            state.last_mv_s = now_s
        for index in {v[0] for v in values}:
            self._follow(self.channels[index])
        return (values[0][0] if values else 0), 0

    def readings(self, index: int) -> tuple[float, float]:
        """Measured (voltage_v, current_a), + = charge."""
        return self.world.measure(self.world_channels[index])

    # -- schedule files (delegated execution) ------------------------------------------------------------
    @staticmethod
    def _path(path: str) -> str:
        return path.replace("/", "\\").lower()

    def upload(self, path: str, data: bytes) -> int:
        """UPLOAD_FILE of a whole file: FILE_IN_USE while a channel runs a schedule of that name."""
        name = self._path(path).rsplit("\\", 1)[-1]
        if any(s.running and s.schedule.lower() == name for s in self.channels):
            return FILE_IN_USE
        self.files[self._path(path)] = bytes(data)
        return FILE_OK

    def download(self, path: str) -> bytes | None:
        """DOWNLOAD_FILE: the file's bytes (a test's records as CSV), None when it does not exist."""
        key = self._path(path)
        prefix = self._path(self.data_dir) + "\\"
        if key.startswith(prefix) and key.endswith(".csv"):
            test = next((m for name, m in self.tests.items() if name.lower() == key[len(prefix):-4]), None)
            return None if test is None else _records_csv(test)
        return self.files.get(key)

    def _start_file(self, state: ArbinChannelState, test_name: str, now_s: float) -> int:
        data = self.files[self._path(f"{self.work_dir}\\{state.schedule}")]
        try:
            steps, limits = parse_schedule(data)
        except ScheduleRejected as exc:
            logger.warning("simulated Arbin: schedule %s refused: %s", state.schedule, exc)
            state.exit_condition = str(exc)[:100]
            return START_SCHEDULE_INVALID
        machine = StepMachine(self._world_channel(state.index), steps, limits, self.world.now_s, test_name=test_name)
        self.tests[test_name] = machine
        state.machine, state.test_name, state.exit_condition = machine, test_name, ""
        state.running, state.test_start_s = True, self.world.now_s
        self._run_machine(state, now_s)
        return 0

    def _run_machine(self, state: ArbinChannelState, world_now_s: float) -> None:
        machine = state.machine
        assert machine is not None
        machine.on_sync(world_now_s)
        state.step_start_s = machine.step_start_s
        if machine.state == "running":
            current = self._world_channel(state.index).source.actual_current_a
            state.status = STATUS_CHARGE if current > 1e-9 else STATUS_DISCHARGE if current < -1e-9 else STATUS_REST
        elif state.running:
            state.running = False
            state.status = STATUS_UNSAFE if machine.state == "alarm" else STATUS_FINISHED
            state.exit_condition = machine.detail[:100]


def _records_csv(machine: StepMachine) -> bytes:
    """A test's records in the column names of Arbin's data export (+ = charge, 1-based step index)."""
    lines = ["Data_Point,Test_Time(s),Step_Time(s),Step_Index,Cycle_Index,Current(A),Voltage(V),"
             "Charge_Capacity(Ah),Discharge_Capacity(Ah),Aux_Temperature_1(C)"]
    for n, r in enumerate(machine.records, 1):
        charge = r.capacity_ah if r.current_a > 0 else 0.0
        lines.append(f"{n},{r.test_time_s:.3f},{r.step_time_s:.3f},{r.step_index + 1},{r.cycle_index},"
                     f"{r.current_a:.6f},{r.voltage_v:.6f},{charge:.6f},{r.capacity_ah - charge:.6f},"
                     f"{r.temperature_c:.3f}")
    return ("\r\n".join(lines) + "\r\n").encode("ascii")
