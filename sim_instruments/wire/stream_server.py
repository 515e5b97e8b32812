"""Byte-stream simulated instruments (JSON objects, binary frames): a loopback TCP server and an
in-process stream, both in front of the same per-connection sessions.

A *session* is what one connection talks to: ``feed(data) -> reply bytes`` consumes received bytes
(keeping any incomplete message for the next call) and returns the replies they complete. Each
TCP connection, and each in-process stream, gets its own session from ``new_session()``.

:class:`LinkState` is a system's cable: while ``down`` is True every connection is dropped, new
ones are refused and in-process streams raise :class:`ConnectionResetError` (a dropped link).
The in-process :class:`SimByteStream` answers as the TCP link would: a read with no complete reply
queued raises :class:`TimeoutError` at once (nothing more can arrive in process).
Units: seconds (wall clock for socket polls), bytes.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
from collections.abc import Callable
from typing import Protocol

from sim_instruments.wire.tcp_server import LOOPBACK

logger = logging.getLogger(__name__)

#: Unconsumed input a session may hold before the connection is dropped, bytes.
MAX_PENDING_BYTES = 1 << 20


class StreamSession(Protocol):
    """One connection's protocol state."""

    def feed(self, data: bytes) -> bytes: ...


class LinkState:
    """Whether a simulated system's network link is up (shared by its servers and streams)."""

    def __init__(self) -> None:
        self.down = False


class SimByteStream:
    """An in-process byte stream to a session (the driver's ``ByteStream`` contract, duck-typed)."""

    def __init__(self, new_session: Callable[[], StreamSession], resource: str, *,
                 link: LinkState | None = None, lock: threading.Lock | threading.RLock | None = None) -> None:
        self.resource = resource
        self._new_session = new_session
        self.link = link or LinkState()
        self._lock = lock or threading.RLock()
        self._inbox = bytearray()
        self._session: StreamSession | None = None
        self.reopen()

    def _check(self) -> StreamSession:
        if self.link.down or self._session is None:
            self._session = None
            raise ConnectionResetError(f"{self.resource}: link down")
        return self._session

    def reopen(self) -> None:
        """A fresh connection (ConnectionRefusedError while the link is down)."""
        if self.link.down:
            raise ConnectionRefusedError(f"{self.resource}: link down")
        self._session = self._new_session()
        self._inbox.clear()

    def send(self, data: bytes) -> None:
        session = self._check()
        with self._lock:
            self._inbox += session.feed(bytes(data))

    def recv_until(self, terminator: bytes) -> bytes:
        self._check()
        index = self._inbox.find(terminator)
        if index < 0:
            raise TimeoutError(f"{self.resource}: no reply")
        end = index + len(terminator)
        data = bytes(self._inbox[:end])
        del self._inbox[:end]
        return data

    def recv_exact(self, count: int) -> bytes:
        self._check()
        if len(self._inbox) < count:
            raise TimeoutError(f"{self.resource}: no reply")
        data = bytes(self._inbox[:count])
        del self._inbox[:count]
        return data

    def close(self) -> None:
        self._session = None


class StreamServer:
    """A simulated system on a TCP port; ``port=0`` picks a free ephemeral port (see :attr:`port`).

    ``lock`` serialises sessions across connections (pass the world's lock). Every loop is bounded
    by ``poll_s`` so :meth:`stop` returns within a few polls.
    """

    def __init__(self, new_session: Callable[[], StreamSession], *, name: str, host: str = LOOPBACK,
                 port: int = 0, link: LinkState | None = None, lock: threading.Lock | threading.RLock | None = None,
                 max_connections: int = 8, poll_s: float = 0.05) -> None:
        self.name = name
        self.host = host
        self.requested_port = port
        self.link = link or LinkState()
        self.max_connections = max_connections
        self.poll_s = poll_s
        self._new_session = new_session
        self._lock = lock or threading.RLock()
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        if self._listener is None:
            raise RuntimeError(f"{self.name}: server not started")
        return self._listener.getsockname()[1]

    def start(self) -> StreamServer:
        """Bind, listen, accept in a thread; returns self."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.host, self.requested_port))
            listener.listen(self.max_connections)
        except OSError:
            listener.close()
            raise
        self._listener = listener
        thread = threading.Thread(target=self._accept, name=f"{self.name}-accept", daemon=True)
        thread.start()
        self._threads.append(thread)
        logger.info("%s: listening on %s:%d", self.name, self.host, self.port)
        return self

    def _accept(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._stop.is_set():
            readable, _, _ = select.select([listener], [], [], self.poll_s)
            if not readable:
                continue
            try:
                conn, peer = listener.accept()
            except OSError:
                continue
            live = [t for t in self._threads if t.is_alive()]
            if self.link.down or len(live) > self.max_connections:
                conn.close()
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            thread = threading.Thread(target=self._serve, args=(conn, peer), name=f"{self.name}-conn", daemon=True)
            thread.start()
            self._threads = live + [thread]

    def _serve(self, conn: socket.socket, peer: object) -> None:
        session = self._new_session()
        try:
            while not self._stop.is_set() and not self.link.down:
                readable, _, _ = select.select([conn], [], [], self.poll_s)
                if not readable:
                    continue
                data = conn.recv(65536)
                if not data or self.link.down:  # a cable pulled meanwhile: nothing more gets through
                    break
                with self._lock:
                    reply = session.feed(data)
                if reply:
                    conn.sendall(reply)
        except OSError as exc:
            logger.info("%s: connection from %s ended: %s", self.name, peer, exc)
        except ValueError as exc:  # a session refusing its input stream for good
            logger.warning("%s: connection from %s dropped: %s", self.name, peer, exc)
        finally:
            conn.close()

    def stop(self) -> None:
        """Stop accepting and close every connection (within a few polls)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(2.0)
        if self._listener is not None:
            self._listener.close()
