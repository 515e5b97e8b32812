"""Message transports under the drivers: pyvisa resources and pyserial ports.

A driver talks to a :class:`MessageTransport` (write a message, query a reply); the transport
owns terminations, timeouts and turning bus errors into :mod:`drivers.errors` exceptions with
the resource name in them. Raw TCP sockets get ``TCP_NODELAY`` (Nagle adds ~40 ms per query).
"""

from __future__ import annotations

import logging
import socket
from typing import Any, Protocol

from drivers.errors import InstrumentError, InstrumentTimeout

logger = logging.getLogger(__name__)


class MessageTransport(Protocol):
    """A message-based link to one instrument."""

    resource: str

    def write(self, message: str) -> None: ...

    def query(self, message: str) -> str: ...

    def close(self) -> None: ...


class VisaTransport:
    """A pyvisa message-based resource. ``timeout_s`` in seconds; terminations as bytes text."""

    def __init__(
        self,
        resource_manager: Any,
        resource: str,
        *,
        timeout_s: float = 2.0,
        read_termination: str = "\n",
        write_termination: str = "\n",
    ) -> None:
        import pyvisa

        self._errors = pyvisa.errors
        self.resource = resource
        self._rm = resource_manager
        self._settings = (timeout_s, read_termination, write_termination)
        self._inst = self._open()

    def _open(self) -> Any:
        timeout_s, read_term, write_term = self._settings
        try:
            inst = self._rm.open_resource(
                self.resource,
                read_termination=read_term,
                write_termination=write_term,
                timeout=int(timeout_s * 1000),
            )
        except (self._errors.VisaIOError, ValueError, OSError) as exc:
            raise InstrumentError(f"{self.resource}: cannot open: {exc}") from exc
        _set_nodelay(self._rm, inst)
        return inst

    def reopen(self) -> None:
        """Close and open the resource again (after a lost connection)."""
        try:
            self._inst.close()
        except Exception:  # noqa: BLE001 - the link is already broken
            logger.debug("%s: close before reopen failed", self.resource, exc_info=True)
        self._inst = self._open()

    def write(self, message: str) -> None:
        """Send one message."""
        try:
            self._inst.write(message)
        except self._errors.VisaIOError as exc:
            raise InstrumentError(f"{self.resource}: write {message!r} failed: {exc.description}") from exc

    def query(self, message: str) -> str:
        """Send one message and return the reply without its termination."""
        try:
            return self._inst.query(message)
        except self._errors.VisaIOError as exc:
            if exc.error_code == self._errors.StatusCode.error_timeout:
                raise InstrumentTimeout(f"{self.resource}: no reply to {message!r} (timeout)") from exc
            raise InstrumentError(f"{self.resource}: query {message!r} failed: {exc.description}") from exc
        except UnicodeDecodeError as exc:
            raise InstrumentError(f"{self.resource}: reply to {message!r} is not text") from exc

    def clear(self) -> None:
        """Device clear: drop replies of an aborted exchange."""
        try:
            self._inst.clear()
        except self._errors.VisaIOError:
            logger.debug("%s: device clear failed", self.resource, exc_info=True)

    def close(self) -> None:
        """Release the resource."""
        try:
            self._inst.close()
        except Exception:  # noqa: BLE001
            logger.debug("%s: close failed", self.resource, exc_info=True)


def _set_nodelay(resource_manager: Any, inst: Any) -> None:
    """Turn off Nagle on a pyvisa-py raw socket session (no-op for other sessions)."""
    sessions = getattr(resource_manager.visalib, "sessions", None)
    if not isinstance(sessions, dict):
        return
    session = sessions.get(inst.session)
    sock = getattr(session, "interface", None)
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class SerialTransport:
    """A pyserial port (device path or URL such as ``socket://host:port``). ``timeout_s`` seconds."""

    def __init__(
        self,
        url: str,
        *,
        baudrate: int = 9600,
        timeout_s: float = 2.0,
        read_termination: str = "\r\n",
        write_termination: str = "\r\n",
    ) -> None:
        import serial

        self._serial = serial
        self.resource = url
        self._read_term = read_termination.encode()
        self._write_term = write_termination.encode()
        self._settings = (baudrate, timeout_s)
        self._port = self._open()

    def _open(self) -> Any:
        baudrate, timeout_s = self._settings
        try:
            port = self._serial.serial_for_url(self.resource, baudrate=baudrate, timeout=timeout_s)
        except (self._serial.SerialException, ValueError, OSError) as exc:
            raise InstrumentError(f"{self.resource}: cannot open: {exc}") from exc
        sock = getattr(port, "_socket", None)
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return port

    def reopen(self) -> None:
        """Close and open the port again."""
        self.close()
        self._port = self._open()

    def write(self, message: str) -> None:
        """Send one message with the write termination."""
        try:
            self._port.write(message.encode("ascii") + self._write_term)
        except (self._serial.SerialException, OSError) as exc:
            raise InstrumentError(f"{self.resource}: write {message!r} failed: {exc}") from exc

    def query(self, message: str) -> str:
        """Send one message; return the reply line without its termination."""
        self.write(message)
        try:
            data = self._port.read_until(self._read_term)
        except (self._serial.SerialException, OSError) as exc:
            raise InstrumentError(f"{self.resource}: read after {message!r} failed: {exc}") from exc
        if not data.endswith(self._read_term):
            raise InstrumentTimeout(f"{self.resource}: no reply to {message!r} (timeout)")
        try:
            return data[: -len(self._read_term)].decode("ascii")
        except UnicodeDecodeError as exc:
            raise InstrumentError(f"{self.resource}: reply to {message!r} is not ASCII") from exc

    def clear(self) -> None:
        """Drop unread input."""
        try:
            self._port.reset_input_buffer()
        except (self._serial.SerialException, OSError):
            logger.debug("%s: reset_input_buffer failed", self.resource, exc_info=True)

    def close(self) -> None:
        """Close the port."""
        try:
            self._port.close()
        except Exception:  # noqa: BLE001
            logger.debug("%s: close failed", self.resource, exc_info=True)
