"""Simulated Watlow F4T controller: a Modbus holding-register model on the world's chamber, and a
pymodbus 3.15 Modbus TCP server that serves it.

Register map after the Watlow F4T "Setup and Operations User's Guide", chapter 6 appendix, Modbus
parameter tables (relative addresses of the default data map, page numbers of that guide; floats
IEEE 754 low word first; 32-bit integers low word first; strings one character per register;
enumerations as Watlow numbers). The command table with sections is
:data:`sim_instruments.chambers.watlow_f4t_manual.MANUAL_COMMANDS`. Loop 1 is the chamber air: its
set point and control mode drive ``world.chamber``; its process value is ``world.chamber.air_c``.

Display units (register 1328, p. 225, "Display Units F (30) / C (15)"): every temperature register
reads and writes in them (the guide's ranges are "°F or units, °C"); this unit ships in °C, as
chamber makers configure it. Register 6730, which Espec's ChamberConnectLibrary reads for the units
of profile values over Modbus TCP, is not in the guide's tables we could read: it mirrors 1328
read-only here. Alarms (p. 225): type Off / Process / Deviation, sides Both / High / Low, high and
low set points (deviation: offsets from the loop set point), hysteresis; their state register
(1356 + 100 (n-1)) follows the process value. Alarm 1 ships as a process high alarm at 150 °C,
alarm 2 as a process low alarm at -65 °C.

Not modelled (refused with Modbus exception 3, illegal data value): Manual control mode (the
chamber model has no open-loop power input; the manual power 2784 is stored) and starting a profile
(no profiles are stored). An address the model does not know answers exception 2 (illegal data
address), as the controller does for parameters that are not present.

:class:`WatlowF4tRegisters` is transport-free (any Modbus server can serve it);
:class:`~sim_instruments.wire.modbus_server.ModbusSimServer` serves it over Modbus TCP.
Units: °C (or °F when the display units say so), seconds.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass

from sim_instruments.chambers.watlow_f4t_manual import MANUAL_COMMANDS
from sim_instruments.wire.modbus_server import ILLEGAL_ADDRESS, ILLEGAL_VALUE, LOOPBACK, ModbusFault, ModbusSimServer
from sim_instruments.world.sim_world import SimWorld

__all__ = ["LOOPBACK", "MANUAL_COMMANDS", "ModbusFault", "ModbusSimServer", "WatlowF4tRegisters"]

logger = logging.getLogger(__name__)

AUTO, MANUAL, OFF, ON = 10, 54, 62, 63
PROFILE_NONE, PROFILE_RUNNING, PROFILE_PAUSED, PROFILE_TERMINATE, PROFILE_RESUME, PROFILE_START = (
    61, 149, 146, 148, 147, 1782)
CELSIUS, FAHRENHEIT = 15, 30
DEVICE_OK, DEVICE_FAIL = 138, 32
LINE_50HZ, LINE_60HZ = 3, 4
RESTORE_NONE, RESTORE_FACTORY = 61, 31
ALARM_TYPE_OFF, ALARM_TYPE_PROCESS, ALARM_TYPE_DEVIATION = 62, 76, 24
SIDES_BOTH, SIDES_HIGH, SIDES_LOW = 13, 37, 53
NON_LATCHING, LATCHING = 60, 49
ALARM_NONE, ALARM_HIGH, ALARM_LOW = 61, 7, 8
LOOP_STRIDE, ALARM_STRIDE = 160, 100
#: Hardware ID the guide gives for the F4T (p. 225).
HARDWARE_ID = 124


def _float_words(value: float) -> list[int]:
    high, low = struct.unpack(">HH", struct.pack(">f", value))
    return [low, high]


def _words_float(words: list[int]) -> float:
    return struct.unpack(">f", struct.pack(">HH", words[1], words[0]))[0]


def _int32_words(value: int) -> list[int]:
    high, low = struct.unpack(">HH", struct.pack(">i", value))
    return [low, high]


@dataclass
class _Param:
    """One parameter of the map: ``width`` registers, read by ``get`` (and written by ``set``)."""

    name: str
    width: int
    get: Callable[[], list[int]]
    set: Callable[[list[int]], None] | None = None


@dataclass
class _Alarm:
    """One alarm block's settings, temperatures in °C (deltas in K)."""

    type: int = ALARM_TYPE_OFF
    sides: int = SIDES_BOTH
    high_c: float = 148.9
    low_c: float = 0.0
    hysteresis_k: float = 0.6
    silencing: int = OFF
    latching: int = NON_LATCHING
    state: int = ALARM_NONE


