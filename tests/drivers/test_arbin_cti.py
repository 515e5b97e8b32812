"""Arbin CTI driver: byte conversations for every Cycler method (frames built here from the protocol
document's layouts), bad input, vendor error codes, a lost link."""

from __future__ import annotations

import struct

import pytest

from drivers.arbin_cti import ArbinCti
from drivers.cycler_system import NoSuchChannel
from drivers.errors import InstrumentCommandError, InstrumentError, InstrumentReplyError
from drivers.roles import Cycler, ProtectionLimits
from drivers.transport import InstrumentConnectionLost
from tests.drivers.stream_conversation import BytesConversation

TOKEN = b"\xdd" * 7 + b"\x11"  # 0x11DDDDDDDDDDDDDD little-endian
LIMITS = ProtectionLimits(voltage_max_v=4.2, voltage_min_v=2.5, current_max_a=5.0)


def request(command: int, args: bytes) -> bytes:
    body = TOKEN + struct.pack("<III", 8 + len(args) + 2, command, 0) + args
    return body + struct.pack("<H", sum(body) & 0xFFFF)


def reply(command: int, args: bytes) -> bytes:
    body = TOKEN + struct.pack("<III", 20 + len(args) + 2, command, 0) + args
    return body + struct.pack("<H", sum(body) & 0xFFFF)


def utf16(text: str, chars: int) -> bytes:
    return text.encode("utf-16-le").ljust(2 * chars, b"\0")


def login_pair(result: int = 1, allowed: int = 1, channels: int = 16) -> tuple[bytes, bytes]:
    args = b"admin".ljust(32, b"\0") + b"000000".ljust(32, b"\0")
    body = (struct.pack("<I", result) + bytes(4) + b"SN1234".ljust(16, b"\0") + bytes(256) + bytes(2048 * 4)
            + bytes(128) + bytes(32) + struct.pack("<IIIIII", 0, 8, allowed, channels, 1, 0))
    return request(0xEEAB0001, args), reply(0xEEBA0001, body)


def info_pair(index: int, status: int = 0, voltage: float = 3.75, current: float = 0.0, exit_text: str = ""):
    record = (struct.pack("<IhB", index, status, 0) + utf16("CellBench_MV.sdx", 200) + utf16("t", 72)
              + exit_text.encode().ljust(100, b"\0") + bytes(64) + bytes(144) + bytes(400) + bytes(400)
              + struct.pack("<Hdd12f14H", 0, 1.0, 1.0, voltage, current, *([0.0] * 10), *([0] * 14)))
    return (request(0xEEAB0003, struct.pack("<hhI", index, 1, 0) + bytes(32)),
            reply(0xEEBA0003, struct.pack("<I", 1) + record))


def result_reply(code: int, index: int, result: int = 0) -> bytes:
    return reply(code, struct.pack("<iB", index, result) + bytes(101))


def assign_pair(index: int, result: int = 0):
    mvs = [0.0] * 16
    mvs[1], mvs[2], mvs[3], mvs[4] = 4.2, 4.2, 2.5, 5.0
    args = (struct.pack("<iB", index, 0) + utf16("CellBench_MV.sdx", 200) + struct.pack("<f", 0.0) + bytes(144)
            + struct.pack("<16f", *mvs) + bytes(32))
    return request(0xBB210001, args), result_reply(0xBB120001, index, result)


