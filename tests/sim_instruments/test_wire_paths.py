"""The simulator wire side keeps one behaviour on its fast and general paths.

The endpoint, the SCPI front end and the VISA library each have a fast path for the usual
exchange (one whole message in, one whole reply out) next to the general path. These tests drive
both with the same traffic and check the bytes against a plain byte-stream model of the link.
"""

from __future__ import annotations

import random

import pytest
import pyvisa
from pyvisa import constants
from pyvisa.constants import StatusCode

from sim_instruments.cyclers.keithley2460 import Keithley2460Sim
from sim_instruments.meters.keysight_daq970a import OVERLOAD, KeysightDaq970aSim
from sim_instruments.wire.endpoint import CommsFault, LineEndpoint
from sim_instruments.wire.scpi_frontend import LINE_CACHE_SIZE, ScpiFrontEnd
from sim_instruments.wire.visa_library import SimVisaLibrary
from sim_instruments.world.clock import VirtualClock
from sim_instruments.world.sim_world import SimWorld


class EchoFrontEnd:
    """Replies with a scripted text per message (None: no reply); records what it received."""

    def __init__(self, replies: dict[str, str | None]) -> None:
        self.replies = replies
        self.received: list[str] = []

    def handle_line(self, line: str) -> str | None:
        self.received.append(line)
        return self.replies.get(line, f"re:{line}")


class StreamModel:
    """The link as one byte stream each way (what every endpoint path must be equivalent to)."""

    def __init__(self, frontend: EchoFrontEnd, read_term: bytes, write_term: bytes) -> None:
        self.frontend, self.read_term, self.write_term = frontend, read_term, write_term
        self.inbox, self.outbox = bytearray(), bytearray()

    def write(self, data: bytes) -> int:
        self.inbox += data
        while (index := self.inbox.find(self.read_term)) >= 0:
            line = self.inbox[:index].decode("ascii", "replace").strip("\r\n")
            del self.inbox[: index + len(self.read_term)]
            reply = self.frontend.handle_line(line)
            if reply is not None:
                self.outbox += reply.encode("ascii", "replace") + self.write_term
        return len(data)

    def read_until(self, terminator: bytes, count: int) -> bytes:
        size = count
        if terminator and (index := self.outbox.find(terminator)) >= 0:
            size = min(count, index + len(terminator))
        chunk = bytes(self.outbox[:size])
        del self.outbox[:size]
        return chunk


REPLIES = {"*IDN?": "ACME,MODEL 1,0,1.0", "A": "+1.000000E+00,+2.000000E+00", "NL": "two\nlines",
           "CR": "ends with\r", "SET": None, "UTF": "température", "Q": "what?"}
MESSAGES = list(REPLIES) + ["", "other"]


@pytest.mark.parametrize("read_term, write_term", [(b"\n", b"\n"), (b"\r\n", b"\r\n"), (b"\n", b"\r\n"),
                                                   (b"\n", b"\n\n"), (b"\n", b"?")])
@pytest.mark.parametrize("seed", range(4))
def test_endpoint_matches_the_byte_stream_model(read_term, write_term, seed):
    rng = random.Random(seed)
    endpoint = LineEndpoint(EchoFrontEnd(REPLIES), lambda: 0.0,
                            read_termination=read_term, write_termination=write_term)
    model = StreamModel(EchoFrontEnd(REPLIES), read_term, write_term)
    for _ in range(400):
        action = rng.random()
        if action < 0.5:  # one or more messages, whole or split anywhere, bytes or bytearray
            data = b"".join(rng.choice(MESSAGES).encode() + read_term for _ in range(rng.choice((1, 1, 1, 2))))
            if rng.random() < 0.2:
                data = data[: rng.randrange(len(data) + 1)] or data
            if rng.random() < 0.1:
                data = bytearray(data)  # type: ignore[assignment]
            assert endpoint.write(data) == model.write(data)
        else:  # read up to some terminator (or none), with a count that may cut a reply
            terminator = rng.choice((b"\n", b"\n", write_term, b"", b",", b"\r\n"))
            count = rng.choice((20480, 20480, 1 << 20, rng.randrange(1, 40)))
            assert endpoint.read_until(terminator, count) == model.read_until(terminator, count)
        assert endpoint.pending == len(model.outbox)
    assert endpoint.frontend.received == model.frontend.received


def test_endpoint_with_a_garbled_reply_reads_the_garbled_bytes_as_a_stream():
    clock = VirtualClock()
    endpoint = LineEndpoint(EchoFrontEnd({"X": "PPP", "Y": "ok"}), clock.now_s)
    endpoint.faults.append(CommsFault("garbled", 0.0, 1.0))
    endpoint.write(b"X\n")  # "P" garbles to "\n": the reply now holds terminators inside
    clock.sleep(2.0)
    endpoint.write(b"Y\n")
    assert endpoint.read_until(b"\n", 100) == b"\n"
    assert endpoint.read_until(b"\n", 100) == b"\n"
    assert endpoint.read_until(b"\n", 100) == b"\n"
    assert endpoint.read_until(b"\n", 100) == b"\n"
    assert endpoint.read_until(b"\n", 100) == b"ok\n"
    assert endpoint.read_until(b"\n", 100) == b""


