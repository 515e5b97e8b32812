"""Byte-stream endpoint of a simulated instrument: bytes in -> messages -> front end -> bytes out.

One endpoint serves every way in (the in-process VISA library, the pyserial URL handler, the
loopback TCP servers), so each simulator speaks exactly the same bytes on all of them.
Communication faults (no reply, garbled reply, delayed reply, disconnect) are applied here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

logger = logging.getLogger(__name__)


class MessageFrontEnd(Protocol):
    """A simulated instrument's command interpreter: one received message in, reply text out."""

    def handle_line(self, line: str) -> str | None: ...


@dataclass
class CommsFault:
    """An active communication fault on one endpoint.

    ``kind``: ``"no_reply"`` (messages are swallowed), ``"garbled"`` (reply bytes corrupted),
    ``"delay"`` (replies held back ``delay_s`` simulated seconds: past a driver timeout they are
    late), ``"disconnect"`` (every read and write fails as if the cable were pulled).
    Active from ``start_s`` for ``duration_s`` simulated seconds (``None`` = for ever).
    """

    kind: str
    start_s: float
    duration_s: float | None = None
    delay_s: float = 0.0

    def active(self, now_s: float) -> bool:
        """True while the fault applies at simulated time ``now_s``."""
        if now_s < self.start_s:
            return False
        return self.duration_s is None or now_s < self.start_s + self.duration_s


class EndpointDisconnected(ConnectionError):
    """The simulated link is down (a ``disconnect`` fault is active)."""


class LineEndpoint:
    """Splits incoming bytes on ``read_termination`` and queues replies with ``write_termination``.

    ``now_s`` is a callable giving the simulated time (for faults and delayed replies).
    """

    def __init__(
        self,
        frontend: MessageFrontEnd,
        now_s: Callable[[], float],
        *,
        read_termination: bytes = b"\n",
        write_termination: bytes = b"\n",
        name: str = "",
    ) -> None:
        self.frontend = frontend
        self.now_s = now_s
        self.read_termination = read_termination
        self.write_termination = write_termination
        self.name = name
        self.faults: list[CommsFault] = []
        self._inbox = bytearray()
        self._outbox = bytearray()
        self._held: list[tuple[float, bytes]] = []
        self._lock = threading.Lock()

    def _fault(self) -> CommsFault | None:
        if not self.faults:
            return None
        now = self.now_s()
        return next((f for f in self.faults if f.active(now)), None)

    def write(self, data: bytes) -> int:
        """Receive ``data`` from the host; complete messages are executed at once."""
        fault = self._fault() if self.faults else None
        if fault is not None and fault.kind == "disconnect":
            raise EndpointDisconnected(f"{self.name}: link down")
        term = self.read_termination
        with self._lock:
            inbox = self._inbox
            # Fast path (the usual case): one whole message, nothing buffered before it.
            if not inbox and data.endswith(term) and data.find(term) == len(data) - len(term):
                self._execute(data[: -len(term)].decode("ascii", errors="replace").strip("\r\n"), fault)
                return len(data)
            inbox += data
            while True:
                index = inbox.find(term)
                if index < 0:
                    break
                line = inbox[:index].decode("ascii", errors="replace").strip("\r\n")
                del inbox[: index + len(term)]
                self._execute(line, fault)
        return len(data)

    def _execute(self, line: str, fault: CommsFault | None) -> None:
        reply = self.frontend.handle_line(line)
        if reply is None:
            return
        if fault is None:
            self._outbox += reply.encode("ascii", errors="replace") + self.write_termination
            return
        if fault.kind == "no_reply":
            return
        payload = reply.encode("ascii", errors="replace") + self.write_termination
        if fault is not None and fault.kind == "garbled":
            payload = bytes((b ^ 0x5A) & 0x7F or 0x3F for b in payload[:-1]) + payload[-1:]
        if fault is not None and fault.kind == "delay":
            self._held.append((self.now_s() + fault.delay_s, payload))
            return
        self._outbox += payload

    def read(self, count: int) -> bytes:
        """Up to ``count`` reply bytes available now (``b""`` when none: the host times out)."""
        return self.read_until(b"", count)

    def read_until(self, terminator: bytes, count: int) -> bytes:
        """Reply bytes up to and including ``terminator`` (empty: no stop), at most ``count``."""
        fault = self._fault() if self.faults else None
        if fault is not None and fault.kind == "disconnect":
            raise EndpointDisconnected(f"{self.name}: link down")
        with self._lock:
            if self._held:
                self._release_held()
            outbox = self._outbox
            size = count
            if terminator:
                index = outbox.find(terminator)
                if index >= 0:
                    size = min(count, index + len(terminator))
            if size >= len(outbox):
                chunk = bytes(outbox)
                outbox.clear()
                return chunk
            chunk = bytes(outbox[:size])
            del outbox[:size]
            return chunk

    def _release_held(self) -> None:
        now = self.now_s()
        ready = [p for t, p in self._held if t <= now]
        self._held = [(t, p) for t, p in self._held if t > now]
        for payload in ready:
            self._outbox += payload

    @property
    def pending(self) -> int:
        """Number of reply bytes waiting to be read."""
        return len(self._outbox)

    def clear(self) -> None:
        """Device clear: drop partial input and unread output."""
        with self._lock:
            self._inbox.clear()
            self._outbox.clear()
            self._held.clear()