def mv_pair(index: int, values: list[tuple[int, float]], result: int = 0):
    args = struct.pack("<H", len(values)) + bytes(18) + b"".join(struct.pack("<HHf", index, c, v) for c, v in values)
    return request(0xBB150002, args), result_reply(0xBB510002, index, result)


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def now_s(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.sleeps.append(round(s, 6))
        self.t += s


def make(pairs: list, clock: FakeClock | None = None, **login):
    conv = BytesConversation([login_pair(**login)] + pairs)
    system = ArbinCti(conv, username="admin", password="000000", clock=clock or FakeClock())
    return system, conv


def test_login_gives_the_channel_count_and_identity_reads_the_channel():
    system, conv = make([info_pair(2)])
    channel = system.channel(3)
    assert isinstance(channel, Cycler)
    assert channel.verify_identity() == "Arbin MITS Pro (CTI version 8), SN SN1234, channel 3 of 16, status Idle"
    conv.assert_done()


@pytest.mark.parametrize(("login", "message"), [({"result": 2}, "CTI login refused for user 'admin' \\(result 2\\)"),
                                                ({"allowed": 0}, "CTI user .admin. is not allowed to control channels")])
def test_login_refused_is_a_one_line_error_naming_the_system(login, message):
    with pytest.raises(InstrumentCommandError, match=f"^Arbin \\(TCPIP::conversation::57570::SOCKET\\): {message}"):
        make([], **login)


def test_a_channel_the_system_does_not_have():
    system, conv = make([])
    with pytest.raises(NoSuchChannel, match="no channel 17; the system has channels 1..16"):
        system.channel(17)
    conv.assert_done()


def test_protection_assigns_the_schedule_with_the_limits_and_vendor_errors_name_the_channel():
    system, conv = make([assign_pair(2), assign_pair(2, result=0x13)])
    channel = system.channel(3)
    with pytest.raises(InstrumentError, match="before configure_protection"):
        channel.output_on()
    channel.configure_protection(LIMITS)
    with pytest.raises(InstrumentCommandError) as info:
        channel.configure_protection(LIMITS)
    assert str(info.value) == ("cycler: Arbin (TCPIP::conversation::57570::SOCKET) channel 3: CTI 0xBB210001 refused: "
                               "schedule name not found (0x13)")
    conv.assert_done()


def test_output_on_starts_then_sets_limits_and_set_point_with_200_ms_between_updates():
    clock = FakeClock()
    system, conv = make([assign_pair(2)], clock)
    channel = system.channel(3)
    channel.configure_protection(LIMITS)
    conv.assert_done()
    # The test name carries a time stamp: check the start request's layout, then script the rest.
    sent: list[bytes] = []
    conv.pairs += [(None, result_reply(0xBB230004, -1)),
                   mv_pair(2, [(54, 4.2), (55, 2.5), (105, 5.0), (53, 4.2), (52, 2.0)]),
                   mv_pair(2, [(53, 2.5), (52, -1.0)]),
                   (request(0xBB310001, struct.pack("<IB", 2, 0) + bytes(101)), result_reply(0xBB130001, 2))]
    original = conv._next

    def capture(got: bytes):
        if conv.pairs[conv.position][0] is None:
            sent.append(got)
            conv.pairs[conv.position] = (got, conv.pairs[conv.position][1])
        return original(got)

    conv._next = capture
    channel.set_current(2.0, 4.2)
    channel.output_on()
    channel.set_current(-1.0, 4.2)
    channel.output_off()
    conv.assert_done()
    assert clock.sleeps == [0.2]
    (frame,) = sent
    assert frame[:8] == TOKEN and struct.unpack_from("<III", frame, 8) == (8 + 144 + 6 + 2, 0xBB320004, 0)
    assert frame[20:20 + 28].decode("utf-16-le") == "CellBench_ch3_"
    assert struct.unpack_from("<IH", frame, 164) == (1, 2)


def test_measure_and_an_unsafe_end_reported_by_the_cycler():
    system, conv = make([assign_pair(0), info_pair(0, status=3, voltage=3.6, current=-2.0),
                         info_pair(0, status=8, voltage=4.21, current=0.0, exit_text="Voltage >= MV_UD3")])
    channel = system.channel(1)
    channel.configure_protection(LIMITS)
    assert channel.measure() == (pytest.approx(3.6), -2.0)
    channel.measure()
    assert channel.protection_tripped() == "Unsafe: Voltage >= MV_UD3"
    conv.assert_done()


def test_a_corrupt_feedback_and_a_lost_link_name_system_and_channel():
    bad = bytearray(info_pair(0)[1])
    bad[-1] ^= 0xFF
    system, conv = make([assign_pair(0), assign_pair(1), (info_pair(0)[0], bytes(bad)), (info_pair(0)[0], "TIMEOUT"),
                         login_pair(), (request(0xBB310001, struct.pack("<IB", 1, 0) + bytes(101)),
                                        result_reply(0xBB130001, 1))])
    one, two = system.channel(1), system.channel(2)
    one.configure_protection(LIMITS)
    two.configure_protection(LIMITS)
    with pytest.raises(InstrumentReplyError, match="channel 1: CTI 0xEEAB0003: feedback checksum mismatch"):
        one.measure()
    with pytest.raises(InstrumentConnectionLost, match="channel 1: CTI 0xEEAB0003: link lost: no reply"):
        one.measure()
    with pytest.raises(InstrumentConnectionLost, match="channel 2: measure refused: the system's link was lost"):
        two.measure()
    two.output_off()  # reconnects, logs in again, stops the test
    conv.assert_done()