def test_endpoint_delayed_replies_are_released_in_order_after_the_faults_are_removed():
    clock = VirtualClock()
    endpoint = LineEndpoint(EchoFrontEnd({}), clock.now_s)
    endpoint.faults.append(CommsFault("delay", 0.0, 1.0, delay_s=5.0))
    endpoint.write(b"a\nb\n")
    endpoint.faults.clear()
    endpoint.write(b"c\n")
    assert endpoint.read_until(b"\n", 100) == b"re:c\n"
    clock.sleep(5.0)
    assert endpoint.read_until(b"\n", 100) == b"re:a\n"
    assert endpoint.read(100) == b"re:b\n"


def test_endpoint_termination_changes_apply_to_later_messages():
    endpoint = LineEndpoint(EchoFrontEnd({}), lambda: 0.0)
    endpoint.write(b"a\n")
    endpoint.read_termination = b"\r"
    endpoint.write(b"a\n")  # no longer a whole message: buffered
    assert endpoint.read_until(b"\n", 100) == b"re:a\n"
    assert endpoint.read_until(b"\n", 100) == b""
    endpoint.write(b"\r")
    assert endpoint.read_until(b"\n", 100) == b"re:a\n"  # the line "a\n" loses its "\n" to the strip
    endpoint.write_termination = b";"
    endpoint.write(b"b\r")
    assert endpoint.read_until(b";", 100) == b"re:b;"


def test_endpoint_clear_drops_input_output_and_held_replies():
    clock = VirtualClock()
    endpoint = LineEndpoint(EchoFrontEnd({}), clock.now_s)
    endpoint.write(b"a\nb")
    endpoint.faults.append(CommsFault("delay", 0.0, None, delay_s=1.0))
    endpoint.write(b"\n")
    endpoint.faults.clear()
    endpoint.clear()
    clock.sleep(2.0)
    assert endpoint.pending == 0 and endpoint.read(100) == b""
    endpoint.write(b"c\n")
    assert endpoint.read_until(b"\n", 100) == b"re:c\n"


# -- SCPI front end: the line cache ------------------------------------------------------------
def _frontend() -> ScpiFrontEnd:
    frontend = ScpiFrontEnd("ACME,1,2,3")
    state = {"level": 0.0}

    def set_level(args: str) -> None:
        from sim_instruments.wire.scpi_frontend import parse_number

        state["level"] = parse_number(args, low=-1.0, high=1.0)

    frontend.add(":LEVel", set_level)
    frontend.add(":LEVel?", lambda _a: repr(state["level"]))
    return frontend


def test_cached_lines_still_run_their_handler_and_report_errors_every_time():
    frontend = _frontend()
    for _ in range(3):
        assert frontend.handle_line(":LEV 5") is None  # out of range: -222 each time
        assert frontend.handle_line("BOGUS") is None  # undefined header: -113 each time
    assert [code for code, _ in frontend.errors] == [-222, -113] * 3
    assert frontend.handle_line(":LEV 0.5") is None
    assert frontend.handle_line(":LEV?") == "0.5"
    assert frontend.handle_line(":LEV -0.25") is None
    assert frontend.handle_line(":LEV?") == "-0.25"


def test_line_cache_is_bounded_and_emptied_when_a_command_is_added():
    frontend = _frontend()
    for n in range(LINE_CACHE_SIZE + 10):
        frontend.handle_line(f":LEV {n / 1e6}")
    assert len(frontend._lines) <= LINE_CACHE_SIZE
    assert frontend.handle_line("*IDN?") == "ACME,1,2,3"
    frontend.add("*IDN?", lambda _a: "replaced")  # earlier declarations match first
    assert frontend.handle_line("*IDN?") == "ACME,1,2,3"
    frontend.add(":NEW?", lambda _a: "new")
    assert frontend.handle_line(":NEW?") == "new"


# -- VISA library -----------------------------------------------------------------------------
def _visa_bench():
    clock = VirtualClock()
    world = SimWorld.single_cell(clock, seed=0)
    endpoint = LineEndpoint(Keithley2460Sim(world), clock.now_s)
    library = SimVisaLibrary.create({"USB0::0x05E6::0x2460::1::INSTR": endpoint})
    rm = pyvisa.ResourceManager(library)
    inst = rm.open_resource("USB0::0x05E6::0x2460::1::INSTR", read_termination="\n", write_termination="\n")
    return inst, library, inst.session


