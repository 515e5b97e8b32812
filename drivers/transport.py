"""Message transports under the drivers: pyvisa resources and pyserial ports.

A driver talks to a :class:`MessageTransport` (write a message, query a reply); the transport
owns terminations, timeouts and turning bus errors into :mod:`drivers.errors` exceptions with
the resource name in them. Raw TCP sockets get ``TCP_NODELAY`` (Nagle adds ~40 ms per query).

Reconnect: when the link breaks (socket closed by the peer, cable pulled, USB re-enumerated) the
failing call raises :class:`InstrumentConnectionLost` and the transport marks itself broken; the
next call first reopens the resource (one attempt, bounded by the open timeout). The failed message
is never re-sent by the transport itself: only the driver knows whether it is idempotent. Because
:class:`InstrumentConnectionLost` is an :class:`~drivers.errors.InstrumentTimeout`, the drivers'
retry of idempotent queries (``ScpiInstrument.query``) goes through the fresh link, while a lost
setting or actuation surfaces as an error (bench exit code 4).

Late replies: a query that times out leaves its reply owed; before the next query the transport
resynchronises (:mod:`drivers.resync`: the driver's probe, ``*IDN?``, and every late reply read and
discarded), so a reply is never matched to the wrong query.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import warnings
from typing import Any, Protocol

from drivers.errors import InstrumentError, InstrumentTimeout
from drivers.resync import ReplySync

logger = logging.getLogger(__name__)


class InstrumentConnectionLost(InstrumentTimeout):
    """The link broke mid-exchange: no reply will come on it. The transport reopens it on next use."""


class MessageTransport(Protocol):
    """A message-based link to one instrument."""

    resource: str

    def write(self, message: str) -> None: ...

    def query(self, message: str) -> str: ...

    def close(self) -> None: ...


class _ReconnectingLink:
    """Lost-link bookkeeping shared by the transports: a call that loses the link marks it
    broken; the next call reopens it once (when ``reconnect`` is on) before it is used."""

    resource: str
    reconnect: bool
    _broken: bool

    def reopen(self) -> None:  # pragma: no cover - each transport defines it
        raise NotImplementedError

    @property
    def broken(self) -> bool:
        """True after the link was lost and until it has been reopened."""
        return self._broken

    def _ensure_link(self) -> None:
        """Reopen a link lost by an earlier call (raises if the instrument is gone)."""
        if not self._broken:
            return
        if not self.reconnect:
            raise InstrumentConnectionLost(f"{self.resource}: connection lost (reconnect disabled)")
        logger.info("%s: reconnecting after a lost connection", self.resource)
        self.reopen()
        logger.info("%s: reconnected", self.resource)

    def _lost(self, what: str, detail: object) -> InstrumentConnectionLost:
        self._broken = True
        logger.info("%s: %s: connection lost (%s)", self.resource, what, detail)
        return InstrumentConnectionLost(f"{self.resource}: {what} failed, connection lost: {detail}")


class VisaTransport(_ReconnectingLink, ReplySync):
    """A pyvisa message-based resource. ``timeout_s`` in seconds; terminations as bytes text.

    Direct path: messages go straight to the resource's VISA library with pyvisa's documented
    low-level API (``visalib.write(session, data)``, ``visalib.read(session, count)``), doing
    what ``MessageBasedResource.query/write`` do (see :meth:`query`) without their ~10 µs of
    Python per query (property look-ups, nested calls, per-chunk debug logging). What it needs is
    read once per open (:meth:`_direct_io`). The resource's own methods do the work instead for a
    lost link (reopened first), a closed resource, a resource class that overrides those methods,
    a query delay and empty terminations.
    """

    def __init__(
        self,
        resource_manager: Any,
        resource: str,
        *,
        timeout_s: float = 2.0,
        read_termination: str = "\n",
        write_termination: str = "\n",
        reconnect: bool = True,
    ) -> None:
        import pyvisa

        self._errors = pyvisa.errors
        status = pyvisa.constants.StatusCode
        #: VISA status codes meaning the session's link is gone (reopen before the next message).
        self._link_lost_codes = {status.error_connection_lost, status.error_io, status.error_invalid_object}
        #: Read status meaning "chunk full, more to come" (pyvisa's ``_read_raw`` reads on).
        self._max_count_read = status.success_max_count_read
        #: Warnings pyvisa's ``_read_raw`` ignores while it reads.
        self._read_warnings = (status.success_device_not_present, status.success_max_count_read)
        self.resource = resource
        #: Reopen a broken link on the next call (else every later call fails at once).
        self.reconnect = reconnect
        self._broken = False
        self._rm = resource_manager
        self._settings = (timeout_s, read_termination, write_termination)
        #: What the direct path needs (:meth:`_direct_io`); None while the resource does the work.
        self._io: tuple[Any, ...] | None = None
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
        self._io = self._direct_io(inst)
        return inst

    def _direct_io(self, inst: Any) -> tuple[Any, ...] | None:
        """``(library, session, write termination, read termination, encoding, chunk size in
        bytes, quiet, encoded queries, strip)`` of a freshly opened ``inst`` for the direct path, or None
        when its own methods must do the work. The transport sets these at open and never changes
        them. ``quiet``: the library's ``ignore_warning()`` is a no-op context (the in-process
        simulator's), so a read needs no context to ignore warnings; any other library gets one.
        ``encoded queries``: query text -> the bytes sent (text + write termination, encoded),
        filled as queries are first sent (a driver sends a few dozen distinct queries).
        ``strip``: the slice that cuts the read termination off a reply.
        """
        if not _plain_message_resource(inst):
            return None
        write_term, read_term = inst.write_termination, inst.read_termination
        if not write_term or not read_term or inst.query_delay > 0.0:
            return None
        lib, session = inst.visalib, inst.session
        quiet = isinstance(lib.ignore_warning(session, *self._read_warnings), contextlib.nullcontext)
        return (lib, session, write_term, read_term, inst.encoding, inst.chunk_size, quiet, {},
                slice(None, -len(read_term)))

    def reopen(self) -> None:
        """Close and open the resource again (after a lost connection); InstrumentError if it fails."""
        self._io = None
        try:
            self._inst.close()
        except Exception:  # noqa: BLE001 - the link is already broken
            logger.debug("%s: close before reopen failed", self.resource, exc_info=True)
        self._inst = self._open()
        self._broken = False
        self._fresh_link()  # a new connection carries no late reply

    def _lost(self, what: str, detail: object) -> InstrumentConnectionLost:
        self._io = None  # the next message takes the general path, which reopens the link first
        return super()._lost(what, detail)

    def _send(self, message: str) -> None:
        """Write ``message`` (a resync probe) through the resource."""
        try:
            self._inst.write(message)
        except (self._errors.VisaIOError, OSError) as exc:
            raise self._visa_error(f"write {message!r}", exc) from exc

    def _read_late_reply(self) -> str:
        """One reply (a late one, or a probe's), waiting at most the timeout."""
        try:
            return str(self._inst.read())
        except (self._errors.VisaIOError, OSError) as exc:
            raise self._query_error("(resynchronising)", exc, owed=False) from exc
        except UnicodeDecodeError as exc:
            raise InstrumentError(f"{self.resource}: a late reply is not text") from exc

    def _visa_error(self, what: str, exc: Exception) -> InstrumentError:
        """Map a pyvisa/OS error of ``what`` (e.g. ``query 'X?'``) to a driver exception."""
        if isinstance(exc, self._errors.VisaIOError):
            if exc.error_code == self._errors.StatusCode.error_timeout:
                return InstrumentTimeout(f"{self.resource}: {what}: no reply (timeout)")
            if exc.error_code in self._link_lost_codes:
                return self._lost(what, exc.description)
            return InstrumentError(f"{self.resource}: {what} failed: {exc.description}")
        return self._lost(what, exc)  # OSError from a socket session: reset by peer, broken pipe

    def _query_error(self, message: str, exc: Exception, *, owed: bool = True) -> InstrumentError:
        """The driver exception for a failed query; a timeout on a socket the instrument has
        closed is a lost connection. ``owed``: a timeout leaves the query's reply owed."""
        error = self._visa_error(f"query {message!r}", exc)
        if type(error) is InstrumentTimeout and _peer_closed(self._rm, self._inst):
            error = self._lost(f"query {message!r}", "closed by the instrument")
        if type(error) is InstrumentTimeout and owed:
            self._timed_out()  # its reply may still come: resynchronise before the next query
            self._io = None  # the general path resynchronises
        return error

    def write(self, message: str) -> None:
        """Send one message."""
        if self._broken:
            self._ensure_link()
        io = self._io
        try:
            if io is None:
                self._inst.write(message)
            else:
                # MessageBasedResource.write: warn if already terminated, append, encode, write_raw
                lib, session, write_term, _, encoding, _, _, _, _ = io
                if message.endswith(write_term):
                    warnings.warn("write message already ends with termination characters", stacklevel=2)
                lib.write(session, (message + write_term).encode(encoding))
        except (self._errors.VisaIOError, OSError) as exc:
            raise self._visa_error(f"write {message!r}", exc) from exc

    def query(self, message: str) -> str:
        """Send one message and return the reply without its termination.

        The direct path is ``MessageBasedResource.query(message)`` of pyvisa 1.16
        (``resources/messagebased.py``) on the VISA library, step by step:
        ``write``: warn when the message already ends with the write termination, append it,
        encode, ``write_raw`` = ``visalib.write(session, data)``; ``query``: no delay (a resource
        with one takes the general path); ``_read_raw``: ``visalib.read(session, chunk_size)``,
        again while the status is ``success_max_count_read``, ignoring the warnings pyvisa ignores
        there (:meth:`_read_reply`); errors such as ``error_timeout`` raise ``VisaIOError`` in the
        library's ``handle_return_value``; ``read``: decode, then strip the read termination, or
        warn and return the text as it is when the reply does not end with it.
        """
        io = self._io
        if io is None:
            return self._query_general(message)
        # The direct path (twice per sample on the simulated bench).
        lib, session, write_term, read_term, encoding, chunk_size, quiet, encoded, strip = io
        try:
            data = encoded[message]  # (a try costs nothing in CPython 3.11 until it catches)
        except KeyError:
            data = _encode(message, write_term, encoding, encoded)
        try:
            lib.write(session, data)
            if quiet:
                data, status = lib.read(session, chunk_size)
                if status == self._max_count_read:
                    data = self._read_rest(lib, session, chunk_size, data)
            else:
                data = self._read_reply(lib, session, chunk_size)
            text = data.decode(encoding)
        except (self._errors.VisaIOError, OSError) as exc:
            raise self._query_error(message, exc) from exc
        except UnicodeDecodeError as exc:
            raise InstrumentError(f"{self.resource}: reply to {message!r} is not text") from exc
        if text.endswith(read_term):
            return text[strip]
        warnings.warn("read string doesn't end with termination characters", stacklevel=2)
        return text

    def _query_general(self, message: str) -> str:
        """:meth:`query` through the resource's own ``query`` (after reopening a lost link)."""
        if self._broken:
            self._ensure_link()
            if self._io is not None and not self._desync:
                return self.query(message)
        if self._desync:
            self.resync()  # InstrumentTimeout while the instrument stays silent (message not sent)
            if not self._broken:
                self._io = self._direct_io(self._inst)
        try:
            return self._inst.query(message)
        except (self._errors.VisaIOError, OSError) as exc:
            raise self._query_error(message, exc) from exc
        except UnicodeDecodeError as exc:
            raise InstrumentError(f"{self.resource}: reply to {message!r} is not text") from exc

    def _read_reply(self, lib: Any, session: Any, chunk_size: int) -> bytes | bytearray:
        """One reply as ``MessageBasedResource._read_raw`` reads it, inside
        ``visalib.ignore_warning(session, success_device_not_present, success_max_count_read)``."""
        with lib.ignore_warning(session, *self._read_warnings):
            data, status = lib.read(session, chunk_size)
            if status == self._max_count_read:
                data = self._read_rest(lib, session, chunk_size, data)
        return data

    def _read_rest(self, lib: Any, session: Any, chunk_size: int, first: bytes) -> bytearray:
        """``first`` and the chunks after it while the status is ``success_max_count_read``
        (a reply longer than ``chunk_size`` bytes), as ``_read_raw`` loops."""
        buffer = bytearray(first)
        status = self._max_count_read
        while status == self._max_count_read:
            data, status = lib.read(session, chunk_size)
            buffer.extend(data)
        return buffer

    def clear(self) -> None:
        """Device clear: drop replies of an aborted exchange (skipped on a link found closed)."""
        if self._broken:
            return
        if _peer_closed(self._rm, self._inst):
            # pyvisa-py's socket clear() would spin for ever on a socket the peer has closed.
            self._lost("device clear", "closed by the instrument")
            return
        if self._owed and self.resource.upper().endswith("::SOCKET"):
            # A raw socket has no device clear (VISA only drops what the host holds): the replies
            # still on their way are counted and discarded by the resync instead.
            return
        try:
            self._inst.clear()
        except (self._errors.VisaIOError, OSError):
            logger.debug("%s: device clear failed", self.resource, exc_info=True)
            return
        self._fresh_link()  # the instrument's output queue is empty

    def close(self) -> None:
        """Release the resource (later messages go through it: pyvisa's closed-session error)."""
        self._io = None
        try:
            self._inst.close()
        except Exception:  # noqa: BLE001
            logger.debug("%s: close failed", self.resource, exc_info=True)


#: How many distinct query texts a VisaTransport keeps encoded (the rest are encoded each time).
_MAX_ENCODED_QUERIES = 256


def _encode(message: str, write_term: str, encoding: str, encoded: dict[str, bytes]) -> bytes:
    """The bytes :meth:`VisaTransport.query` sends for ``message`` (text + write termination,
    encoded; UnicodeEncodeError as in pyvisa), kept in ``encoded`` unless the message already
    ends with the termination (warned every time, as pyvisa's ``write`` does) or the table is full."""
    terminated = message.endswith(write_term)
    if terminated:
        warnings.warn("write message already ends with termination characters", stacklevel=3)
    data = (message + write_term).encode(encoding)
    if not terminated and len(encoded) < _MAX_ENCODED_QUERIES:
        encoded[message] = data
    return data


#: The ``MessageBasedResource`` methods whose behaviour :meth:`VisaTransport.query` and
#: :meth:`VisaTransport.write` reproduce on the VISA library.
_MIRRORED_METHODS = ("query", "write", "write_raw", "read", "_read_raw", "ignore_warning")


def _plain_message_resource(inst: Any) -> bool:
    """True when ``inst`` is a pyvisa ``MessageBasedResource`` whose class keeps pyvisa's own
    message methods (so talking to its VISA library directly does the same)."""
    from pyvisa.resources import MessageBasedResource

    if not isinstance(inst, MessageBasedResource):
        return False
    cls = type(inst)
    return all(getattr(cls, name) is getattr(MessageBasedResource, name) for name in _MIRRORED_METHODS)


def _session_socket(resource_manager: Any, inst: Any) -> socket.socket | None:
    """The TCP socket under a pyvisa-py raw socket session (None for other sessions)."""
    sessions = getattr(resource_manager.visalib, "sessions", None)
    if not isinstance(sessions, dict):
        return None
    try:
        session = sessions.get(inst.session)
    except Exception:  # noqa: BLE001 - a closed resource has no session
        return None
    sock = getattr(session, "interface", None)
    return sock if isinstance(sock, socket.socket) else None


def _set_nodelay(resource_manager: Any, inst: Any) -> None:
    """Turn off Nagle on a pyvisa-py raw socket session (no-op for other sessions)."""
    sock = _session_socket(resource_manager, inst)
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _peer_closed(resource_manager: Any, inst: Any) -> bool:
    """True when the instrument closed the raw socket under ``inst`` (readable, yet no data: EOF).

    pyvisa-py reports a closed socket as a read timeout; this tells the two apart.
    """
    sock = _session_socket(resource_manager, inst)
    if sock is None or sock.fileno() < 0:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


class SerialTransport(_ReconnectingLink, ReplySync):
    """A pyserial port (device path or URL such as ``socket://host:port``). ``timeout_s`` seconds."""

    def __init__(
        self,
        url: str,
        *,
        baudrate: int = 9600,
        timeout_s: float = 2.0,
        read_termination: str = "\r\n",
        write_termination: str = "\r\n",
        reconnect: bool = True,
    ) -> None:
        import serial

        self._serial = serial
        self.resource = url
        #: Reopen a broken port on the next call (else every later call fails at once).
        self.reconnect = reconnect
        self._broken = False
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
        """Close and open the port again; InstrumentError if it fails."""
        self.close()
        self._port = self._open()
        self._broken = False
        self._fresh_link()  # a new port carries no late reply

    def _send(self, message: str) -> None:
        """Write ``message`` (a resync probe) with the write termination."""
        try:
            self._port.write(message.encode("ascii") + self._write_term)
        except (self._serial.SerialException, OSError) as exc:
            raise self._lost(f"write {message!r}", exc) from exc

    def _read_late_reply(self) -> str:
        """One reply line (a late one, or a probe's), waiting at most the timeout."""
        try:
            data = self._port.read_until(self._read_term)
        except (self._serial.SerialException, OSError) as exc:
            raise self._lost("read while resynchronising", exc) from exc
        if not data.endswith(self._read_term):
            raise InstrumentTimeout(f"{self.resource}: no reply while resynchronising")
        return data[: -len(self._read_term)].decode("ascii", "replace")

    def write(self, message: str) -> None:
        """Send one message with the write termination."""
        self._ensure_link()
        try:
            self._port.write(message.encode("ascii") + self._write_term)
        except self._serial.SerialTimeoutException as exc:
            raise InstrumentTimeout(f"{self.resource}: write {message!r} timed out") from exc
        except (self._serial.SerialException, OSError) as exc:
            raise self._lost(f"write {message!r}", exc) from exc

    def query(self, message: str) -> str:
        """Send one message; return the reply line without its termination."""
        if self._desync:
            self._ensure_link()
            self.resync()  # InstrumentTimeout while the instrument stays silent (message not sent)
        self.write(message)
        try:
            data = self._port.read_until(self._read_term)
        except (self._serial.SerialException, OSError) as exc:
            raise self._lost(f"read after {message!r}", exc) from exc
        if not data.endswith(self._read_term):
            self._timed_out()  # its reply may still come: resynchronise before the next query
            raise InstrumentTimeout(f"{self.resource}: no reply to {message!r} (timeout)")
        try:
            return data[: -len(self._read_term)].decode("ascii")
        except UnicodeDecodeError as exc:
            raise InstrumentError(f"{self.resource}: reply to {message!r} is not ASCII") from exc

    def clear(self) -> None:
        """Drop unread input (not while replies are owed: the resync counts and discards them)."""
        if self._owed:
            return
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
