"""Simulated Arbin CTI server: framing, login, the command tables' result codes, meta-variable
schedules on the shared world, and the public client pyctiarbin over loopback TCP (virtual clock)."""

from __future__ import annotations

import logging
import struct

import pytest

from sim_instruments.cyclers.arbin_cti import ArbinSystemSim
from sim_instruments.cyclers.arbin_wire import CtiSession, serve_arbin
from sim_instruments.world.clock import VirtualClock
from sim_instruments.world.sim_world import SimWorld

pytestmark = pytest.mark.timeout(60)
TOKEN = 0x11DDDDDDDDDDDDDD


def frame(command: int, args: bytes) -> bytes:
    body = struct.pack("<QIII", TOKEN, 8 + len(args) + 2, command, 0) + args
    return body + struct.pack("<H", sum(body) & 0xFFFF)


def parse(data: bytes) -> list[tuple[int, bytes]]:
    """(feedback code, arguments) of each feedback in ``data``, checking length and checksum."""
    out = []
    while data:
        token, length, code, _ = struct.unpack_from("<QIII", data)
        assert token == TOKEN
        message, data = data[:length], data[length:]
        assert sum(message[:-2]) & 0xFFFF == struct.unpack("<H", message[-2:])[0]
        out.append((code, message[20:-2]))
    return out


def login(session: CtiSession, user: bytes = b"admin", password: bytes = b"000000") -> int:
    (code, args), = parse(session.feed(frame(0xEEAB0001, user.ljust(32, b"\0") + password.ljust(32, b"\0"))))
    assert code == 0xEEBA0001 and len(args) == 8656
    return struct.unpack_from("<I", args)[0]


def wide(text: str, chars: int) -> bytes:
    return text.encode("utf-16-le").ljust(2 * chars, b"\0")


def assign(index: int, schedule: str = "CellBench_MV.sdx") -> bytes:
    return frame(0xBB210001, struct.pack("<iB", index, 0) + wide(schedule, 200) + struct.pack("<f", 0.0) + bytes(144)
                 + struct.pack("<16f", *([0.0] * 16)) + bytes(32))


def start(index: int, name: str = "t1") -> bytes:
    return frame(0xBB320004, wide(name, 72) + struct.pack("<IH", 1, index))


def mv_advanced(index: int, values: list[tuple[int, float]]) -> bytes:
    return frame(0xBB150002, struct.pack("<H", len(values)) + bytes(18)
                 + b"".join(struct.pack("<HHf", index, c, v) for c, v in values))


def result(session: CtiSession, request: bytes) -> int:
    (_code, args), = parse(session.feed(request))
    return args[4]


def info(session: CtiSession, index: int) -> dict:
    (code, args), = parse(session.feed(frame(0xEEAB0003, struct.pack("<hhI", index, 1, 0) + bytes(32))))
    assert code == 0xEEBA0003 and len(args) == 4 + 1753
    fields = struct.unpack_from("<IhB400s144s100s", args, 4)
    voltage, current = struct.unpack_from("<ff", args, 4 + 1677)
    return {"status": fields[1], "exit": fields[5].rstrip(b"\0").decode(), "voltage": voltage, "current": current}


@pytest.fixture
def arbin():
    clock = VirtualClock()
    world = SimWorld.single_cell(clock, channels=2, soc=0.5)
    return clock, world, ArbinSystemSim(world)


def test_login_is_required_and_checked(arbin):
    _, _, sim = arbin
    session = CtiSession(sim)
    assert session.feed(assign(0)) == b""  # ignored before a login
    assert login(session, password=b"wrong") == 2
    assert login(session) == 1 and login(session) == 3  # already logged in


def test_split_requests_bad_checksums_and_a_wrong_token(arbin):
    _, _, sim = arbin
    session = CtiSession(sim)
    login(session)
    request = assign(0)
    assert session.feed(request[:30]) == b""
    assert parse(session.feed(request[30:]))[0][1][4] == 0
    corrupt = bytearray(assign(1))
    corrupt[-1] ^= 0xFF
    assert session.feed(bytes(corrupt)) == b""
    with pytest.raises(ValueError, match="not a CTI request"):
        session.feed(b"GET / HTTP/1.0\r\n\r\n")


def test_result_codes_of_the_command_tables(arbin):
    clock, _, sim = arbin
    session = CtiSession(sim)
    login(session)
    assert result(session, assign(5)) == 0x10  # channel does not exist
    assert result(session, assign(0, "nope.sdx")) == 0x13  # schedule name not found
    assert result(session, assign(0, "")) == 0x12
    assert result(session, start(1)) == 0x15  # no schedule assigned
    assert result(session, mv_advanced(0, [(52, 1.0)])) == 0x12  # channel not running
    assert result(session, assign(0)) == 0
    assert result(session, start(0, "")) == 0x23  # test name empty
    assert result(session, start(0)) == 0
    assert result(session, start(0)) == 0x12  # running
    assert result(session, assign(0)) == 0x14
    assert result(session, mv_advanced(0, [(99, 1.0)])) == 0x11  # no such meta code
    assert result(session, mv_advanced(0, [(52, 1.0)])) == 0
    clock.sleep(0.1)
    assert result(session, mv_advanced(0, [(52, 2.0)])) == 0x14  # < 200 ms after the previous update
    clock.sleep(0.1)
    assert result(session, mv_advanced(0, [(52, 1.0)])) == 0
    assert result(session, frame(0xBB310001, struct.pack("<IB", 0, 0) + bytes(101))) == 0


