"""Modbus TCP transport under register-based drivers (pymodbus 3.15 synchronous client).

A register driver talks to a :class:`RegisterTransport`: read and write 16-bit holding registers
(Modbus function codes 3, 6 and 16, Modbus Application Protocol Specification V1.1b3, section 6),
plus helpers for the 32-bit IEEE 754 floats and one-character-per-register strings that
controllers such as the Watlow F4T use. Errors become :mod:`drivers.errors` exceptions naming the
resource and the register:

* no response within ``timeout_s`` -> :class:`~drivers.errors.InstrumentTimeout`;
* connection refused, reset or closed -> :class:`~drivers.transport.InstrumentConnectionLost`
  (the next call connects again: reconnect is lazy and bounded by the connect timeout);
* a Modbus exception response (illegal address, illegal value...) ->
  :class:`~drivers.errors.InstrumentCommandError`.

Resource strings: ``modbus-tcp://HOST[:PORT][/DEVICE_ID]`` (port 502 and device id 1 by default).
Writing a holding register is idempotent, so pymodbus retries a request that got no response
(``retries``, default 1). The client socket gets ``TCP_NODELAY``. Times in seconds.
"""

from __future__ import annotations

import logging
import math
import socket
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, Protocol
from urllib.parse import urlsplit

from drivers.errors import InstrumentCommandError, InstrumentError, InstrumentReplyError, InstrumentTimeout
from drivers.transport import InstrumentConnectionLost

if TYPE_CHECKING:
    from pymodbus.pdu import ModbusPDU

logger = logging.getLogger(__name__)

SCHEME = "modbus-tcp"
DEFAULT_PORT = 502
#: Modbus exception codes (Modbus Application Protocol V1.1b3, section 7).
EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}
#: Most registers one read request may ask for (Modbus Application Protocol V1.1b3, 6.3).
MAX_READ_REGISTERS = 125

# pymodbus logs connection failures itself, at ERROR level with frame dumps; this transport turns
# them into one clear exception instead. Quieten its logger unless the application configured it.
_pymodbus_logger = logging.getLogger("pymodbus.logging")
if _pymodbus_logger.level == logging.NOTSET:
    _pymodbus_logger.setLevel(logging.CRITICAL)


class RegisterTransport(Protocol):
    """A register-based link to one instrument (Modbus holding registers)."""

    resource: str

    def read_registers(self, address: int, count: int) -> list[int]: ...

    def write_registers(self, address: int, values: list[int]) -> None: ...

    def close(self) -> None: ...


def parse_resource(resource: str) -> tuple[str, int, int]:
    """``modbus-tcp://HOST[:PORT][/DEVICE_ID]`` -> (host, port, device id); ValueError if malformed."""
    parts = urlsplit(resource)
    if parts.scheme != SCHEME or not parts.hostname:
        raise ValueError(f"{resource!r} is not a Modbus TCP resource; use {SCHEME}://HOST[:PORT][/DEVICE_ID]")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise ValueError(f"{resource!r}: bad port") from None
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise ValueError(f"{resource!r}: device id must be a number 0..247, got {path!r}")
    device_id = int(path) if path else 1
    if not 0 <= device_id <= 247:
        raise ValueError(f"{resource!r}: device id must be 0..247")
    return parts.hostname, port, device_id


def registers_to_float(registers: list[int], word_order: Literal["big", "little"]) -> float:
    """Two registers -> IEEE 754 single; ``little`` = low word first (Watlow's default)."""
    low, high = (registers[0], registers[1]) if word_order == "little" else (registers[1], registers[0])
    return struct.unpack(">f", struct.pack(">HH", high, low))[0]


def float_to_registers(value: float, word_order: Literal["big", "little"]) -> list[int]:
    """IEEE 754 single -> two registers in ``word_order``."""
    high, low = struct.unpack(">HH", struct.pack(">f", value))
    return [low, high] if word_order == "little" else [high, low]


def registers_to_text(registers: list[int]) -> str:
    """One character per register (low byte), up to the first NUL."""
    chars = []
    for value in registers:
        if value == 0:
            break
        chars.append(chr(value & 0xFF))
    return "".join(chars)


