"""Simulated Watlow F4T controller: a Modbus holding-register model on the world's chamber, and a
pymodbus 3.15 Modbus TCP server that serves it.

Register map after the Watlow F4T "Setup and Operation User's Guide", Modbus parameter tables
(relative addresses of the default data map; floats IEEE 754 low word first; strings one character
per register; enumerations as Watlow numbers: 10 Auto, 54 Manual, 62 Off, 149 Running, 146 Paused,
148 Terminate, 15 °C). Loop 1 is the chamber air: its set point and control mode drive
``world.chamber``; its process value is ``world.chamber.air_c``. Alarm 1 is a process high alarm,
alarm 2 a process low alarm (thresholds ``alarm_high_c`` / ``alarm_low_c``); alarms 3..6 are off.

Not modelled (refused with Modbus exception 3, illegal data value): Manual control mode (the
chamber model has no open-loop power input) and starting a profile (no profiles are stored).
Reading or writing an address the model does not know answers exception 2 (illegal data address),
as the controller does for parameters that are not present.

:class:`WatlowF4tRegisters` is transport-free (any Modbus server can serve it); :class:`ModbusSimServer`
serves it on 127.0.0.1 with pymodbus' ``SimDevice`` data model (the replacement 3.15 offers for
the server-context API deprecated in 3.16), in a background thread with its own event loop.
Units: °C, seconds.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sim_instruments.world.sim_world import SimWorld

if TYPE_CHECKING:
    from pymodbus.simulator import SimDevice

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
ILLEGAL_ADDRESS, ILLEGAL_VALUE = 2, 3
AUTO, MANUAL, OFF = 10, 54, 62
PROFILE_NONE, PROFILE_RUNNING, PROFILE_PAUSED, PROFILE_TERMINATE, PROFILE_RESUME, PROFILE_START = (
    61, 149, 146, 148, 147, 1782)
CELSIUS = 15
ALARM_NONE, ALARM_HIGH, ALARM_LOW = 61, 7, 8
LOOP_STRIDE, ALARM_STRIDE = 160, 100


class ModbusFault(Exception):
    """A request the controller answers with Modbus exception ``code``."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(detail)
        self.code = code


def _float_words(value: float) -> list[int]:
    high, low = struct.unpack(">HH", struct.pack(">f", value))
    return [low, high]


def _words_float(words: list[int]) -> float:
    return struct.unpack(">f", struct.pack(">HH", words[1], words[0]))[0]


@dataclass
class _Param:
    """One parameter of the map: ``width`` registers, read by ``get`` (and written by ``set``)."""

    name: str
    width: int
    get: Callable[[], list[int]]
    set: Callable[[list[int]], None] | None = None


class WatlowF4tRegisters:
    """The F4T's holding registers on top of ``world.chamber`` (loop 1 = chamber air)."""

    def __init__(self, world: SimWorld, part_number: str = "F4T1R1DAAAA1AAA",
                 alarm_high_c: float = 150.0, alarm_low_c: float = -65.0) -> None:
        self.world = world
        self.part_number = part_number
        self.alarm_high_c = alarm_high_c
        self.alarm_low_c = alarm_low_c
        self.profile_state = PROFILE_NONE
        self._params: dict[int, _Param] = {}
        self._declare()

    # -- map ---------------------------------------------------------------------------------
    def _add(self, address: int, name: str, width: int, get: Callable[[], list[int]],
             set_: Callable[[list[int]], None] | None = None) -> None:
        self._params[address] = _Param(name, width, get, set_)

    def _declare(self) -> None:
        chamber = self.world.chamber
        text = [ord(c) for c in self.part_number[:15]] + [0] * (15 - len(self.part_number[:15]))
        self._add(16, "part number", 15, lambda: list(text))
        self._add(6730, "display units", 1, lambda: [CELSIUS])
        self._add(2730, "loop 1 control mode", 1, lambda: [AUTO if chamber.running else OFF], self._set_mode)
        self._add(2774, "loop 1 range low", 2, lambda: _float_words(chamber.min_c))
        self._add(2776, "loop 1 range high", 2, lambda: _float_words(chamber.max_c))
        self._add(2782, "loop 1 set point", 2, lambda: _float_words(chamber.setpoint_c), self._set_setpoint)
        self._add(2808, "loop 1 output power", 2, lambda: _float_words(self._power_pct()))
        self._add(2810, "loop 1 working set point", 2, lambda: _float_words(chamber.setpoint_c))
        self._add(2814, "loop 1 active mode", 1, lambda: [AUTO if chamber.running else OFF])
        self._add(2820, "loop 1 process value", 2, lambda: _float_words(chamber.air_c))
        for number in range(1, 7):
            def alarm_state(n: int = number) -> list[int]:
                return [self._alarm_state(n)]
            self._add(1356 + (number - 1) * ALARM_STRIDE, f"alarm {number} state", 1, alarm_state)
        self._add(16562, "profile start request", 1, lambda: [0], self._profile_start)
        self._add(16564, "profile resume request", 1, lambda: [0], self._profile_resume)
        self._add(16566, "profile pause/terminate request", 1, lambda: [0], self._profile_action)
        self._add(16568, "profile state", 1, lambda: [self.profile_state])

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
        value = _words_float(words)
        if not chamber.min_c <= value <= chamber.max_c:
            raise ModbusFault(ILLEGAL_VALUE, f"set point {value:g} outside {chamber.min_c:g}..{chamber.max_c:g}")
        chamber.setpoint_c = value

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
        air = self.world.chamber.air_c
        if number == 1:
            return ALARM_HIGH if air > self.alarm_high_c else ALARM_NONE
        if number == 2:
            return ALARM_LOW if air < self.alarm_low_c else ALARM_NONE
        return ALARM_NONE

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


