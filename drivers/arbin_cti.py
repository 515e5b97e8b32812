"""Arbin cyclers (MITS Pro) through the Console TCP/IP Interface (CTI): one connection, channel handles.

Facts from Arbin's CTI protocol guide "ArbinCTI_Protocol v1.1" (the copy in the public pyctiarbin
repository, docs/ArbinCTI_Protocol v1.1.pdf) and "A Brief Introduction of Arbin CTI Protocol", by section:

* "Overall Command Data Format": header ``Token`` (u64 ``0x11DDDDDDDDDDDDDD``, little-endian) and
  ``dwLen``, then ``dwCmd`` and ``dwCmd_Extend`` (0), the arguments (packed, little-endian; ``char``
  strings are 2-byte wide), and a u16 checksum, the sum of every byte before it. ``dwLen`` counts
  command + arguments + checksum in a request, the whole message in a feedback.
* Commands: USER_LOGIN ``0xEEAB0001`` (user, password 32 bytes each; feedback ``0xEEBA0001``:
  Result 1 ok / 2 failed / 3 already logged in, serial number, ``dwChannelLength`` ...),
  GET_CHANNELS_INFO ``0xEEAB0003`` (feedback ``0xEEBA0003``: status, schedule, test name, exit
  condition, times, voltage, current ...), ASSIGN_SCHEDULE ``0xBB210001`` (schedule name, capacity,
  MV_UD1..16 initial values: "used in MITS7 only"), START_SCHEDULE ``0xBB320004``, STOP_SCHEDULE
  ``0xBB310001``, UPDATE_MV_ADVANCED ``0xBB150002`` (several meta-variables in one message; feedback
  0x14 "Update too frequently (updated every 200 milliseconds)"). Channel indices are 0-based; a bench
  config names the channel as MITS Pro shows it (from 1). Every request gets a feedback; Arbin
  recommends a 10 s timeout. Default port 9031 (pyctiarbin's documentation).
* START_SCHEDULE's struct lists ``TestName`` (wchar[72]) and ``ChannelNum``; the channel indices
  follow as u16, ``ChannelNum`` of them, as the public client pyctiarbin sends them.

CTI has no direct current command: control goes through the meta-variables of a running
schedule. CellBench's contract for the schedule the lab builds in MITS Pro (name in ``schedule``,
default :data:`DEFAULT_SCHEDULE`): one CCCV step with current ``MV_UD1`` (A, + = charge; 0 = rest)
and voltage ``MV_UD2`` (V: CV ceiling when charging, floor when discharging), ended "unsafe" when
Voltage >= ``MV_UD3``, Voltage <= ``MV_UD4`` or |Current| >= ``MV_UD5``, with ``MV_UD1`` defaulting to 0.
``configure_protection`` assigns the schedule with those limits as initial values (MITS 7) and
``output_on`` starts it and sets the limits again (MITS 8 ignores assigned values) before the
current. What CTI cannot do: set the schedule's global safety limits (they live in the schedule
file: keep them at the cell's limits) and change set points faster than every 200 ms (the driver
waits out the rest: :data:`MIN_MV_INTERVAL_S`).
"""

from __future__ import annotations

import logging
import math
import os
import struct
import time
from typing import Any

from drivers.cycler_system import CyclerSystem, SystemChannel, WallClock
from drivers.errors import InstrumentCommandError, InstrumentError, InstrumentReplyError, SetpointOutOfRange
from drivers.roles import ProtectionLimits
from drivers.stream import ByteStream

logger = logging.getLogger(__name__)

CTI_PORT = 9031
TOKEN = 0x11DDDDDDDDDDDDDD
DEFAULT_SCHEDULE = "CellBench_MV.sdx"
MIN_MV_INTERVAL_S = 0.2
LOGIN, CHANNEL_INFO, ASSIGN, START, STOP, MV_ADVANCED = (0xEEAB0001, 0xEEAB0003, 0xBB210001, 0xBB320004,
                                                         0xBB310001, 0xBB150002)