class ModbusTcpTransport:
    """Holding registers of one Modbus TCP server (``device_id`` is the unit identifier).

    ``timeout_s``: connect and response timeout, seconds. ``word_order`` of 32-bit values:
    ``"little"`` (low word first) or ``"big"``.
    """

    def __init__(
        self,
        host: str,
        port: int = DEFAULT_PORT,
        *,
        device_id: int = 1,
        timeout_s: float = 2.0,
        retries: int = 1,
        word_order: Literal["big", "little"] = "little",
    ) -> None:
        from pymodbus import exceptions as modbus_exceptions
        from pymodbus.client import ModbusTcpClient

        self._exceptions = modbus_exceptions
        self.host = host
        self.port = int(port)
        self.device_id = int(device_id)
        self.word_order: Literal["big", "little"] = word_order
        self.resource = f"{SCHEME}://{host}:{self.port}/{self.device_id}"
        self._client = ModbusTcpClient(host, port=self.port, timeout=timeout_s, retries=retries)
        self._timeout_s = timeout_s
        self._broken = False
        self._connect()

    @classmethod
    def from_resource(cls, resource: str, *, timeout_s: float = 2.0) -> ModbusTcpTransport:
        """Open ``modbus-tcp://HOST[:PORT][/DEVICE_ID]``; InstrumentError if malformed or unreachable."""
        try:
            host, port, device_id = parse_resource(resource)
        except ValueError as exc:
            raise InstrumentError(str(exc)) from None
        return cls(host, port, device_id=device_id, timeout_s=timeout_s)

    # -- connection --------------------------------------------------------------------------
    def _connect(self) -> None:
        if not self._client.connect():
            self._broken = True
            raise InstrumentError(
                f"{self.resource}: cannot connect (refused or no answer within {self._timeout_s:g} s)")
        sock = getattr(self._client, "socket", None)
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._broken = False

    def _ensure_link(self) -> None:
        if self._broken:
            logger.info("%s: reconnecting after a lost connection", self.resource)
            self._client.close()
            self._connect()

    @property
    def broken(self) -> bool:
        """True after the connection was lost and until it has been re-established."""
        return self._broken

    def close(self) -> None:
        """Close the connection."""
        try:
            self._client.close()
        except Exception:  # noqa: BLE001 - closing must not raise
            logger.debug("%s: close failed", self.resource, exc_info=True)

    # -- requests ----------------------------------------------------------------------------
    def _execute(self, what: str, request: Callable[[], ModbusPDU]) -> ModbusPDU:
        self._ensure_link()
        try:
            response = request()
        except self._exceptions.ConnectionException as exc:
            self._broken = True
            self._client.close()
            raise InstrumentConnectionLost(f"{self.resource}: {what}: connection lost ({exc})") from exc
        except self._exceptions.ModbusIOException as exc:
            raise InstrumentTimeout(f"{self.resource}: {what}: no response (timeout)") from exc
        except self._exceptions.ModbusException as exc:
            raise InstrumentError(f"{self.resource}: {what} failed: {exc}") from exc
        if response.isError():
            code = int(getattr(response, "exception_code", 0))
            name = EXCEPTION_NAMES.get(code, "unknown exception")
            raise InstrumentCommandError(f"{self.resource}: {what}: Modbus exception {code} ({name})")
        return response

    def read_registers(self, address: int, count: int) -> list[int]:
        """Read ``count`` holding registers from ``address`` (function code 3)."""
        if not 1 <= count <= MAX_READ_REGISTERS:
            raise ValueError(f"register count {count} outside 1..{MAX_READ_REGISTERS}")
        what = f"read registers {address}..{address + count - 1}"
        response = self._execute(what, lambda: self._client.read_holding_registers(
            address, count=count, device_id=self.device_id))
        registers = list(response.registers)
        if len(registers) != count:
            raise InstrumentReplyError(f"{self.resource}: {what}: got {len(registers)} registers")
        return registers

    def write_registers(self, address: int, values: list[int]) -> None:
        """Write holding registers from ``address`` (function code 6 for one, 16 for several)."""
        if not values:
            raise ValueError("nothing to write")
        what = f"write registers {address}..{address + len(values) - 1} = {values}"
        if len(values) == 1:
            self._execute(what, lambda: self._client.write_register(address, values[0], device_id=self.device_id))
        else:
            self._execute(what, lambda: self._client.write_registers(address, values, device_id=self.device_id))

    # -- typed helpers -----------------------------------------------------------------------
    def read_float(self, address: int) -> float:
        """A 32-bit float from two registers at ``address``; a NaN or infinite value is an error."""
        value = registers_to_float(self.read_registers(address, 2), self.word_order)
        if not math.isfinite(value):
            raise InstrumentReplyError(f"{self.resource}: register {address}: not a finite number ({value})")
        return value

    def write_float(self, address: int, value: float) -> None:
        """Write a 32-bit float to the two registers at ``address`` (one request)."""
        self.write_registers(address, float_to_registers(value, self.word_order))

    def read_text(self, address: int, count: int) -> str:
        """A string stored one character per register in ``count`` registers."""
        return registers_to_text(self.read_registers(address, count))