class ModbusSimServer:
    """Serve a register model (``read_registers`` / ``write_registers`` raising :class:`ModbusFault`)
    over Modbus TCP on ``host`` (127.0.0.1) and ``port`` (0 = a free ephemeral port), device id
    ``device_id``, from a background thread. Use as a context manager or call :meth:`start` /
    :meth:`stop`; the resource string for the driver is :attr:`resource`.
    """

    def __init__(self, model: WatlowF4tRegisters, *, name: str = "chamber", host: str = LOOPBACK, port: int = 0,
                 device_id: int = 1, start_timeout_s: float = 5.0) -> None:
        self.model = model
        self.name = name
        self.host = host
        self.requested_port = port
        self.device_id = device_id
        self.start_timeout_s = start_timeout_s
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Future[bool] | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        """The TCP port actually bound (after :meth:`start`)."""
        if self._port is None:
            raise RuntimeError(f"{self.name}: Modbus server not started")
        return self._port

    @property
    def resource(self) -> str:
        """``modbus-tcp://HOST:PORT/DEVICE_ID`` for a bench config."""
        return f"modbus-tcp://{self.host}:{self.port}/{self.device_id}"

    def start(self) -> ModbusSimServer:
        """Bind and serve in a background thread; returns self (RuntimeError if it cannot start)."""
        if self._thread is not None:
            raise RuntimeError(f"{self.name}: Modbus server already started")
        self._thread = threading.Thread(target=self._run, name=f"sim-{self.name}-modbus", daemon=True)
        self._thread.start()
        if not self._ready.wait(self.start_timeout_s) or self._error is not None:
            self.stop()
            raise RuntimeError(f"{self.name}: Modbus server did not start: {self._error}")
        logger.info("%s: Modbus TCP on %s:%d", self.name, self.host, self.port)
        return self

    def stop(self, timeout_s: float = 3.0) -> None:
        """Stop serving and join the thread (at most ``timeout_s`` seconds)."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            def finish() -> None:
                if not stop.done():
                    stop.set_result(True)
            try:
                loop.call_soon_threadsafe(finish)
            except RuntimeError:  # the loop already ended
                pass
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                logger.warning("%s: Modbus server thread did not stop", self.name)

    def __enter__(self) -> ModbusSimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- thread ------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._error = exc
            self._ready.set()

    def _device(self) -> SimDevice:
        from pymodbus.constants import ExcCodes
        from pymodbus.simulator import DataType, SimData, SimDevice

        model = self.model
        codes = {ILLEGAL_ADDRESS: ExcCodes.ILLEGAL_ADDRESS, ILLEGAL_VALUE: ExcCodes.ILLEGAL_VALUE}

        async def action(function_code: int, start_address: int, address: int, count: int,
                         registers: list[int], values: list[int] | list[bool] | None) -> ExcCodes | None:
            """Answer from the model: reads fill ``registers``, writes go to the model first."""
            try:
                if values is None:
                    words = model.read_registers(address, count)
                    registers[address - start_address: address - start_address + count] = words
                else:
                    model.write_registers(address, [int(v) for v in values])
            except ModbusFault as fault:
                logger.info("%s: Modbus exception %d: %s", self.name, fault.code, fault)
                return codes[fault.code]
            return None

        simdata = [SimData(address, count=count, datatype=DataType.REGISTERS) for address, count in model.blocks()]
        return SimDevice(id=self.device_id, simdata=simdata, action=action)

    async def _serve(self) -> None:
        from pymodbus.server import ModbusTcpServer

        server = ModbusTcpServer(self._device(), address=(self.host, self.requested_port))
        await server.serve_forever(background=True)
        self._port = int(server.transport.sockets[0].getsockname()[1])  # type: ignore[attr-defined]  # listening: an asyncio.Server
        self._loop = asyncio.get_running_loop()
        self._stop = self._loop.create_future()
        self._ready.set()
        try:
            await self._stop
        finally:
            await server.shutdown()