#: Feedback code of each request (the two middle bytes swapped).
FEEDBACK = {LOGIN: 0xEEBA0001, CHANNEL_INFO: 0xEEBA0003, ASSIGN: 0xBB120001, START: 0xBB230004,
            STOP: 0xBB130001, MV_ADVANCED: 0xBB510002,
            0xCC130002: 0xCC310002, 0xCC130003: 0xCC310003}  # DOWNLOAD / UPLOAD_FILE (drivers/arbin_delegated.py)
#: MV_UD1..MV_UD16 meta codes (THIRD_PARTY_SET_MV_VALUE table).
MV_CODES = dict(zip(range(1, 17), (52, 53, 54, 55, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116),
                    strict=True))
MV_CURRENT, MV_VOLTAGE, MV_V_MAX, MV_V_MIN, MV_I_MAX = 1, 2, 3, 4, 5
#: THIRD_PARTY_STATUS_INFORMATION status codes.
STATUS_NAMES = ("Idle", "Transition", "Charge", "Discharge", "Rest", "Wait", "External Charge", "Calibration",
                "Unsafe", "Pulse", "Internal Resistance", "AC Impedance", "ACI Cell", "Test Settings", "Error",
                "Finished", "Volt Meter", "Waiting for ACS", "Pause", "Empty", "Idle from MCU", "Start", "Running",
                "Step Transfer", "Resume", "Go Pause", "Go Stop", "Go Next Step", "Online Update",
                "DAQ Memory Unsafe", "ACR")
IDLE_STATUSES = {0, 15, 19, 20}  # Idle, Finished, Empty, Idle from MCU
UNSAFE_STATUSES = {8, 14, 29}  # Unsafe, Error, DAQ Memory Unsafe
ASSIGN_ERRORS = {0x10: "channel does not exist", 0x11: "monitor window in use", 0x12: "schedule name empty",
                 0x13: "schedule name not found", 0x14: "channel is running", 0x15: "channel is downloading a schedule",
                 0x16: "batch file is open", 0x17: "assign failed"}
START_ERRORS = {0x10: "invalid channel index", 0x11: "monitor window in use", 0x12: "channel running or unsafe",
                0x13: "channel not connected to DAQ", 0x14: "schedule not compatible", 0x15: "no schedule assigned",
                0x16: "schedule version mismatch", 0x19: "invalid step number", 0x20: "no selected channels",
                0x21: "DAQ still downloading schedule", 0x22: "database query error",
                0x23: "test name empty or exists", 0x26: "schedule safety precheck failed"}
STOP_ERRORS = {0x10: "channel index does not exist", 0x11: "monitor window in use"}
MV_ERRORS = {0x10: "set MV failed", 0x11: "MV meta code does not exist", 0x12: "channel is not running",
             0x13: "meta code does not exist in MITS Pro 7", 0x14: "update too frequent (200 ms)"}
#: GET_CHANNELS_INFO feedback: one channel record (after the u32 channel count): index, status, comm failure,
#: schedule, test name, exit condition, step/cycle format, barcode, CAN and SMB config, master channel,
#: test and step time, 12 readings (voltage, current, power ...), 12 aux counts, BMS and SMB counts.
_INFO = struct.Struct("<IhB400s144s100s64s144s400s400sHdd12f14H")
_HEADER = struct.Struct("<QIII")


def wide(text: str, chars: int) -> bytes:
    """``text`` as a zero-padded UTF-16-LE ``char[chars]`` field."""
    data = text.encode("utf-16-le")[: 2 * chars]
    return data.ljust(2 * chars, b"\0")


def unwide(data: bytes) -> str:
    """A UTF-16-LE ``char[]`` field without its padding."""
    return data.decode("utf-16-le", "replace").split("\0", 1)[0]


def frame(command: int, args: bytes) -> bytes:
    """One request: header, command, arguments, checksum (``dwLen`` = command + args + checksum)."""
    body = struct.pack("<QIII", TOKEN, 8 + len(args) + 2, command, 0) + args
    return body + struct.pack("<H", sum(body) & 0xFFFF)


