"""pyserial URL handler ``cellsim://NAME``: a serial port wired to a simulated instrument.

Enable with ``serial.protocol_handler_packages.append("sim_instruments.wire.serial_url")`` (done by
:func:`sim_instruments.wire.serial_url.registry.register`). A read with nothing waiting returns at once
with what it has (in virtual time no more bytes will come), which pyserial reports as a timeout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from sim_instruments.wire.endpoint import EndpointDisconnected
from sim_instruments.wire.serial_url.registry import lookup

if TYPE_CHECKING:
    from typing_extensions import Buffer


class Serial(SerialBase):
    """A pyserial port whose far end is a simulated instrument endpoint."""

    _port: str | None  # set by SerialBase.__init__ (its stubs leave the private attribute out)

    def open(self) -> None:
        """Attach to the endpoint named in the URL."""
        if self._port is None:
            raise SerialException("port must be configured before it can be used")
        name = str(self._port).split("://", 1)[-1].strip("/")
        endpoint = lookup(name)
        if endpoint is None:
            raise SerialException(f"could not open port {self._port}: no simulated instrument {name!r}")
        self._endpoint = endpoint
        self.is_open = True

    def close(self) -> None:
        """Detach."""
        self.is_open = False

    def _reconfigure_port(self, force_update: bool = False) -> None:
        """Baud rate, parity... have no effect on a simulated link."""

    def from_url(self, url: str) -> str:
        """Keep the URL as the port name."""
        return url

    @property
    def in_waiting(self) -> int:
        """Reply bytes waiting."""
        self._check()
        return self._endpoint.pending

    def read(self, size: int = 1) -> bytes:
        """Up to ``size`` bytes available now."""
        self._check()
        try:
            return self._endpoint.read(size)
        except EndpointDisconnected as exc:
            raise SerialException(str(exc)) from exc

    def read_until(self, expected: bytes = b"\n", size: int | None = None) -> bytes:
        """One reply up to ``expected`` (fast path: the whole line at once, not byte by byte)."""
        self._check()
        try:
            return self._endpoint.read_until(expected, size if size is not None else 1 << 20)
        except EndpointDisconnected as exc:
            raise SerialException(str(exc)) from exc

    def write(self, data: Buffer) -> int | None:
        """Send bytes to the instrument."""
        self._check()
        try:
            return self._endpoint.write(bytes(data))
        except EndpointDisconnected as exc:
            raise SerialException(str(exc)) from exc

    def reset_input_buffer(self) -> None:
        """Drop unread reply bytes."""
        self._check()
        self._endpoint.read(self._endpoint.pending)

    def reset_output_buffer(self) -> None:
        """Nothing is buffered on the host side."""

    def flush(self) -> None:
        """Nothing is buffered on the host side."""

    def _check(self) -> None:
        if not self.is_open:
            raise PortNotOpenError()
