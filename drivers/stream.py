"""Byte-stream links for instruments whose protocol is not line-based text: JSON objects (Maccor
MacNet), length-prefixed binary frames (Arbin CTI). One TCP connection per system.

A :class:`ByteStream` sends bytes and reads replies either up to a terminator or by exact length.
The contract, shared with the in-process simulated streams (which know nothing of the drivers):
a read that gets no complete reply within the timeout raises the built-in :class:`TimeoutError`;
a link that is gone raises :class:`ConnectionError` (or another :class:`OSError`). The drivers turn
those into :mod:`drivers.errors` exceptions that name the system and the channel.

Resource strings: ``TCPIP::host::port::SOCKET`` (the VISA form a bench config already uses),
``tcp://host:port`` or ``host:port``. Units: seconds, bytes.
"""

from __future__ import annotations

import logging
import re
import socket
from typing import Protocol

logger = logging.getLogger(__name__)

_VISA_SOCKET = re.compile(r"^TCPIP\d*::([^:]+)::(\d+)::SOCKET$", re.IGNORECASE)
_URL = re.compile(r"^(?:tcp://)?\[?([^\]/]+?)\]?:(\d+)/?$")
#: Longest reply accepted before the link is declared broken (a runaway peer), bytes.
MAX_REPLY_BYTES = 1 << 20


class ByteStream(Protocol):
    """A byte-stream link to one instrument system."""

    resource: str

    def send(self, data: bytes) -> None: ...

    def recv_until(self, terminator: bytes) -> bytes:
        """Bytes up to and including ``terminator``."""

    def recv_exact(self, count: int) -> bytes:
        """Exactly ``count`` bytes."""

    def reopen(self) -> None: ...

    def close(self) -> None: ...


def parse_tcp_resource(resource: str) -> tuple[str, int]:
    """``(host, port)`` of ``TCPIP::host::port::SOCKET``, ``tcp://host:port`` or ``host:port``;
    ValueError naming the resource otherwise."""
    match = _VISA_SOCKET.match(resource.strip()) or _URL.match(resource.strip())
    if match is None:
        raise ValueError(f"{resource!r}: expected TCPIP::host::port::SOCKET, tcp://host:port or host:port")
    port = int(match.group(2))
    if not 0 < port < 65536:
        raise ValueError(f"{resource!r}: port {port} out of range")
    return match.group(1), port


class TcpStream:
    """A TCP connection (``TCP_NODELAY``) with a read timeout of ``timeout_s`` seconds."""

    def __init__(self, resource: str, *, timeout_s: float = 2.0) -> None:
        self.resource = resource
        self.host, self.port = parse_tcp_resource(resource)
        self.timeout_s = timeout_s
        self._buffer = bytearray()
        self._sock: socket.socket | None = None
        self.reopen()

    def reopen(self) -> None:
        """(Re)connect; OSError when the system cannot be reached."""
        self.close()
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._buffer.clear()

    def _socket(self) -> socket.socket:
        if self._sock is None:
            raise ConnectionError(f"{self.resource}: not connected")
        return self._sock

    def send(self, data: bytes) -> None:
        """Send all of ``data``."""
        self._socket().sendall(data)

    def _fill(self) -> None:
        chunk = self._socket().recv(65536)  # socket.timeout is TimeoutError
        if not chunk:
            raise ConnectionError(f"{self.resource}: closed by the peer")
        self._buffer += chunk
        if len(self._buffer) > MAX_REPLY_BYTES:
            raise ConnectionError(f"{self.resource}: reply over {MAX_REPLY_BYTES} bytes")

    def recv_until(self, terminator: bytes) -> bytes:
        """Bytes up to and including ``terminator`` (each socket read bounded by the timeout)."""
        while True:
            index = self._buffer.find(terminator)
            if index >= 0:
                end = index + len(terminator)
                data = bytes(self._buffer[:end])
                del self._buffer[:end]
                return data
            self._fill()

    def recv_exact(self, count: int) -> bytes:
        """Exactly ``count`` bytes."""
        while len(self._buffer) < count:
            self._fill()
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data

    def close(self) -> None:
        """Close the connection (idempotent)."""
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                logger.debug("%s: close failed", self.resource, exc_info=True)
