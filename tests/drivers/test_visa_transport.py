"""VisaTransport's direct path (straight to the VISA library) against pyvisa's own
``MessageBasedResource.query/write``: the same bytes on the wire, the same replies, the same
warnings, the same errors, on a scripted VISA library (no simulator, no sockets)."""

from __future__ import annotations

import contextlib
import itertools
import warnings
from typing import Any

import pytest
import pyvisa
from pyvisa import constants, highlevel
from pyvisa.constants import StatusCode
from pyvisa.resources import USBInstrument

from drivers.errors import InstrumentError, InstrumentTimeout
from drivers.transport import InstrumentConnectionLost, VisaTransport

RESOURCE = "USB0::0x05E6::0x2460::04412345::INSTR"
_library_ids = itertools.count(1)


class ScriptedLibrary(highlevel.VisaLibraryBase):
    """A VISA library whose reads return scripted ``(bytes, status)`` chunks; every status goes
    through ``handle_return_value`` as in pyvisa-py (errors raise, warnings are issued unless
    ignored). An empty script answers VI_ERROR_TMO. Writes are recorded."""

    @classmethod
    def create(cls) -> ScriptedLibrary:
        return cls(f"scripted-{next(_library_ids)}")

    def _init(self) -> None:
        self.chunks: list[tuple[bytes, StatusCode]] = []
        #: Bytes of every write, and the count of every read.
        self.written: list[bytes] = []
        self.counts: list[int] = []
        self.write_status = StatusCode.success
        self.attrs: dict[int, dict[Any, Any]] = {}
        self._ids = itertools.count(1)

    @staticmethod
    def get_library_paths() -> tuple[highlevel.LibraryPath, ...]:
        return ()

    def open_default_resource_manager(self) -> tuple[Any, StatusCode]:
        return 0, StatusCode.success

    def list_resources(self, session: Any, query: str = "?*::INSTR") -> tuple[str, ...]:
        return (RESOURCE,)

    def open(self, session: Any, resource_name: str, access_mode: Any = None, open_timeout: Any = None) -> Any:
        sid = next(self._ids)
        self.attrs[sid] = {}
        return sid, StatusCode.success

    def close(self, session: Any) -> StatusCode:
        self.attrs.pop(session, None)
        return StatusCode.success

    def write(self, session: Any, data: bytes) -> tuple[int, StatusCode]:
        self.written.append(bytes(data))
        return len(data), self.handle_return_value(session, self.write_status)

    def read(self, session: Any, count: int) -> tuple[bytes, StatusCode]:
        self.counts.append(count)
        if not self.chunks:
            return b"", self.handle_return_value(session, StatusCode.error_timeout)
        data, status = self.chunks.pop(0)
        return data, self.handle_return_value(session, status)

    def clear(self, session: Any) -> StatusCode:
        self.chunks.clear()
        return StatusCode.success

    def get_attribute(self, session: Any, attribute: Any) -> tuple[Any, StatusCode]:
        return self.attrs.get(session, {}).get(attribute), StatusCode.success

    def set_attribute(self, session: Any, attribute: Any, attribute_state: Any) -> StatusCode:
        self.attrs.setdefault(session, {})[attribute] = attribute_state
        return StatusCode.success

    def disable_event(self, session: Any, event_type: Any, mechanism: Any) -> StatusCode:
        return StatusCode.success

    def discard_events(self, session: Any, event_type: Any, mechanism: Any) -> StatusCode:
        return StatusCode.success


class QuietLibrary(ScriptedLibrary):
    """Like the in-process simulator's library: success codes are returned without
    ``handle_return_value`` (so no warnings) and ``ignore_warning`` is a no-op context."""

    def read(self, session: Any, count: int) -> tuple[bytes, StatusCode]:
        self.counts.append(count)
        if not self.chunks:
            return b"", self.handle_return_value(session, StatusCode.error_timeout)
        return self.chunks.pop(0)

    def ignore_warning(self, session: Any, *warnings_constants: StatusCode) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()


LIBRARIES = pytest.mark.parametrize("library_cls", [ScriptedLibrary, QuietLibrary], ids=["warning", "quiet"])
TERM = StatusCode.success_termination_character_read
MORE = StatusCode.success_max_count_read