class ArbinCti(CyclerSystem):
    """One Arbin MITS Pro server reached through CTI; logs in at connect. :meth:`channel` hands out channels.

    ``username`` / ``password``: a CTI client registered in MITS Pro (default: the environment
    variables ``ARBIN_CTI_USERNAME`` / ``ARBIN_CTI_PASSWORD``, as pyctiarbin reads them).
    ``clock`` (``now_s()``, ``sleep(s)``) times the 200 ms between set-point updates.
    """

    system_label = "Arbin"

    def __init__(self, stream: ByteStream, *, name: str = "Arbin", username: str | None = None,
                 password: str | None = None, schedule: str = DEFAULT_SCHEDULE, clock: Any = None) -> None:
        super().__init__(stream, name=name)
        self.clock = clock or WallClock()
        self.schedule = schedule
        self._credentials = (username if username is not None else os.environ.get("ARBIN_CTI_USERNAME", ""),
                             password if password is not None else os.environ.get("ARBIN_CTI_PASSWORD", ""))
        self.serial = ""
        self.version = 0
        self.login()

    def channel(self, channel: int, *, name: str = "cycler") -> ArbinChannel:
        """The handle of channel ``channel`` (numbered as MITS Pro shows it, from 1)."""
        return ArbinChannel(self, channel, name=name)

    def after_reconnect(self) -> None:
        """A new connection needs a new login."""
        self.login()

    def login(self) -> None:
        """USER_LOGIN; InstrumentCommandError when refused or when the user may not control channels."""
        user, password = self._credentials
        args = user.encode("utf-8")[:32].ljust(32, b"\0") + password.encode("utf-8")[:32].ljust(32, b"\0")
        reply = self.request(LOGIN, args, None)
        result, sn = struct.unpack_from("<I4x16s", reply)
        if result not in (1, 3):
            raise InstrumentCommandError(f"{self.where}: CTI login refused for user {user!r} (result {result})")
        self.serial = sn.split(b"\0", 1)[0].decode("ascii", "replace")
        # Fixed part after the strings: ITAC, Version, IsAllowToControl, dwChannelLength (see the module doc).
        self.version, allowed, self.channel_count = struct.unpack_from("<III", reply, 8636)
        if not allowed:
            raise InstrumentCommandError(f"{self.where}: CTI user {user!r} is not allowed to control channels")

    def request(self, command: int, args: bytes, channel: int | None) -> bytes:
        """Send one request; the feedback's arguments (after header and command, without checksum).

        Checks the token, the feedback code and the checksum (InstrumentReplyError naming system and channel).
        """
        what = f"CTI 0x{command:08X}"
        where = self.where_channel(channel)

        def io(stream: ByteStream) -> bytes:
            stream.send(frame(command, args))
            head = stream.recv_exact(_HEADER.size)
            token, length, code, _ext = _HEADER.unpack(head)
            if token != TOKEN or not _HEADER.size + 2 <= length <= (1 << 20):
                raise InstrumentReplyError(f"{where}: {what}: not a CTI feedback (token 0x{token:X}, length {length})")
            rest = stream.recv_exact(length - _HEADER.size)
            if (sum(head) + sum(rest[:-2])) & 0xFFFF != struct.unpack("<H", rest[-2:])[0]:
                raise InstrumentReplyError(f"{where}: {what}: feedback checksum mismatch")
            if code != FEEDBACK[command]:
                raise InstrumentReplyError(f"{where}: {what}: feedback 0x{code:08X}, expected 0x{FEEDBACK[command]:08X}")
            return rest[:-2]

        return self.exchange(channel, what, io)

    def result(self, command: int, args: bytes, channel: int, errors: dict[int, str]) -> None:
        """A channel command whose feedback is (index, result byte): InstrumentCommandError unless 0."""
        reply = self.request(command, args, channel)
        code = reply[4]
        if code != 0:
            text = errors.get(code, "error")
            raise InstrumentCommandError(f"{self.where_channel(channel)}: CTI 0x{command:08X} refused: "
                                         f"{text} (0x{code:02X})")


