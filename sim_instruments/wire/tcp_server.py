"""Loopback TCP servers for simulated instruments: one listening socket per instrument.

Each accepted connection gets its own :class:`~sim_instruments.wire.endpoint.LineEndpoint` (its own
input and reply buffers) in front of the instrument's one front end, so the bytes on the wire are
exactly those of the in-process links: a SCPI raw socket (``TCPIP::127.0.0.1::PORT::SOCKET``, LF
terminated, as on the Keithley 2460 / Keysight DAQ970A LAN port 5025) or an ASCII line protocol
(the Espec P-300 over a terminal server, CR LF, reached as ``socket://127.0.0.1:PORT``).

Replies are sent as soon as the message that asks for them is complete. Sockets use
``TCP_NODELAY`` (Nagle plus delayed ACK would add ~40 ms to every query). Communication faults
(``faults``, shared by every connection) apply as on the in-process links; a ``disconnect`` fault
closes the connection. Every loop is bounded by ``poll_s`` so :meth:`LineServer.stop` returns
within a few polls. Binds 127.0.0.1 unless the caller passes another ``host`` explicitly.

Units: seconds (wall clock for socket timeouts and polls), bytes.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
from collections.abc import Callable

from sim_instruments.wire.endpoint import CommsFault, EndpointDisconnected, LineEndpoint, MessageFrontEnd

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
#: Longest message (bytes without a terminator) a connection may send before it is dropped.
MAX_MESSAGE_BYTES = 1 << 16
#: recv() chunk size, bytes.
RECV_BYTES = 1 << 16


class _SerialisedFrontEnd:
    """A front end called under a lock: connection threads share one instrument (and world)."""

    def __init__(self, frontend: MessageFrontEnd, lock: threading.Lock | threading.RLock) -> None:
        self._frontend = frontend
        self._lock = lock

    def handle_line(self, line: str) -> str | None:
        """Execute one message with the instrument to ourselves."""
        with self._lock:
            return self._frontend.handle_line(line)


class LineServer:
    """A simulated instrument on a TCP port: bytes in -> messages -> front end -> replies out.

    ``now_s`` gives simulated seconds (for faults). ``lock`` serialises the front end across
    connections; pass the world's lock so instruments sharing one world never interleave.
    ``port=0`` picks a free ephemeral port (see :attr:`port` after :meth:`start`).
    ``max_connections`` bounds simultaneous clients; extra ones are closed at once.
    """

    def __init__(
        self,
        frontend: MessageFrontEnd,
        now_s: Callable[[], float],
        *,
        name: str,
        host: str = LOOPBACK,
        port: int = 0,
        read_termination: bytes = b"\n",
        write_termination: bytes = b"\n",
        lock: threading.Lock | threading.RLock | None = None,
        max_connections: int = 8,
        poll_s: float = 0.05,
        send_timeout_s: float = 5.0,
    ) -> None:
        self.name = name
        self.host = host
        self.requested_port = port
        self.now_s = now_s
        self.read_termination = read_termination
        self.write_termination = write_termination
        self.max_connections = max_connections
        self.poll_s = poll_s
        self.send_timeout_s = send_timeout_s
        #: Active communication faults; shared by every connection's endpoint.
        self.faults: list[CommsFault] = []
        self._frontend = _SerialisedFrontEnd(frontend, lock or threading.Lock())
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._accept_thread: threading.Thread | None = None
        self._connections: dict[threading.Thread, socket.socket] = {}
        self._conn_lock = threading.Lock()

    # -- life cycle --------------------------------------------------------------------------
    def start(self) -> LineServer:
        """Bind, listen and start accepting; returns self. OSError if the address is unusable."""
        if self._listener is not None:
            raise RuntimeError(f"{self.name}: server already started")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.host, self.requested_port))
            listener.listen(self.max_connections)
        except OSError:
            listener.close()
            raise
        self._listener = listener
        self._accept_thread = threading.Thread(target=self._accept_loop, name=f"sim-{self.name}-accept",
                                               daemon=True)
        self._accept_thread.start()
        logger.info("%s listening on %s:%d", self.name, self.host, self.port)
        return self

    @property
    def port(self) -> int:
        """The port actually bound (after :meth:`start`)."""
        if self._listener is None:
            raise RuntimeError(f"{self.name}: server not started")
        return int(self._listener.getsockname()[1])

    @property
    def connection_count(self) -> int:
        """Clients connected now."""
        with self._conn_lock:
            return len(self._connections)

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop accepting, close every connection and join the threads (at most ``timeout_s`` each)."""
        self._stop.set()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout_s)
        if self._listener is not None:
            self._listener.close()
        with self._conn_lock:
            connections = list(self._connections.items())
        for _thread, conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)  # wakes the thread's select at once; the client sees EOF
            except OSError:
                pass  # already closed by its thread
        for thread, _conn in connections:
            thread.join(timeout_s)
            if thread.is_alive():
                logger.warning("%s: connection thread %s did not stop", self.name, thread.name)

    def __enter__(self) -> LineServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- threads -----------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([listener], [], [], self.poll_s)
                if not ready:
                    continue
                conn, peer = listener.accept()
            except OSError:
                if not self._stop.is_set():
                    logger.exception("%s: accept failed", self.name)
                return
            if self.connection_count >= self.max_connections:
                logger.warning("%s: refusing %s:%d, %d clients already", self.name, peer[0], peer[1],
                               self.max_connections)
                conn.close()
                continue
            thread = threading.Thread(target=self._serve, args=(conn, peer), daemon=True,
                                      name=f"sim-{self.name}-{peer[0]}:{peer[1]}")
            with self._conn_lock:
                self._connections[thread] = conn
            thread.start()

    def _serve(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        """One client: feed received bytes to its endpoint, send replies back as they appear."""
        where = f"{self.name} <- {peer[0]}:{peer[1]}"
        logger.info("%s: connected", where)
        endpoint = LineEndpoint(self._frontend, self.now_s, read_termination=self.read_termination,
                                write_termination=self.write_termination, name=where)
        endpoint.faults = self.faults
        term = self.read_termination
        unterminated = 0
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.settimeout(self.send_timeout_s)
            while not self._stop.is_set():
                ready, _, _ = select.select([conn], [], [], self.poll_s)
                if ready:
                    data = conn.recv(RECV_BYTES)
                    if not data:
                        break  # the client closed
                    tail = data.rsplit(term, 1)
                    unterminated = len(tail[-1]) if len(tail) > 1 else unterminated + len(data)
                    if unterminated > MAX_MESSAGE_BYTES:
                        logger.warning("%s: message over %d bytes without terminator; closing",
                                       where, MAX_MESSAGE_BYTES)
                        break
                    endpoint.write(data)
                # Also reached on a poll timeout: releases replies held back by a delay fault.
                reply = endpoint.read(1 << 20)
                if reply:
                    conn.sendall(reply)
        except EndpointDisconnected:
            logger.info("%s: disconnect fault, closing the connection", where)
        except OSError as exc:  # reset by peer, send timeout, broken pipe
            logger.info("%s: connection ended: %s", where, exc)
        finally:
            conn.close()
            with self._conn_lock:
                self._connections.pop(threading.current_thread(), None)
            logger.info("%s: closed", where)
