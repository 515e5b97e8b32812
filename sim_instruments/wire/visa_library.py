"""An in-process VISA library for pyvisa: ``pyvisa.ResourceManager(SimVisaLibrary.create(...))``.

Drivers open resources through the ordinary pyvisa API (termination characters, timeouts,
``query``, ``read_raw``); the bytes go to simulated instruments' endpoints instead of a bus. A read
with no reply waiting answers VI_ERROR_TMO at once (in virtual time nothing more will arrive), so
pyvisa raises the same ``VisaIOError`` a real timeout raises, without sleeping. A library made
with ``wait`` (the bench clock's sleep) first waits the session's timeout on that clock, as a real
read does, so a timeout takes bench time (virtual time on a virtual clock) and a reply that
arrives meanwhile (a delayed reply) is read.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Callable, Collection
from typing import Any

from pyvisa import constants, highlevel, rname
from pyvisa.constants import StatusCode
from pyvisa.typing import VISAEventContext, VISARMSession, VISASession

from sim_instruments.wire.endpoint import EndpointDisconnected, LineEndpoint

logger = logging.getLogger(__name__)

_library_ids = itertools.count(1)
_NO_WARNINGS = contextlib.nullcontext()
_SUCCESS = StatusCode.success
_TERMCHAR_READ = StatusCode.success_termination_character_read
_MAX_COUNT_READ = StatusCode.success_max_count_read


class SimVisaLibrary(highlevel.VisaLibraryBase):
    """VISA library whose resources are simulated instruments (one library per simulated bench)."""

    endpoints: dict[str, LineEndpoint]
    sessions: dict[int, _Session]

    @classmethod
    def create(cls, endpoints: dict[str, LineEndpoint], *,
               wait: Callable[[float], None] | None = None, waiting: Collection[str] | None = None) -> SimVisaLibrary:
        """A fresh library serving ``endpoints`` (resource name -> endpoint); ``wait(s)``: sleep
        on the simulated world's clock (a read with no reply waits its timeout there, or until a
        held-back reply is due); ``waiting``: the resources whose reads wait (None: all)."""
        library = cls(f"cellbench-sim-{next(_library_ids)}")
        library.endpoints = {_normalise(name): ep for name, ep in endpoints.items()}
        library.wait = wait
        if waiting is not None:
            library.waiting = {id(library.endpoints[_normalise(name)]) for name in waiting}
        return library

    def _init(self) -> None:
        self.wait: Callable[[float], None] | None = None
        #: ids of the endpoints whose reads wait (None: every endpoint).
        self.waiting: set[int] | None = None
        self.endpoints = {}
        self.sessions = {}
        self._session_ids = itertools.count(1)

    @staticmethod
    def get_library_paths() -> tuple[highlevel.LibraryPath, ...]:
        """No DLL behind this library."""
        return ()

    # -- sessions ----------------------------------------------------------------------------
    def open_default_resource_manager(self) -> tuple[VISARMSession, StatusCode]:
        """The resource-manager session (id 0)."""
        return VISARMSession(0), StatusCode.success

    def list_resources(self, session: VISARMSession, query: str = "?*::INSTR") -> tuple[str, ...]:
        """Every simulated resource matching ``query``."""
        return tuple(rname.filter(list(self.endpoints), query))

    def open(
        self,
        session: VISARMSession,
        resource_name: str,
        access_mode: constants.AccessModes = constants.AccessModes.no_lock,
        open_timeout: int = constants.VI_TMO_IMMEDIATE,
    ) -> tuple[VISASession, StatusCode]:
        """Open a simulated resource; unknown names give VI_ERROR_RSRC_NFOUND."""
        endpoint = self.endpoints.get(_normalise(resource_name))
        if endpoint is None:
            return VISASession(0), StatusCode.error_resource_not_found
        sid = next(self._session_ids)
        self.sessions[sid] = _Session(endpoint, resource_name)
        return VISASession(sid), StatusCode.success

    def close(self, session: Any) -> StatusCode:
        """Close a resource session (the resource-manager session closes everything)."""
        if session == 0:
            self.sessions.clear()
        else:
            self.sessions.pop(int(session), None)
        return StatusCode.success

    # -- I/O ---------------------------------------------------------------------------------
    # write and read run for every query: status codes are module constants (an Enum attribute
    # lookup costs more than the rest of a call), sessions are looked up by subscript (cheaper
    # than dict.get) and each session keeps its terminator byte.
    def write(self, session: VISASession, data: bytes) -> tuple[int, StatusCode]:
        """Send bytes to the instrument."""
        try:
            sess = self.sessions[session]
        except KeyError:
            return 0, self.handle_return_value(session, StatusCode.error_invalid_object)
        if data.__class__ is not bytes:  # bytearray / memoryview from a caller: the endpoint wants bytes
            data = bytes(data)
        try:
            return sess.endpoint.write(data), _SUCCESS
        except EndpointDisconnected:
            return 0, self.handle_return_value(session, StatusCode.error_connection_lost)

    def read(self, session: VISASession, count: int) -> tuple[bytes, StatusCode]:
        """Read up to ``count`` bytes; stop at the termination character when it is enabled.

        Errors (no reply: VI_ERROR_TMO; link down; unknown session) raise ``VisaIOError`` through
        ``handle_return_value``, as pyvisa-py's library does.
        """
        try:
            sess = self.sessions[session]
        except KeyError:
            return b"", self.handle_return_value(session, StatusCode.error_invalid_object)
        endpoint = sess.endpoint
        try:
            data = endpoint.read_until(sess.terminator, count)
        except EndpointDisconnected:
            return b"", self.handle_return_value(session, StatusCode.error_connection_lost)
        if not data:
            return self._read_after_timeout(session, sess, count)
        if data[-1] == sess.termchar:
            return data, _TERMCHAR_READ
        if endpoint.pending:
            return data, _MAX_COUNT_READ
        return data, _SUCCESS

    def _read_after_timeout(self, session: VISASession, sess: _Session, count: int) -> tuple[bytes, StatusCode]:
        """Nothing to read yet: wait the session's timeout on the bench clock (when the library
        has one) and look again; still nothing is VI_ERROR_TMO."""
        data = b""
        if self.wait is not None and (self.waiting is None or id(sess.endpoint) in self.waiting):
            timeout_s = sess.attrs.get(constants.VI_ATTR_TMO_VALUE, 2000) / 1000.0
            due = sess.endpoint.next_release_s()  # a held-back reply arrives when due, as on a real link
            if due is not None:
                timeout_s = min(timeout_s, max(0.0, due - sess.endpoint.now_s()))
            self.wait(timeout_s)
            try:
                data = sess.endpoint.read_until(sess.terminator, count)
            except EndpointDisconnected:
                return b"", self.handle_return_value(session, StatusCode.error_connection_lost)
        if not data:
            return b"", self.handle_return_value(session, StatusCode.error_timeout)
        if data[-1] == sess.termchar:
            return data, _TERMCHAR_READ
        return data, _MAX_COUNT_READ if sess.endpoint.pending else _SUCCESS

    def clear(self, session: VISASession) -> StatusCode:
        """Device clear (IEEE 488.2 DCL): drop pending I/O."""
        sess = self.sessions.get(int(session))
        if sess is not None:
            sess.endpoint.clear()
        return StatusCode.success

    def flush(self, session: VISASession, mask: constants.BufferOperation) -> StatusCode:
        """Nothing is buffered on the host side."""
        return StatusCode.success

    def get_attribute(self, session: VISASession | VISAEventContext | VISARMSession, attribute: Any) -> tuple[Any, StatusCode]:
        """Attributes set by pyvisa are remembered; a few have defaults."""
        sess = self.sessions.get(int(session))
        if sess is None:
            return None, StatusCode.error_invalid_object
        if attribute == constants.VI_ATTR_RSRC_NAME:
            return sess.resource_name, StatusCode.success
        if attribute in sess.attrs:
            return sess.attrs[attribute], StatusCode.success
        return None, StatusCode.error_nonsupported_attribute

    def set_attribute(self, session: VISASession, attribute: Any, attribute_state: Any) -> StatusCode:
        """Remember any attribute (timeout, termination character...)."""
        sess = self.sessions.get(int(session))
        if sess is None:
            return StatusCode.error_invalid_object
        sess.attrs[attribute] = attribute_state
        if attribute in (constants.VI_ATTR_TERMCHAR, constants.VI_ATTR_TERMCHAR_EN):
            sess.update_terminator()
        return StatusCode.success

    def ignore_warning(  # type: ignore[override]  # base: a @contextmanager generator; a nullcontext works the same
        self, session: Any, *warnings_constants: StatusCode
    ) -> contextlib.AbstractContextManager[None]:
        """Nothing to suppress: this library returns success codes without issuing warnings."""
        return _NO_WARNINGS

    def lock(self, session: VISASession, lock_type: Any, timeout: int, requested_key: Any = None) -> tuple[str, StatusCode]:
        """Locks always succeed: one process owns the simulated bench."""
        return "", StatusCode.success

    def unlock(self, session: VISASession) -> StatusCode:
        """See :meth:`lock`."""
        return StatusCode.success

    def disable_event(self, session: VISASession, event_type: Any, mechanism: Any) -> StatusCode:
        """No events on simulated resources."""
        return StatusCode.success

    def discard_events(self, session: VISASession, event_type: Any, mechanism: Any) -> StatusCode:
        """No events on simulated resources."""
        return StatusCode.success

    def read_stb(self, session: VISASession) -> tuple[int, StatusCode]:
        """Status byte: MAV (bit 4) when a reply is waiting."""
        sess = self.sessions.get(int(session))
        if sess is None:
            return 0, StatusCode.error_invalid_object
        return (0x10 if sess.endpoint.pending else 0), StatusCode.success


class _Session:
    """One open resource: its endpoint, resource name and VISA attributes."""

    __slots__ = ("endpoint", "resource_name", "attrs", "terminator", "termchar")

    def __init__(self, endpoint: LineEndpoint, resource_name: str) -> None:
        self.endpoint = endpoint
        self.resource_name = resource_name
        self.attrs: dict[Any, Any] = {
            constants.VI_ATTR_TMO_VALUE: 2000,
            constants.VI_ATTR_TERMCHAR: 0x0A,
            constants.VI_ATTR_TERMCHAR_EN: True,
            constants.VI_ATTR_SEND_END_EN: True,
            constants.VI_ATTR_SUPPRESS_END_EN: False,
            constants.VI_ATTR_IO_PROT: constants.IOProtocol.normal,
        }
        #: Read stops after this byte string (the termination character when enabled, else b"").
        self.terminator = b"\n"
        #: The termination character as an int (-1 when disabled: no byte equals it).
        self.termchar = 0x0A
        self.update_terminator()

    def update_terminator(self) -> None:
        """Recompute :attr:`terminator` and :attr:`termchar` from VI_ATTR_TERMCHAR and VI_ATTR_TERMCHAR_EN."""
        enabled = self.attrs.get(constants.VI_ATTR_TERMCHAR_EN, True)
        self.terminator = bytes([self.attrs.get(constants.VI_ATTR_TERMCHAR, 0x0A)]) if enabled else b""
        self.termchar = self.terminator[0] if self.terminator else -1


def _normalise(resource_name: str) -> str:
    """Canonical resource name, so ``usb0::...`` and ``USB0::...`` are the same resource."""
    try:
        return str(rname.parse_resource_name(resource_name))
    except rname.InvalidResourceName:
        return resource_name.upper()