def test_meta_variable_schedule_charges_cc_cv_discharges_to_the_floor_and_ends_unsafe(arbin):
    clock, world, sim = arbin
    session = CtiSession(sim)
    login(session)
    for index in (0, 1):
        assert result(session, assign(index)) == 0 and result(session, start(index)) == 0
    clock.sleep(0.2)
    assert result(session, mv_advanced(0, [(53, 3.9), (52, 5.0)])) == 0
    assert result(session, mv_advanced(1, [(53, 3.6), (52, -5.0)])) == 0
    clock.sleep(1.0)
    assert (info(session, 0)["status"], info(session, 0)["current"]) == (2, pytest.approx(5.0))
    assert (info(session, 1)["status"], info(session, 1)["current"]) == (3, pytest.approx(-5.0))
    for _ in range(120):
        clock.sleep(30.0)
        sim.sync()
    charge, discharge = info(session, 0), info(session, 1)
    assert charge["voltage"] == pytest.approx(3.9, abs=0.01) and 0 < charge["current"] < 1.0
    assert discharge["voltage"] == pytest.approx(3.6, abs=0.01) and -1.0 < discharge["current"] < 0
    # MV_UD3 (4.25 V by the schedule's default) below the CV target: the step ends unsafe.
    assert result(session, mv_advanced(0, [(53, 4.4), (52, 5.0), (54, 3.95)])) == 0
    clock.sleep(60.0)
    ended = info(session, 0)
    assert (ended["status"], ended["exit"]) == (8, "Voltage >= MV_UD3") and not world.channels[0].source.output_on


def test_pyctiarbin_ordinary_calls_leave_no_error(arbin, monkeypatch, caplog, tmp_path):
    pyctiarbin = pytest.importorskip("pyctiarbin")
    clock, world, sim = arbin
    monkeypatch.setenv("ARBIN_CTI_USERNAME", "admin")
    monkeypatch.setenv("ARBIN_CTI_PASSWORD", "000000")
    server = serve_arbin(sim)
    env = str(tmp_path / "no.env")
    try:
        with caplog.at_level(logging.WARNING):
            channel = pyctiarbin.ChannelInterface({"channel": 2, "test_name": "pycti_test", "ip_address": "127.0.0.1",
                                                   "schedule_name": "CellBench_MV.sdx", "port": server.server.port},
                                                  env_path=env)
            assert channel.get_num_channels() == 2 and channel.get_login_feedback()["cycler_sn"] == "ARB0240117"
            assert channel.read_channel_status()["status"] == "Idle"
            assert channel.start_test()  # assigns the schedule, then starts
            clock.sleep(1.0)
            assert channel.set_meta_variable(1, 1.5)  # MV_UD1: the step's current
            clock.sleep(5.0)
            status = channel.read_channel_status()
            assert (status["status"], status["testname"], status["schedule"]) == ("Charge", "pycti_test",
                                                                                   "CellBench_MV.sdx")
            assert status["current_a"] == pytest.approx(1.5)
            assert channel.stop_test()
            assert channel.read_channel_status()["status"] == "Finished"
            cycler = pyctiarbin.CyclerInterface({"ip_address": "127.0.0.1", "port": server.server.port}, env_path=env)
            assert cycler.read_channel_status(1)["status"] == "Idle"
    finally:
        server.stop()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("pyctiarbin")], \
        caplog.text


def test_a_pulled_cable_over_tcp_fails_the_channel_and_the_safe_state_reconnects_and_logs_in(arbin):
    from drivers.catalog import open_channel
    from drivers.cycler_system import SystemPool
    from drivers.roles import ProtectionLimits
    from drivers.transport import InstrumentConnectionLost

    clock, world, sim = arbin
    server = serve_arbin(sim)
    pool = SystemPool()
    try:
        handles = [open_channel("arbin_cti", server.resource, k, name=f"cycler{k - 1}", pool=pool, clock=clock,
                                username="admin", password="000000", timeout_s=2.0) for k in (1, 2)]
        for handle in handles:
            handle.configure_protection(ProtectionLimits(4.2, 2.5, 5.0))
            handle.set_current(1.0, 4.2)
            handle.output_on()
        clock.sleep(1.0)
        assert handles[0].measure()[1] == pytest.approx(1.0)
        server.link.down = True  # every connection of this system drops
        with pytest.raises(InstrumentConnectionLost, match="cycler0: Arbin .* channel 1: CTI 0xEEAB0003: link lost"):
            handles[0].measure()
        with pytest.raises(InstrumentConnectionLost, match="cycler1: .* channel 2: measure refused"):
            handles[1].measure()
        server.link.down = False
        for handle in handles:  # the safe state: a new connection, a new login, then STOP
            handle.output_off()
        assert [s.running for s in sim.channels] == [False, False]
        assert not any(ch.source.output_on for ch in world.channels)
    finally:
        pool.close()
        server.stop()