class WatlowF4tRegisters:
    """The F4T's holding registers on top of ``world.chamber`` (loop 1 = chamber air)."""

    def __init__(self, world: SimWorld, part_number: str = "F4T1R1DAAAA1AAA",
                 alarm_high_c: float = 150.0, alarm_low_c: float = -65.0, serial_number: int = 1234567) -> None:
        self.world = world
        self.part_number = part_number
        self.serial_number = serial_number
        self.profile_state = PROFILE_NONE
        self.units = CELSIUS
        self.line_frequency = LINE_60HZ
        self.device_name = "F4T"
        self.manual_power_pct = 0.0
        self.events = {n: OFF for n in range(1, 5)}
        self.alarms = {n: _Alarm() for n in range(1, 7)}
        self.alarms[1] = _Alarm(type=ALARM_TYPE_PROCESS, sides=SIDES_HIGH, high_c=alarm_high_c)
        self.alarms[2] = _Alarm(type=ALARM_TYPE_PROCESS, sides=SIDES_LOW, low_c=alarm_low_c)
        self._params: dict[int, _Param] = {}
        self._declare()

    # -- units -------------------------------------------------------------------------------
    def _out(self, celsius: float) -> list[int]:
        """A temperature register's words in the display units."""
        return _float_words(celsius * 1.8 + 32.0 if self.units == FAHRENHEIT else celsius)

    def _in(self, words: list[int]) -> float:
        """A written temperature in °C."""
        value = _words_float(words)
        return (value - 32.0) / 1.8 if self.units == FAHRENHEIT else value

    def _delta_out(self, kelvin: float) -> list[int]:
        return _float_words(kelvin * 1.8 if self.units == FAHRENHEIT else kelvin)

    def _delta_in(self, words: list[int]) -> float:
        value = _words_float(words)
        return value / 1.8 if self.units == FAHRENHEIT else value

    @property
    def alarm_high_c(self) -> float:
        """Alarm 1's high set point, °C (the process high alarm as shipped)."""
        return self.alarms[1].high_c

    @property
    def alarm_low_c(self) -> float:
        """Alarm 2's low set point, °C (the process low alarm as shipped)."""
        return self.alarms[2].low_c

    # -- map ---------------------------------------------------------------------------------
    def _add(self, address: int, name: str, width: int, get: Callable[[], list[int]],
             set_: Callable[[list[int]], None] | None = None) -> None:
        self._params[address] = _Param(name, width, get, set_)

    def _declare(self) -> None:
        chamber = self.world.chamber
        text = [ord(c) for c in self.part_number[:15]] + [0] * (15 - len(self.part_number[:15]))
        # Device parameters (p. 225).
        self._add(0, "hardware id", 2, lambda: _int32_words(HARDWARE_ID))
        self._add(4, "software release", 2, lambda: _int32_words(3))
        self._add(6, "software prototype", 2, lambda: _int32_words(0))
        self._add(8, "software build", 2, lambda: _int32_words(12))
        self._add(12, "serial number", 2, lambda: _int32_words(self.serial_number))
        self._add(14, "date of manufacture", 2, lambda: _int32_words(24_123))  # yy,ddd
        self._add(16, "part number", 15, lambda: list(text))
        self._add(46, "device name", 32, self._name_words, self._set_name)
        self._add(86, "restore settings from", 1, lambda: [RESTORE_NONE], self._restore)
        self._add(90, "device status", 1, lambda: [DEVICE_OK])
        self._add(94, "AC line frequency", 1, lambda: [self.line_frequency],
                  self._enum_setter("line_frequency", (LINE_50HZ, LINE_60HZ)))
        self._add(1328, "display units", 1, lambda: [self.units], self._enum_setter("units", (CELSIUS, FAHRENHEIT)))
        self._add(6730, "units of Modbus TCP profile values (mirror of 1328)", 1, lambda: [self.units])
        # Control loop 1 (pp. 229-231).
        self._add(2730, "loop 1 control mode", 1, lambda: [AUTO if chamber.running else OFF], self._set_mode)
        self._add(2774, "loop 1 set point range low", 2, lambda: self._out(chamber.min_c), self._set_range_low)
        self._add(2776, "loop 1 set point range high", 2, lambda: self._out(chamber.max_c), self._set_range_high)
        self._add(2782, "loop 1 set point", 2, lambda: self._out(chamber.setpoint_c), self._set_setpoint)
        self._add(2784, "loop 1 manual power", 2, lambda: _float_words(self.manual_power_pct), self._set_manual_power)
        self._add(2808, "loop 1 output power", 2, lambda: _float_words(self._power_pct()))
        self._add(2810, "loop 1 working set point", 2, lambda: self._out(chamber.setpoint_c))
        self._add(2814, "loop 1 active mode", 1, lambda: [AUTO if chamber.running else OFF])
        self._add(2820, "loop 1 process value", 2, lambda: self._out(chamber.air_c))
        for number in range(1, 7):
            self._declare_alarm(number)
        # Profile engine.
        self._add(16562, "profile start request", 1, lambda: [0], self._profile_start)
        self._add(16564, "profile resume request", 1, lambda: [0], self._profile_resume)
        self._add(16566, "profile pause/terminate request", 1, lambda: [0], self._profile_action)
        self._add(16568, "profile state", 1, lambda: [self.profile_state])
        for number in range(1, 5):  # profile event outputs 1..4 (as ChamberConnectLibrary reads them)
            self._declare_event(number)

    def _declare_event(self, number: int) -> None:
        """Profile event output ``number``: Off (62) / On (63), RW."""
        def get() -> list[int]:
            return [self.events[number]]

        def set_(words: list[int]) -> None:
            self._set_event(number, words)
        self._add(16594 + 2 * (number - 1), f"event output {number}", 1, get, set_)

    def _declare_alarm(self, number: int) -> None:
        """Alarm ``number``'s block (p. 225): 1330 + 100 (n-1) onwards."""
        alarm = self.alarms[number]
        base = (number - 1) * ALARM_STRIDE

        def setter(field: str, allowed: tuple[int, ...]) -> Callable[[list[int]], None]:
            def set_(words: list[int]) -> None:
                if words[0] not in allowed:
                    raise ModbusFault(ILLEGAL_VALUE, f"alarm {number} {field} {words[0]}")
                setattr(alarm, field, words[0])
            return set_

        def set_high(words: list[int]) -> None:
            alarm.high_c = self._delta_in(words) if alarm.type == ALARM_TYPE_DEVIATION else self._in(words)

        def set_low(words: list[int]) -> None:
            alarm.low_c = self._delta_in(words) if alarm.type == ALARM_TYPE_DEVIATION else self._in(words)

        def get_limit(value: Callable[[], float]) -> Callable[[], list[int]]:
            return lambda: self._delta_out(value()) if alarm.type == ALARM_TYPE_DEVIATION else self._out(value())

        def set_hysteresis(words: list[int]) -> None:
            value = self._delta_in(words)
            if not 0.0005 <= value <= 5555.0:
                raise ModbusFault(ILLEGAL_VALUE, f"alarm {number} hysteresis {value:g}")
            alarm.hysteresis_k = value

        self._add(1330 + base, f"alarm {number} type", 1, lambda: [alarm.type],
                  setter("type", (ALARM_TYPE_OFF, ALARM_TYPE_PROCESS, ALARM_TYPE_DEVIATION)))
        self._add(1332 + base, f"alarm {number} sides", 1, lambda: [alarm.sides],
                  setter("sides", (SIDES_BOTH, SIDES_HIGH, SIDES_LOW)))
        self._add(1334 + base, f"alarm {number} high set point", 2, get_limit(lambda: alarm.high_c), set_high)
        self._add(1336 + base, f"alarm {number} low set point", 2, get_limit(lambda: alarm.low_c), set_low)
        self._add(1338 + base, f"alarm {number} hysteresis", 2, lambda: self._delta_out(alarm.hysteresis_k),
                  set_hysteresis)
        self._add(1340 + base, f"alarm {number} silencing", 1, lambda: [alarm.silencing], setter("silencing", (OFF, ON)))
        self._add(1342 + base, f"alarm {number} latching", 1, lambda: [alarm.latching],
                  setter("latching", (NON_LATCHING, LATCHING)))
        self._add(1356 + base, f"alarm {number} state", 1, lambda: [self._alarm_state(number)])

    def blocks(self) -> list[tuple[int, int]]:
        """Contiguous (address, count) ranges of the map, ascending (for a server's data model)."""
        spans: list[tuple[int, int]] = []
        for address in sorted(self._params):
            width = self._params[address].width
            if spans and spans[-1][0] + spans[-1][1] == address:
                spans[-1] = (spans[-1][0], spans[-1][1] + width)
            else:
                spans.append((address, width))
        return spans

    def _locate(self, address: int) -> tuple[int, _Param]:
        """The parameter covering ``address`` and its first address."""
        param = self._params.get(address)
        if param is not None:
            return address, param
        for start, param in self._params.items():
            if start <= address < start + param.width:
                return start, param
        raise ModbusFault(ILLEGAL_ADDRESS, f"no parameter at register {address}")

    # -- requests ----------------------------------------------------------------------------
    def read_registers(self, address: int, count: int) -> list[int]:
        """Function code 3: ``count`` registers from ``address`` (after syncing the world)."""
        with self.world.lock:
            self.world.sync()
            words: list[int] = []
            while len(words) < count:
                at = address + len(words)
                start, param = self._locate(at)
                values = param.get()
                take = min(count - len(words), start + param.width - at)
                words.extend(values[at - start: at - start + take])
            return words

    def write_registers(self, address: int, values: list[int]) -> None:
        """Function codes 6/16: whole parameters only (a float needs both of its registers)."""
        with self.world.lock:
            self.world.sync()
            offset = 0
            while offset < len(values):
                at = address + offset
                start, param = self._locate(at)
                if start != at or offset + param.width > len(values):
                    raise ModbusFault(ILLEGAL_VALUE, f"write to part of {param.name} (register {at})")
                if param.set is None:
                    raise ModbusFault(ILLEGAL_ADDRESS, f"{param.name} is read-only")
                param.set(list(values[offset: offset + param.width]))
                offset += param.width

    # -- behaviour ---------------------------------------------------------------------------
    def _enum_setter(self, attribute: str, allowed: tuple[int, ...]) -> Callable[[list[int]], None]:
        def set_(words: list[int]) -> None:
            if words[0] not in allowed:
                raise ModbusFault(ILLEGAL_VALUE, f"{attribute} {words[0]}")
            setattr(self, attribute, words[0])
        return set_

    def _name_words(self) -> list[int]:
        name = self.device_name[:32]
        return [ord(c) for c in name] + [0] * (32 - len(name))

    def _set_name(self, words: list[int]) -> None:
        self.device_name = "".join(chr(w) for w in words if w).strip()

    def _restore(self, words: list[int]) -> None:
        """Restore Settings From = Factory: units °F, 60 Hz, alarms off (p. 225 defaults)."""
        if words[0] == RESTORE_NONE:
            return
        if words[0] != RESTORE_FACTORY:
            raise ModbusFault(ILLEGAL_VALUE, f"restore settings from {words[0]}")
        self.units, self.line_frequency, self.device_name = FAHRENHEIT, LINE_60HZ, "F4T"
        self.alarms = {n: _Alarm() for n in range(1, 7)}
        for number in range(1, 7):
            self._declare_alarm(number)

    def _set_mode(self, words: list[int]) -> None:
        mode = words[0]
        if mode == MANUAL:
            raise ModbusFault(ILLEGAL_VALUE, "manual mode is not modelled")
        if mode not in (AUTO, OFF):
            raise ModbusFault(ILLEGAL_VALUE, f"control mode {mode}")
        self.world.chamber.running = mode == AUTO
        logger.info("simulated F4T: loop 1 %s", "auto" if mode == AUTO else "off")

    def _set_setpoint(self, words: list[int]) -> None:
        chamber = self.world.chamber
        value = self._in(words)
        if not chamber.min_c - 1e-3 <= value <= chamber.max_c + 1e-3:
            raise ModbusFault(ILLEGAL_VALUE, f"set point {value:g} outside {chamber.min_c:g}..{chamber.max_c:g} °C")
        chamber.setpoint_c = min(max(value, chamber.min_c), chamber.max_c)

    def _set_range_low(self, words: list[int]) -> None:
        """Set point range low (RW): the loop refuses set points below it from then on."""
        value, chamber = self._in(words), self.world.chamber
        if not value < chamber.max_c:
            raise ModbusFault(ILLEGAL_VALUE, f"range low {value:g} not below range high {chamber.max_c:g}")
        chamber.min_c = value
        chamber.setpoint_c = max(chamber.setpoint_c, value)

    def _set_range_high(self, words: list[int]) -> None:
        value, chamber = self._in(words), self.world.chamber
        if not value > chamber.min_c:
            raise ModbusFault(ILLEGAL_VALUE, f"range high {value:g} not above range low {chamber.min_c:g}")
        chamber.max_c = value
        chamber.setpoint_c = min(chamber.setpoint_c, value)

    def _set_manual_power(self, words: list[int]) -> None:
        value = _words_float(words)
        if not -100.0 <= value <= 100.0:
            raise ModbusFault(ILLEGAL_VALUE, f"manual power {value:g} %")
        self.manual_power_pct = value

    def _set_event(self, number: int, words: list[int]) -> None:
        if words[0] not in (OFF, ON):
            raise ModbusFault(ILLEGAL_VALUE, f"event {number} state {words[0]}")
        self.events[number] = words[0]

    def _power_pct(self) -> float:
        """Output power as the loop would drive it: saturated while ramping, easing off near target."""
        chamber = self.world.chamber
        if not chamber.running or chamber.stuck:
            return 0.0
        error = chamber.target_c() - chamber.air_c
        rate_k_per_s = (chamber.max_heat_rate_k_per_min if error > 0 else chamber.max_cool_rate_k_per_min) / 60.0
        band = rate_k_per_s * chamber.tau_s
        return max(-100.0, min(100.0, 100.0 * error / band)) if band > 0 else 0.0

    def _alarm_state(self, number: int) -> int:
        """High (7) / low (8) / none (61): a side trips past its set point and clears only once the
        value is back inside by the hysteresis; a latching alarm stays until the condition clears
        and it is read (a simplification: no clear request is modelled)."""
        alarm = self.alarms[number]
        if alarm.type == ALARM_TYPE_OFF:
            alarm.state = ALARM_NONE
            return ALARM_NONE
        chamber = self.world.chamber
        value = chamber.air_c - (chamber.setpoint_c if alarm.type == ALARM_TYPE_DEVIATION else 0.0)
        high_on = alarm.sides in (SIDES_BOTH, SIDES_HIGH)
        low_on = alarm.sides in (SIDES_BOTH, SIDES_LOW)
        state, hysteresis = alarm.state, alarm.hysteresis_k
        if high_on and value > alarm.high_c:
            state = ALARM_HIGH
        elif low_on and value < alarm.low_c:
            state = ALARM_LOW
        elif state == ALARM_HIGH and value <= alarm.high_c - hysteresis:
            state = ALARM_NONE
        elif state == ALARM_LOW and value >= alarm.low_c + hysteresis:
            state = ALARM_NONE
        alarm.state = state
        return state

    def _profile_start(self, words: list[int]) -> None:
        raise ModbusFault(ILLEGAL_VALUE, f"profile start ({words[0]}): no profiles stored")

    def _profile_resume(self, words: list[int]) -> None:
        if words[0] != PROFILE_RESUME:
            raise ModbusFault(ILLEGAL_VALUE, f"profile resume request {words[0]}")
        if self.profile_state == PROFILE_PAUSED:
            self.profile_state = PROFILE_RUNNING

    def _profile_action(self, words: list[int]) -> None:
        action = words[0]
        if action == PROFILE_TERMINATE:
            self.profile_state = PROFILE_NONE
        elif action == PROFILE_PAUSED:
            if self.profile_state == PROFILE_RUNNING:
                self.profile_state = PROFILE_PAUSED
        else:
            raise ModbusFault(ILLEGAL_VALUE, f"profile action {action}")