def test_visa_read_status_codes_on_every_path():
    inst, lib, session = _visa_bench()
    idn = b"KEITHLEY INSTRUMENTS,MODEL 2460,04412345,1.7.12b\n"
    assert lib.write(session, bytearray(b"*IDN?\n")) == (6, StatusCode.success)
    assert lib.read(session, 20480) == (idn, StatusCode.success_termination_character_read)
    lib.write(session, b"*IDN?\n")
    assert lib.read(session, 10) == (idn[:10], StatusCode.success_max_count_read)
    assert lib.read(session, 20480) == (idn[10:], StatusCode.success_termination_character_read)
    inst.set_visa_attribute(constants.VI_ATTR_TERMCHAR_EN, False)
    lib.write(session, b"*IDN?\n")
    assert lib.read(session, 20480) == (idn, StatusCode.success)
    inst.set_visa_attribute(constants.VI_ATTR_TERMCHAR_EN, True)
    inst.set_visa_attribute(constants.VI_ATTR_TERMCHAR, ord(","))
    lib.write(session, b"*IDN?\n")
    assert lib.read(session, 20480) == (b"KEITHLEY INSTRUMENTS,", StatusCode.success_termination_character_read)
    inst.set_visa_attribute(constants.VI_ATTR_TERMCHAR, 0x0A)
    assert lib.read(session, 20480) == (idn[21:], StatusCode.success_termination_character_read)
    with pytest.raises(pyvisa.errors.VisaIOError) as info:
        lib.read(session, 20480)
    assert info.value.error_code == StatusCode.error_timeout
    with pytest.raises(pyvisa.errors.VisaIOError):
        lib.write(session + 99, b"*IDN?\n")


# -- instrument handlers ----------------------------------------------------------------------
def test_keithley_read_fast_path_matches_the_general_element_list():
    clock = VirtualClock()
    world = SimWorld.single_cell(clock, seed=0)
    k = Keithley2460Sim(world)
    k.handle_line(":SOUR:CURR -1")
    k.handle_line(":OUTP ON")
    for setup in ((), (':SENS:FUNC "CURR"',), (":SOUR:FUNC VOLT", ":SOUR:VOLT 3.9"),
                  (':SENS:FUNC "VOLT"',), (":SOUR:CURR:READ:BACK OFF",), (":SOUR:FUNC CURR",)):
        for line in setup:
            k.handle_line(line)
        clock.sleep(1.0)
        fast = k.handle_line(':READ? "defbuffer1", READ, SOUR').split(",")  # the per-sample query
        general = k.handle_line(':READ? "defbuffer1", SOUR, READ').split(",")  # same instant
        # the same values up to the voltmeter noise, in the same format
        assert abs(float(fast[0]) - float(general[1])) < 0.01
        assert abs(float(fast[1]) - float(general[0])) < 0.01
        assert len(fast[0]) == len(fast[1]) == len(general[0]) == len(general[1]) == 13
    assert list(k.errors) == []


def test_daq_readers_follow_the_live_wiring_state_and_units():
    clock = VirtualClock()
    world = SimWorld.single_cell(clock, seed=0)
    daq = KeysightDaq970aSim(world)
    daq.handle_line("CONF:TEMP TC,K,(@101,102)")
    first = daq.handle_line("READ?").split(",")
    assert float(first[1]) == world.chamber.air_c
    world.channels[0].thermocouple_open = True
    assert float(daq.handle_line("READ?").split(",")[0]) == OVERLOAD
    world.channels[0].thermocouple_open = False
    daq.handle_line("UNIT:TEMP K")
    assert float(daq.handle_line("READ?").split(",")[1]) == pytest.approx(world.chamber.air_c + 273.15)
    daq.handle_line("UNIT:TEMP C")
    daq.handle_line("ROUT:SCAN (@101,105)")  # 105 is wired to nothing: -222 on every scan
    assert daq.handle_line("READ?") is None and daq.handle_line("READ?") is None
    assert [code for code, _ in daq.errors] == [-222, -222]


def test_endpoint_remembers_a_bounded_number_of_messages():
    from sim_instruments.wire.endpoint import DECODED_CACHE_SIZE

    endpoint = LineEndpoint(EchoFrontEnd({}), lambda: 0.0)
    for n in range(DECODED_CACHE_SIZE + 10):
        endpoint.write(b"m%d\n" % n)
        assert endpoint.read_until(b"\n", 100) == b"re:m%d\n" % n
    assert len(endpoint._decoded) <= DECODED_CACHE_SIZE
    endpoint.write(b"x" * 1000 + b"\n")  # long messages are not remembered
    assert endpoint.read(2000) == b"re:" + b"x" * 1000 + b"\n"
    assert b"x" * 1000 + b"\n" not in endpoint._decoded