class ArbinChannel(SystemChannel):
    """One Arbin channel as a ``Cycler`` through the meta-variable schedule (see the module docstring)."""

    system: ArbinCti
    #: Ranges of the schedule contract: what MV_UD1 / MV_UD2 may hold (a channel's hardware range
    #: is not reported by CTI; the schedule's global safety and MV_UD3..5 bound it in the cycler).
    current_range_a = (-1000.0, 1000.0)
    voltage_range_v = (0.0, 100.0)

    def __init__(self, system: ArbinCti, channel: int, *, name: str = "cycler") -> None:
        super().__init__(system, channel, name=name)
        self.index = channel - 1
        self.limits: ProtectionLimits | None = None
        self._setpoint = (0.0, 0.0)  # MV_UD1 current A, MV_UD2 voltage V
        self._running = False
        self._last_mv_s = -math.inf
        self.last_info: dict[str, Any] = {}

    def info(self) -> dict[str, Any]:
        """GET_CHANNELS_INFO for this channel: status, schedule, test name, exit condition, V, I."""
        args = struct.pack("<hhI", self.index, 1, 0) + bytes(32)
        reply = self.system.request(CHANNEL_INFO, args, self.channel)
        count = struct.unpack_from("<I", reply)[0]
        if count < 1 or len(reply) < 4 + _INFO.size:
            raise InstrumentReplyError(f"{self.where}: channel info feedback holds no channel")
        fields = _INFO.unpack_from(reply, 4)
        if fields[0] != self.index:
            raise InstrumentReplyError(f"{self.where}: channel info for index {fields[0]}, asked {self.index}")
        self.last_info = {"status": fields[1], "schedule": unwide(fields[3]), "test_name": unwide(fields[4]),
                          "exit_condition": fields[5].split(b"\0", 1)[0].decode("ascii", "replace"),
                          "test_time_s": fields[11], "step_time_s": fields[12], "voltage_v": fields[13],
                          "current_a": fields[14]}
        return self.last_info

    # -- Cycler role ------------------------------------------------------------------------------------
    def verify_identity(self) -> str:
        """``Arbin MITS Pro (CTI version N), SN ..., channel 3 of 16, schedule ...``."""
        status = self.info()["status"]
        return (f"Arbin MITS Pro (CTI version {self.system.version}), SN {self.system.serial}, channel {self.channel} "
                f"of {self.system.channel_count}, status {_status_name(status)}")

    def configure(self) -> None:
        """Refuse a channel that runs a test (its status is not Idle / Finished / Empty)."""
        status = self.info()["status"]
        if status not in IDLE_STATUSES:
            raise InstrumentError(f"{self.where}: channel is {_status_name(status)}: stop that test in MITS Pro first")

    def configure_protection(self, limits: ProtectionLimits) -> None:
        """Assign the control schedule with the limits as MV_UD3..5 initial values (set again at start)."""
        if not 0 <= limits.voltage_min_v < limits.voltage_max_v <= self.voltage_range_v[1]:
            raise SetpointOutOfRange(f"{self.where}: voltage limits {limits.voltage_min_v:g}..{limits.voltage_max_v:g} V "
                                     "are not an increasing range")
        if not 0 < limits.current_max_a <= self.current_range_a[1]:
            raise SetpointOutOfRange(f"{self.where}: current limit {limits.current_max_a:g} A out of range")
        if limits.watchdog_s is not None:
            logger.warning("%s: CTI has no host watchdog; the schedule's own limits stay in force", self.where)
        mvs = [0.0] * 16
        mvs[MV_VOLTAGE - 1] = limits.voltage_max_v
        mvs[MV_V_MAX - 1], mvs[MV_V_MIN - 1], mvs[MV_I_MAX - 1] = (limits.voltage_max_v, limits.voltage_min_v,
                                                                   limits.current_max_a)
        args = (struct.pack("<iB", self.index, 0) + wide(self.system.schedule, 200) + struct.pack("<f", 0.0)
                + wide("", 72) + struct.pack("<16f", *mvs) + bytes(32))
        self.system.result(ASSIGN, args, self.channel, ASSIGN_ERRORS)
        self.limits = limits
        self._setpoint = (0.0, limits.voltage_max_v)
        self.arm()

    def set_current(self, current_a: float, voltage_limit_v: float) -> None:
        """``current_a`` A (+ charge up to ``voltage_limit_v`` V, - discharge down to the protection floor)."""
        limits = self._limits("set_current")
        if abs(current_a) > limits.current_max_a:
            raise SetpointOutOfRange(f"{self.where}: current {current_a:g} A beyond the limit {limits.current_max_a:g} A")
        if not limits.voltage_min_v <= voltage_limit_v <= limits.voltage_max_v:
            raise SetpointOutOfRange(f"{self.where}: voltage limit {voltage_limit_v:g} V outside the protection window")
        self._apply((current_a, limits.voltage_min_v if current_a < 0 else voltage_limit_v))

    def set_voltage(self, voltage_v: float, current_limit_a: float) -> None:
        """Hold ``voltage_v`` V with at most ``current_limit_a`` A (charge or discharge from the present voltage)."""
        limits = self._limits("set_voltage")
        if not limits.voltage_min_v <= voltage_v <= limits.voltage_max_v:
            raise SetpointOutOfRange(f"{self.where}: voltage {voltage_v:g} V outside the protection window")
        if not 0 <= current_limit_a <= limits.current_max_a:
            raise SetpointOutOfRange(f"{self.where}: current limit {current_limit_a:g} A out of range")
        present_v = self.info()["voltage_v"]
        self._apply((current_limit_a if voltage_v >= present_v else -current_limit_a, voltage_v))

    def output_on(self) -> None:
        """START_SCHEDULE, then the limits and the set point as one meta-variable update."""
        limits = self._limits("output_on")
        if self._running:
            return
        name = f"CellBench_ch{self.channel}_{int(time.time())}"
        args = wide(name, 72) + struct.pack("<IH", 1, self.index)
        self.system.result(START, args, self.channel, START_ERRORS)
        self._running = True
        self._last_mv_s = -math.inf
        current, voltage = self._setpoint
        self._update({MV_V_MAX: limits.voltage_max_v, MV_V_MIN: limits.voltage_min_v, MV_I_MAX: limits.current_max_a,
                      MV_VOLTAGE: voltage, MV_CURRENT: current})

    def output_off(self) -> None:
        """STOP_SCHEDULE: the test ends, the channel stops driving current."""
        self._running = False
        self.system.result(STOP, struct.pack("<IB", self.index, 0) + bytes(101), self.channel, STOP_ERRORS)

    def is_output_on(self) -> bool:
        """True while a test runs on the channel."""
        return self.info()["status"] not in IDLE_STATUSES | UNSAFE_STATUSES

    def measure(self) -> tuple[float, float]:
        """(voltage_v, current_a) from GET_CHANNELS_INFO (Arbin: + = charge)."""
        self.require_armed("measure")
        info = self.info()
        voltage, current = info["voltage_v"], info["current_a"]
        if not (math.isfinite(voltage) and math.isfinite(current)):
            raise InstrumentReplyError(f"{self.where}: channel info reading is not a number")
        if self._running and info["status"] in IDLE_STATUSES | UNSAFE_STATUSES:
            self._running = False  # ended by the cycler: protection_tripped says why
        return voltage, current

    def protection_tripped(self) -> str:
        """``Unsafe: <exit condition>`` when the cycler ended the test on a limit, ``""`` otherwise."""
        info = self.last_info or self.info()
        if info["status"] in UNSAFE_STATUSES:
            return f"{_status_name(info['status'])}: {info['exit_condition']}".rstrip(": ")
        return ""

    # -- helpers ----------------------------------------------------------------------------------------
    def _limits(self, what: str) -> ProtectionLimits:
        self.require_armed(what)
        assert self.limits is not None
        return self.limits

    def _apply(self, setpoint: tuple[float, float]) -> None:
        self._setpoint = setpoint
        if self._running:
            self._update({MV_VOLTAGE: setpoint[1], MV_CURRENT: setpoint[0]})

    def _update(self, values: dict[int, float]) -> None:
        """One UPDATE_MV_ADVANCED for this channel, at least 200 ms after the previous one."""
        wait = self._last_mv_s + MIN_MV_INTERVAL_S - self.system.clock.now_s()
        if wait > 0:
            self.system.clock.sleep(wait)
        records = b"".join(struct.pack("<HHf", self.index, MV_CODES[n], v) for n, v in values.items())
        args = struct.pack("<H", len(values)) + bytes(18) + records
        self.system.result(MV_ADVANCED, args, self.channel, MV_ERRORS)
        self._last_mv_s = self.system.clock.now_s()


def _status_name(status: int) -> str:
    return STATUS_NAMES[status] if 0 <= status < len(STATUS_NAMES) else f"status {status}"


#: The channel handle class (the ``Cycler`` role) of the system.
ArbinCti.channel_class = ArbinChannel
