"""Watlow F4T temperature/process controller as a thermal chamber, Modbus TCP.

Registers after the Watlow F4T "Setup and Operation User's Guide", appendix "Modbus parameter
tables" (relative holding-register addresses of the default data map, 32-bit values as IEEE 754
floats, low word first; strings one character per register; enumerations as Watlow enumeration
numbers, e.g. 10 = Auto, 62 = Off, 149 = Running). The addresses below were cross-checked against
Espec North America's open-source ChamberConnectLibrary (``watlowf4t.py``), which drives F4T
controllers on production chambers. Loop 1 controls the chamber air; its process value is the air
temperature. Instances repeat with a stride: control loops every 160 registers, alarms every 100.

Setpoint range: the loop's set-point range registers (low/high) bound what the controller
accepts; the driver reads them in :meth:`WatlowF4t.verify_identity` and refuses a setpoint
outside them before anything is sent. A ramp-rate parameter is not used: the chamber's own rate
limits apply (the F4T ramp registers are not in the verified table).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from drivers.errors import InstrumentReplyError, SetpointOutOfRange
from drivers.modbus import RegisterTransport, float_to_registers, registers_to_float, registers_to_text

logger = logging.getLogger(__name__)

#: Watlow enumeration numbers used here (F4T User's Guide, Modbus tables, "enumeration" column).
AUTO, MANUAL, OFF = 10, 54, 62
PROFILE_RUNNING, PROFILE_PAUSED, PROFILE_TERMINATE = 149, 146, 148
CELSIUS, FAHRENHEIT = 15, 30
DEVICE_OK, DEVICE_FAIL = 138, 32
#: Alarm states: inactive ones, and the names of the active ones.
ALARM_INACTIVE = {88: "startup", 61: "none", 12: "blocked"}
ALARM_ACTIVE = {7: "high", 8: "low", 28: "error"}


@dataclass(frozen=True)
class Register:
    """One controller parameter: where it lives and how to read it.

    ``kind``: ``float`` (2 registers), ``enum`` (1 register, Watlow enumeration number),
    ``uint`` (1 register) or ``text`` (``count`` registers, one character each).
    ``stride``: register distance between instances (loop 2 = address + stride...).
    ``limits``: inclusive (low, high) of writable numbers, in ``unit``.
    """

    address: int
    kind: str
    doc: str
    unit: str = ""
    limits: tuple[float, float] | None = None
    writable: bool = False
    count: int = 1
    stride: int = 0
    names: Mapping[int, str] = field(default_factory=dict)

    @property
    def width(self) -> int:
        """Registers one instance occupies."""
        return 2 if self.kind == "float" else self.count

    def at(self, instance: int = 1) -> int:
        """Address of instance ``instance`` (1-based)."""
        return self.address + (instance - 1) * self.stride


#: The registers this driver uses, by name (relative addresses, default data map).
REGISTERS: dict[str, Register] = {
    "part_number": Register(16, "text", "Controller part number, e.g. F4T1R1DAAAA1AAA", count=15),
    # Display Units is 1328 (guide ch. 6 appendix p. 225, "Display" class: F (30) / C (15), RW); the
    # temperature registers read in these units. (6730, which ChamberConnectLibrary reads for profile
    # units over Modbus TCP, is not in the guide's tables.)
    "display_units": Register(1328, "enum", "Temperature units of the values (15 = °C, 30 = °F)",
                              names={CELSIUS: "C", FAHRENHEIT: "F"}),
    "device_status": Register(90, "enum", "Device status (138 = OK, 32 = Fail), guide p. 225",
                              names={DEVICE_OK: "ok", DEVICE_FAIL: "fail"}),
    "loop_control_mode": Register(2730, "enum", "Loop user control mode (Auto / Manual / Off)", writable=True,
                                  stride=160, names={AUTO: "auto", MANUAL: "manual", OFF: "off"}),
    "loop_range_low_c": Register(2774, "float", "Loop set point range low", unit="°C", stride=160),
    "loop_range_high_c": Register(2776, "float", "Loop set point range high", unit="°C", stride=160),
    "loop_setpoint_c": Register(2782, "float", "Loop closed-loop set point", unit="°C", writable=True,
                                limits=(-200.0, 1000.0), stride=160),
    "loop_power_pct": Register(2808, "float", "Loop output power (+ heat, - cool)", unit="%", stride=160),
    "loop_working_setpoint_c": Register(2810, "float", "Loop working (active) set point", unit="°C", stride=160),
    "loop_active_mode": Register(2814, "enum", "Loop control mode in effect", stride=160,
                                 names={AUTO: "auto", MANUAL: "manual", OFF: "off"}),
    "loop_process_value_c": Register(2820, "float", "Loop process value: chamber air temperature", unit="°C",
                                     stride=160),
    "alarm_state": Register(1356, "enum", "Alarm state (startup / none / blocked / low / high / error)",
                            stride=100, names={**ALARM_INACTIVE, **ALARM_ACTIVE}),
    "profile_action": Register(16566, "enum", "Profile action request (pause / terminate)", writable=True,
                               names={PROFILE_PAUSED: "pause", PROFILE_TERMINATE: "terminate"}),
    "profile_state": Register(16568, "enum", "Profile run state (running / paused / other = none)",
                              names={PROFILE_RUNNING: "running", PROFILE_PAUSED: "paused"}),
}

#: Alarm count by the 7th part-number digit (function-block option), after the F4T ordering matrix.
ALARMS_BY_OPTION = {"A": 6, "B": 8, "C": 14, "D": 6, "E": 8, "F": 14}


class WatlowF4t:
    """A chamber run by a Watlow F4T controller; loop ``loop`` (default 1) controls the air."""

    #: (min, max) setpoint, °C; narrowed to the controller's loop range by :meth:`verify_identity`.
    setpoint_range_c: tuple[float, float] = (-70.0, 180.0)
    registers = REGISTERS

    def __init__(self, transport: RegisterTransport, *, name: str = "chamber", loop: int = 1) -> None:
        self.transport = transport
        self.name = name
        self.loop = loop
        #: Alarm instances read by :meth:`alarm` (from the part number once identified).
        self.alarm_count = 6
        self.part_number = ""

    @property
    def where(self) -> str:
        """``name (resource)`` for messages."""
        return f"{self.name} ({self.transport.resource})"

    # -- register access -----------------------------------------------------------------------
    def _address(self, name: str) -> tuple[Register, int]:
        register = self.registers[name]
        instance = self.loop if name.startswith("loop_") else 1
        return register, register.at(instance)

    def read(self, name: str, instance: int | None = None) -> float | int | str:
        """Read the register ``name`` (instance: loop or alarm number; default the driver's loop)."""
        register = self.registers[name]
        address = register.at(instance) if instance is not None else self._address(name)[1]
        words = self.transport.read_registers(address, register.width)
        if register.kind == "float":
            value = registers_to_float(words, "little")
            if value != value or value in (float("inf"), float("-inf")):
                raise InstrumentReplyError(f"{self.where}: {name} (register {address}) is not a number")
            return value
        if register.kind == "text":
            return registers_to_text(words)
        return words[0]

    def write(self, name: str, value: float | int) -> None:
        """Write the writable register ``name``; limits and enumerations are checked first."""
        register, address = self._address(name)
        if not register.writable:
            raise AttributeError(f"{name} is read-only")
        if register.kind == "float":
            if register.limits is not None and not register.limits[0] <= float(value) <= register.limits[1]:
                raise SetpointOutOfRange(f"{self.where}: {name} = {value!r} {register.unit} is outside "
                                         f"[{register.limits[0]:g}, {register.limits[1]:g}] {register.unit}")
            self.transport.write_registers(address, float_to_registers(float(value), "little"))
            return
        if register.names and int(value) not in register.names:
            raise SetpointOutOfRange(f"{self.where}: {name} = {value!r} is not one of "
                                     f"{', '.join(f'{k} ({v})' for k, v in register.names.items())}")
        self.transport.write_registers(address, [int(value)])

    # -- identification --------------------------------------------------------------------------
    def identify(self) -> str:
        """The controller's part number (the F4T has no ``*IDN?``)."""
        return str(self.read("part_number"))

    def verify_identity(self) -> str:
        """Check the part number is an F4T's, its device status OK and the values in °C; read the
        loop's setpoint range.

        Returns ``Watlow F4T <part number>``.
        """
        part = self.identify()
        if not part.startswith("F4T") or len(part) < 7:
            raise InstrumentReplyError(f"{self.where}: part number {part!r} is not a Watlow F4T")
        status = self.read("device_status")
        if status != DEVICE_OK:
            label = REGISTERS["device_status"].names.get(int(status), str(status))
            raise InstrumentReplyError(f"{self.where}: device status is {label} ({status}), not OK")
        units = self.read("display_units")
        if units != CELSIUS:
            label = REGISTERS["display_units"].names.get(int(units), str(units))
            raise InstrumentReplyError(f"{self.where}: controller reports temperatures in °{label}; "
                                       f"set its display units to °C")
        low, high = float(self.read("loop_range_low_c")), float(self.read("loop_range_high_c"))
        if not low < high:
            raise InstrumentReplyError(f"{self.where}: loop {self.loop} range {low:g}..{high:g} °C is empty")
        self.setpoint_range_c = (low, high)
        self.alarm_count = ALARMS_BY_OPTION.get(part[6], self.alarm_count)
        self.part_number = part
        return f"Watlow F4T {part}"

    # -- ThermalChamber role ---------------------------------------------------------------------
    def set_setpoint_c(self, temperature_c: float) -> None:
        """Loop set point, °C (refused before sending when outside :attr:`setpoint_range_c`)."""
        low, high = self.setpoint_range_c
        if not low <= temperature_c <= high:
            raise SetpointOutOfRange(
                f"{self.where}: setpoint {temperature_c:g} °C is outside [{low:g}, {high:g}] °C")
        self.write("loop_setpoint_c", temperature_c)

    def read_air_c(self) -> float:
        """Measured chamber air temperature (loop process value), °C."""
        return float(self.read("loop_process_value_c"))

    def read_setpoint_c(self) -> float:
        """Set point the loop holds, °C."""
        return float(self.read("loop_setpoint_c"))

    def read_power_pct(self) -> float:
        """Loop output power, % (+ heating, - cooling)."""
        return float(self.read("loop_power_pct"))

    def profile_state(self) -> str:
        """``"running"``, ``"paused"`` or ``"none"`` (no profile in progress)."""
        code = int(self.read("profile_state"))
        return REGISTERS["profile_state"].names.get(code, "none")

    def start(self) -> None:
        """Control the air to the set point: end any profile in progress, then loop mode Auto."""
        if self.profile_state() != "none":
            logger.info("%s: terminating the profile in progress", self.where)
            self.write("profile_action", PROFILE_TERMINATE)
        self.write("loop_control_mode", AUTO)

    def stop(self) -> None:
        """Stop controlling: loop mode Off."""
        self.write("loop_control_mode", OFF)

    def is_running(self) -> bool:
        """True when the loop is controlling (active mode Auto)."""
        return int(self.read("loop_active_mode")) == AUTO

    def alarm(self) -> str:
        """Active alarms as text, e.g. ``"alarm 1 high"`` (``""`` when none)."""
        active = []
        for number in range(1, self.alarm_count + 1):
            code = int(self.read("alarm_state", number))
            if code in ALARM_INACTIVE:
                continue
            active.append(f"alarm {number} {ALARM_ACTIVE.get(code, f'state {code}')}")
        return ", ".join(active)