def _transport(library_cls, **kwargs) -> tuple[VisaTransport, ScriptedLibrary]:
    library = library_cls.create()
    transport = VisaTransport(pyvisa.ResourceManager(library), RESOURCE, **kwargs)
    return transport, library


def _run(fn, *args) -> tuple[Any, list[tuple[type, str]]]:
    """``fn(*args)`` (its result, or the exception type and text) and the warnings it issued."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result: Any = fn(*args)
        except Exception as exc:  # noqa: BLE001 - compared below
            result = (type(exc), str(exc))
    return result, [(w.category, str(w.message)) for w in caught]


# Reply scripts: one chunk; several chunks (reply longer than a chunk); a reply that does not
# end with the read termination (pyvisa warns and returns it as it is); an empty reply.
SCRIPTS = {
    "one chunk": [(b"+3.7E+00,-5.0E+00\n", TERM)],
    "three chunks": [(b"+3.7E+00,", MORE), (b"-5.0E+00", MORE), (b",1\n", TERM)],
    "unterminated": [(b"+3.7E+00", StatusCode.success)],
    "chunk then unterminated": [(b"12345", MORE), (b"678", StatusCode.success)],
    "just the termination": [(b"\n", TERM)],
}


@LIBRARIES
@pytest.mark.parametrize("script", list(SCRIPTS), ids=list(SCRIPTS))
def test_direct_query_does_what_pyvisa_query_does(library_cls, script):
    transport, library = _transport(library_cls)
    assert transport._io is not None  # the direct path is in use
    assert transport._io[6] is (library_cls is QuietLibrary)  # quiet: no ignore_warning context
    library.chunks = list(SCRIPTS[script])
    direct = _run(transport.query, ':READ? "defbuffer1", READ, SOUR')
    direct_bytes, direct_counts = library.written[:], library.counts[:]
    library.written.clear()
    library.counts.clear()
    library.chunks = list(SCRIPTS[script])
    through_pyvisa = _run(transport._inst.query, ':READ? "defbuffer1", READ, SOUR')
    assert direct == through_pyvisa
    assert direct_bytes == library.written == [b':READ? "defbuffer1", READ, SOUR\n']
    assert direct_counts == library.counts  # chunk by chunk, of pyvisa's chunk size


@LIBRARIES
def test_a_message_already_terminated_is_sent_and_warned_about_as_pyvisa_does(library_cls):
    transport, library = _transport(library_cls)
    for _ in range(2):  # every time, not only the first
        library.chunks = [(b"1\n", TERM)]
        direct = _run(transport.query, "*OPC?\n")
        library.chunks = [(b"1\n", TERM)]
        assert direct == _run(transport._inst.query, "*OPC?\n")
        assert direct[1] == [(UserWarning, "write message already ends with termination characters")]
    direct = _run(transport.write, "*CLS\n")
    assert direct[1] == [(UserWarning, "write message already ends with termination characters")]
    assert _run(transport._inst.write, "*CLS\n")[1] == direct[1]
    assert library.written == [b"*OPC?\n\n"] * 4 + [b"*CLS\n\n"] * 2


@LIBRARIES
def test_writes_are_the_same_bytes(library_cls):
    transport, library = _transport(library_cls, write_termination="\r\n")
    transport.write(":SOUR:CURR 1.5")
    transport._inst.write(":SOUR:CURR 1.5")
    assert library.written == [b":SOUR:CURR 1.5\r\n"] * 2


@LIBRARIES
def test_non_ascii_text_is_refused_as_pyvisa_refuses_it(library_cls):
    transport, library = _transport(library_cls)
    assert _run(transport.query, "TEMP 25 °C?") == _run(transport._inst.query, "TEMP 25 °C?")
    assert _run(transport.query, "TEMP 25 °C?")[0][0] is UnicodeEncodeError
    assert library.written == []
    library.chunks = [(b"\xb0C\n", TERM)]
    with pytest.raises(InstrumentError, match=r"reply to 'X\?' is not text"):
        transport.query("X?")


@LIBRARIES
def test_timeout_and_lost_link_map_to_the_driver_errors_and_the_link_is_reopened(library_cls):
    transport, library = _transport(library_cls)
    with pytest.raises(InstrumentTimeout, match=rf"^{RESOURCE}: query 'X\?': no reply \(timeout\)$"):
        transport.query("X?")
    assert not transport.broken
    assert not transport.in_step and transport._io is None   # its reply is owed: resynchronise first
    library.chunks = [(b"41\n", TERM)]   # the late reply, read and discarded before the next query
    library.write_status = StatusCode.error_connection_lost
    with pytest.raises(InstrumentConnectionLost, match=rf"^{RESOURCE}: query 'X\?' failed, connection lost"):
        transport.query("X?")
    assert transport.broken and transport._io is None
    library.write_status = StatusCode.success
    old_session = transport._inst.session
    library.chunks = [(b"42\n", TERM)]
    assert transport.query("X?") == "42"  # reopened first, then the direct path again
    assert not transport.broken and transport._io is not None
    assert transport._inst.session != old_session
    library.write_status = StatusCode.error_io
    with pytest.raises(InstrumentConnectionLost, match=r"write 'Y' failed, connection lost"):
        transport.write("Y")
    library.write_status = StatusCode.error_resource_busy
    library.chunks = []
    with pytest.raises(InstrumentError, match=r"write 'Y' failed"):
        transport.write("Y")  # reopened, then a plain instrument error


@LIBRARIES
def test_a_closed_transport_fails_as_a_closed_pyvisa_resource_does(library_cls):
    transport, _ = _transport(library_cls)
    transport.close()
    with pytest.raises(pyvisa.errors.InvalidSession):
        transport.query("X?")
    with pytest.raises(pyvisa.errors.InvalidSession):
        transport.write("X")


def test_pyvisa_does_the_work_for_a_query_delay_an_empty_termination_or_an_own_resource_class(monkeypatch):
    transport, library = _transport(ScriptedLibrary, read_termination="")
    assert transport._io is None
    library.chunks = [(b"7\n", TERM)]
    assert transport.query("X?") == "7\n"  # no read termination: the reply as it is

    monkeypatch.setattr(USBInstrument, "query_delay", 0.001)
    transport, library = _transport(ScriptedLibrary)
    assert transport._io is None
    monkeypatch.undo()

    class OwnRead(USBInstrument):
        def read(self, termination: str | None = None, encoding: str | None = None) -> str:
            return "own " + super().read(termination, encoding)

    class OwnClassManager:
        def __init__(self) -> None:
            self.rm = pyvisa.ResourceManager(ScriptedLibrary.create())
            self.visalib = self.rm.visalib

        def open_resource(self, name: str, **kwargs: Any) -> Any:
            return self.rm.open_resource(name, resource_pyclass=OwnRead, **kwargs)

    manager = OwnClassManager()
    library = manager.visalib
    transport = VisaTransport(manager, RESOURCE)
    assert transport._io is None
    library.chunks = [(b"7\n", TERM)]
    assert transport.query("X?") == "own 7"


def test_warnings_pyvisa_ignores_while_reading_stay_ignored_and_others_are_issued():
    transport, library = _transport(ScriptedLibrary)
    library.chunks = [(b"12", MORE), (b"3\n", StatusCode.success_device_not_present)]
    assert _run(transport.query, "X?") == ("123", [])
    # outside a read, the library warns again as usual (the ignore list is restored)
    session = transport._inst.session
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        library.handle_return_value(session, StatusCode.success_max_count_read)
    assert [w.category for w in caught] == [pyvisa.errors.VisaIOWarning]
    # a warning pyvisa does not ignore in a read is issued, as through the resource
    library.chunks = [(b"1\n", StatusCode.warning_queue_overflow)]
    direct = _run(transport.query, "X?")
    library.chunks = [(b"1\n", StatusCode.warning_queue_overflow)]
    assert direct == _run(transport._inst.query, "X?")
    assert [category for category, _ in direct[1]] == [pyvisa.errors.VisaIOWarning]


def test_the_library_and_session_are_taken_again_after_a_reopen():
    transport, library = _transport(QuietLibrary)
    first = transport._io
    transport.reopen()
    assert transport._io is not None and transport._io[1] != first[1]
    assert transport._io[1] == transport._inst.session
    assert transport._inst.get_visa_attribute(constants.ResourceAttribute.termchar) == ord("\n")
