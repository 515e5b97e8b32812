"""Byte-stream endpoint of a simulated instrument: bytes in -> messages -> front end -> bytes out.

One endpoint serves every way in (the in-process VISA library, the pyserial URL handler, the
loopback TCP servers), so each simulator speaks exactly the same bytes on all of them.
Communication faults (no reply, garbled reply, delayed reply, disconnect) are applied here.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
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
    late), ``"disconnect"`` (every read and write fails as if the cable were pulled), ``"stall"``
    (the instrument's process stops, as under SIGSTOP: messages received while it lasts are
    executed in order when it ends, their replies computed at that instant).
    Active from ``start_s`` for ``duration_s`` simulated seconds (``None`` = for ever).
    ``first_hit_s``: the simulated time the fault first met a message (None: no message crossed
    the link while it was active, so it had no effect).
    """

    kind: str
    start_s: float
    duration_s: float | None = None
    delay_s: float = 0.0
    first_hit_s: float | None = None

    def active(self, now_s: float) -> bool:
        """True while the fault applies at simulated time ``now_s``."""
        if now_s < self.start_s:
            return False
        return self.duration_s is None or now_s < self.start_s + self.duration_s


class EndpointDisconnected(ConnectionError):
    """The simulated link is down (a ``disconnect`` fault is active)."""


#: Most distinct messages whose decoded text an endpoint remembers (emptied when full), and the
#: longest message remembered, bytes.
DECODED_CACHE_SIZE = 256
DECODED_MAX_BYTES = 256


