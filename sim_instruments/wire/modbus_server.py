"""A pymodbus 3.15 Modbus TCP server for a simulated instrument's holding-register model.

The model has ``read_registers(address, count)``, ``write_registers(address, values)`` and
``blocks()`` and raises :class:`ModbusFault` for a request the instrument answers with a Modbus
exception. The server uses pymodbus' ``SimDevice`` data model (the replacement 3.15 offers for the
server-context API deprecated in 3.16), on 127.0.0.1, in a background thread with its own event loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pymodbus.simulator import SimDevice

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
ILLEGAL_ADDRESS, ILLEGAL_VALUE = 2, 3


class ModbusFault(Exception):
    """A request the instrument answers with Modbus exception ``code``."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(detail)
        self.code = code


class RegisterModel(Protocol):
    """What :class:`ModbusSimServer` serves."""

    def read_registers(self, address: int, count: int) -> list[int]: ...

    def write_registers(self, address: int, values: list[int]) -> None: ...

    def blocks(self) -> list[tuple[int, int]]: ...


class ModbusSimServer:
    """Serve a register model (``read_registers`` / ``write_registers`` raising :class:`ModbusFault`)
    over Modbus TCP on ``host`` (127.0.0.1) and ``port`` (0 = a free ephemeral port), device id
    ``device_id``, from a background thread. Use as a context manager or call :meth:`start` /
    :meth:`stop`; the resource string for the driver is :attr:`resource`.
    """

    def __init__(self, model: RegisterModel, *, name: str = "chamber", host: str = LOOPBACK, port: int = 0,
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