class LineEndpoint:
    """Splits incoming bytes on ``read_termination`` and queues replies with ``write_termination``.

    ``now_s`` is a callable giving the simulated time (for faults and delayed replies).

    Replies wait in a queue of byte strings that together are the stream a host reads; a read
    that takes part of one leaves the rest at the front. The usual exchange (one whole message in
    while no fault is listed, one reply read whole) takes a fast path; everything else takes the
    general path, which treats the input and the queue as byte streams. Thread-safe: one lock
    orders messages and replies (the front end runs under it).
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
        self.name = name
        self.faults: list[CommsFault] = []
        self._lock = threading.Lock()
        #: Whole received messages (with their termination) -> decoded text, for the fast path.
        self._decoded: dict[bytes, str] = {}
        self._inbox = bytearray()
        self._outbox: deque[bytes] = deque()
        #: True while every queued reply is whole: it holds the write termination once, at its end
        #: (then a read up to that termination takes the first reply without searching it).
        self._whole = True
        #: Held back: (release time, reply bytes) of a delay fault, (end, message text) of a stall.
        self._held: list[tuple[float, bytes | str]] = []
        self.read_termination = read_termination
        self.write_termination = write_termination

    @property
    def read_termination(self) -> bytes:
        """Bytes that end a received message."""
        return self._read_termination

    @read_termination.setter
    def read_termination(self, value: bytes) -> None:
        with self._lock:
            self._read_termination = value
            self._decoded.clear()  # the remembered messages were split on the old termination

    @property
    def write_termination(self) -> bytes:
        """Bytes appended to every reply."""
        return self._write_termination

    @write_termination.setter
    def write_termination(self, value: bytes) -> None:
        with self._lock:
            self._write_termination = value
            # The termination as text, to tell from the reply text whether the encoded reply holds
            # it before its end ("" when that cannot be told: every reply then counts as not whole).
            # Needs ASCII without "?" (what encode(..., "replace") writes for other characters) and
            # no border (b"\n\n" could start in the reply and end inside the appended copy).
            plain = (bool(value) and value.isascii() and b"?" not in value
                     and all(value[k:] != value[: len(value) - k] for k in range(1, len(value))))
            self._wterm_text = value.decode("ascii") if plain else ""
            self._whole = not self._outbox

    def _fault(self) -> CommsFault | None:
        if not self.faults:
            return None
        now = self.now_s()
        fault = next((f for f in self.faults if f.active(now)), None)
        if fault is not None and fault.first_hit_s is None:
            fault.first_hit_s = now
        return fault

    # -- host -> instrument ----------------------------------------------------------------------
    def write(self, data: bytes) -> int:
        """Receive ``data`` from the host; complete messages are executed at once."""
        if self.faults:
            return self._write_with_faults(data)
        lock = self._lock
        lock.acquire()  # explicit acquire/release: cheaper than ``with`` on this per-message path
        try:
            # Fast path (the usual case): a whole message received before (its text is
            # remembered: no termination search, no decode), nothing buffered before it.
            try:
                line = self._decoded[data]
            except (KeyError, TypeError):  # a new message, or a bytearray (not hashable)
                line = None
            if line is None or self._inbox:
                self._receive(data, None)
            else:
                reply = self.frontend.handle_line(line)
                if reply is not None:
                    if self._wterm_text in reply:
                        self._whole = False
                    self._outbox.append(reply.encode("ascii", "replace") + self._write_termination)
        finally:
            lock.release()
        return len(data)

    def _write_with_faults(self, data: bytes) -> int:
        """:meth:`write` while the fault list is not empty (the faults may not be active)."""
        fault = self._fault()
        if fault is not None and fault.kind == "disconnect":
            raise EndpointDisconnected(f"{self.name}: link down")
        with self._lock:
            if self._held and (fault is None or fault.kind != "stall"):
                self._release_held()  # messages of a stall that ended go first, in order
            self._receive(data, fault)
        return len(data)

    def _receive(self, data: bytes, fault: CommsFault | None) -> None:
        """General path of :meth:`write` (lock held): split the input stream into messages."""
        term = self._read_termination
        inbox = self._inbox
        size = len(data)
        if not inbox and data.endswith(term) and data.find(term) == size - len(term):
            # One whole message, nothing buffered before it.
            line = data[: size - len(term)].decode("ascii", "replace").strip("\r\n")
            if size <= DECODED_MAX_BYTES and isinstance(data, bytes):
                decoded = self._decoded
                if len(decoded) >= DECODED_CACHE_SIZE:
                    decoded.clear()
                decoded[data] = line
            self._execute(line, fault)
            return
        inbox += data
        while True:
            index = inbox.find(term)
            if index < 0:
                break
            line = inbox[:index].decode("ascii", "replace").strip("\r\n")
            del inbox[: index + len(term)]
            self._execute(line, fault)

    def _execute(self, line: str, fault: CommsFault | None) -> None:
        """Run one message (lock held) and queue its reply as ``fault`` allows."""
        if fault is not None and fault.kind == "stall":
            # Executed when the stall ends (the held entry is the message text, not a reply).
            self._held.append((fault.start_s + (fault.duration_s or math.inf), line))
            return
        reply = self.frontend.handle_line(line)
        if reply is None:
            return
        payload = reply.encode("ascii", "replace") + self._write_termination
        if fault is not None:
            if fault.kind == "no_reply":
                return
            if fault.kind == "garbled":
                payload = bytes((b ^ 0x5A) & 0x7F or 0x3F for b in payload[:-1]) + payload[-1:]
            if fault.kind == "delay":
                self._held.append((self.now_s() + fault.delay_s, payload))
                return
        self._whole = False  # not checked here: the reads search this reply
        self._outbox.append(payload)

    # -- instrument -> host ----------------------------------------------------------------------
    def next_release_s(self) -> float | None:
        """Simulated time the first held-back reply (a delay or stall fault) is due; None: none held."""
        with self._lock:
            return min((due for due, _ in self._held), default=None)

    def read(self, count: int) -> bytes:
        """Up to ``count`` reply bytes available now (``b""`` when none: the host times out)."""
        return self.read_until(b"", count)

    def read_until(self, terminator: bytes, count: int) -> bytes:
        """Reply bytes up to and including ``terminator`` (empty: no stop), at most ``count``."""
        if self.faults:
            fault = self._fault()
            if fault is not None and fault.kind == "disconnect":
                raise EndpointDisconnected(f"{self.name}: link down")
        lock = self._lock
        lock.acquire()
        try:
            if self._held:
                self._release_held()
            outbox = self._outbox
            if not outbox:
                return b""
            first = outbox[0]
            size = len(first)
            if size <= count:
                # Fast path: the first queued reply is read whole, when the read stops at the
                # end of it: at the first terminator in it, or with no terminator, it is all.
                if self._whole and terminator == self._write_termination:
                    return outbox.popleft()
                if first.find(terminator) == size - len(terminator) >= 0 if terminator else len(outbox) == 1:
                    outbox.popleft()
                    if not outbox:
                        self._whole = True
                    return first
            return self._read_stream(terminator, count)
        finally:
            lock.release()

    def _read_stream(self, terminator: bytes, count: int) -> bytes:
        """General read (lock held): the queued replies as one byte stream."""
        outbox = self._outbox
        stream = b"".join(outbox)
        outbox.clear()
        size = count
        if terminator:
            index = stream.find(terminator)
            if index >= 0:
                size = min(count, index + len(terminator))
        if size >= len(stream):
            self._whole = True
            return stream
        outbox.append(stream[size:])
        self._whole = False
        return stream[:size]

    def _release_held(self) -> None:
        now = self.now_s()
        ready = [p for t, p in self._held if t <= now]
        self._held = [(t, p) for t, p in self._held if t > now]
        if ready:
            for item in ready:
                if isinstance(item, str):  # a message received during a stall: executed now
                    reply = self.frontend.handle_line(item)
                    if reply is not None:
                        self._outbox.append(reply.encode("ascii", "replace") + self._write_termination)
                else:
                    self._outbox.append(item)
            self._whole = False

    @property
    def pending(self) -> int:
        """Number of reply bytes waiting to be read."""
        with self._lock:
            return sum(map(len, self._outbox))

    def clear(self) -> None:
        """Device clear: drop partial input and unread output."""
        with self._lock:
            self._inbox.clear()
            self._outbox.clear()
            self._whole = True
            self._held.clear()
