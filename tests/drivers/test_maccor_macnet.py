"""Maccor MacNet driver: JSON conversations for every Cycler method, bad input, vendor errors."""

from __future__ import annotations

import pytest

from drivers.catalog import DRIVERS, open_channel, open_instrument
from drivers.cycler_system import NoSuchChannel, SystemPool
from drivers.errors import InstrumentCommandError, InstrumentError, InstrumentReplyError, SetpointOutOfRange
from drivers.maccor_macnet import IGNORED_POWER_W, MaccorMacNet
from drivers.roles import Cycler, ProtectionLimits
from drivers.transport import InstrumentConnectionLost
from tests.drivers.stream_conversation import JsonConversation

GENERAL = ({"FClass": 1, "FNum": 2},
           {"FClass": 1, "FNum": 2, "SystemID": "Lab4000", "SystemType": 0, "ControllerBoards": 2,
            "TestChannels": 12, "AuxBoards": 1, "AuxChannels": 16, "SMB1Pos": 0, "SMB3Pos": 0})
SPEC_RESULT = {"FClass": 3, "FNum": 1, "Chan": 11, "TickSpeed": 0.005, "Vmax": 5, "Vmin": 0, "VSafeMax": 5,
               "VSafeMin": 0, "IR4Chg": 10, "IR3Chg": 0.15, "IR2Chg": 0.005, "IR1Chg": 0.00015, "IR4Dis": 10,
               "IR3Dis": 0.15, "IR2Dis": 0.005, "IR1Dis": 0.00015}
SPEC = ({"FClass": 3, "FNum": 1, "Chan": 11}, SPEC_RESULT)
LIMITS = ProtectionLimits(voltage_max_v=4.2, voltage_min_v=2.5, current_max_a=5.0)
SAFETY = {"VSafeMax": 4.2, "VSafeMin": 2.5, "ISafeChg": 5.0, "ISafeDis": 5.0, "PBatSafeChg": 21.0, "PBatSafeDis": 21.0}
ARM = ({"FClass": 6, "FNum": 10, "Chan": 11, **SAFETY}, {"FClass": 6, "FNum": 10, "Chan": 11, **SAFETY})


class FakeClock:
    """now_s() and sleep() that only move when slept (records the sleeps)."""

    def __init__(self) -> None:
        self.t = 100.0
        self.sleeps: list[float] = []

    def now_s(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.sleeps.append(round(s, 6))
        self.t += s


def ok(fclass: int, fnum: int, text: str = "OK") -> dict:
    return {"FClass": fclass, "FNum": fnum, "Chan": 11, "Result": text}


def status(stat: int = 2, rf1: int = 1, rf2: int = 0, voltage: float = 3.9, current: float = 2.0) -> tuple:
    return ({"FClass": 4, "FNum": 7, "Chan": 11},
            {"FClass": 4, "FNum": 7, "Chan": 11, "RF1": rf1, "RF2": rf2, "Stat": stat, "LastRecNum": 1, "Cycle": 0,
             "Step": 1, "TestTime": 1.0, "StepTime": 1.0, "Capacity": 0, "Energy": 0, "Current": current,
             "Voltage": voltage, "TesterTime": "2026-12-06T01:00:00"})


def make(pairs: list, clock: FakeClock | None = None):
    conv = JsonConversation([GENERAL, SPEC] + pairs)
    system = MaccorMacNet(conv, clock=clock or FakeClock())
    return system.channel(12, name="cycler"), conv


def test_channel_handle_fills_the_cycler_role_from_the_channel_specification():
    channel, conv = make([({"FClass": 1, "FNum": 1}, {"FClass": 1, "FNum": 1, "MacTest32EXEversionMajor": 3,
                                                      "MacTest32EXEversionMinor": 2, "MacTest32EXEversionBuild": 18})])
    assert isinstance(channel, Cycler)
    assert channel.current_range_a == (-10.0, 10.0) and channel.voltage_range_v == (0.0, 5.0)
    assert channel.verify_identity() == "Maccor MacTest32 3.2.18, Lab4000, SystemType 0, channel 12 of 12"
    conv.assert_done()


def test_a_channel_the_system_does_not_have_is_a_one_line_error_naming_system_and_channel():
    conv = JsonConversation([GENERAL])
    system = MaccorMacNet(conv, clock=FakeClock())
    with pytest.raises(NoSuchChannel, match=r"^Maccor \(TCPIP::conversation::57570::SOCKET\): no channel 13; "
                                            r"the system has channels 1\.\.12$"):
        system.channel(13)
    with pytest.raises(NoSuchChannel, match="no channel 0"):
        system.channel(0)
    conv.assert_done()


def test_safety_limits_are_pushed_and_checked_before_any_output():
    channel, conv = make([ARM])
    with pytest.raises(InstrumentError, match="before configure_protection"):
        channel.output_on()
    channel.configure_protection(LIMITS)
    conv.assert_done()


def test_safety_limits_the_tester_does_not_hold_are_refused():
    echo = {**SAFETY, "VSafeMax": 5.0}
    channel, conv = make([(ARM[0], {"FClass": 6, "FNum": 10, "Chan": 11, **echo})])
    with pytest.raises(InstrumentCommandError, match="channel 12: \\(6, 10\\) safety VSafeMax = 4.2 not accepted"):
        channel.configure_protection(LIMITS)
    conv.assert_done()


def test_limits_beyond_the_channel_are_refused_before_anything_is_sent():
    channel, conv = make([])
    with pytest.raises(SetpointOutOfRange, match="within the channel's 0..5 V"):
        channel.configure_protection(ProtectionLimits(6.0, 2.5, 5.0))
    conv.assert_done()


def test_configure_resets_a_completed_test_and_refuses_to_take_over_a_running_one():
    channel, conv = make([status(stat=4, rf1=31), ({"FClass": 6, "FNum": 5, "Chan": 11}, ok(6, 5)),
                          status(stat=2)])
    channel.configure()
    with pytest.raises(InstrumentError, match="channel 12: channel is Active \\(not Available\\)"):
        channel.configure()
    conv.assert_done()


def test_charge_discharge_rest_map_to_direct_mode_with_the_100_ms_rule():
    clock = FakeClock()
    start = {"FClass": 6, "FNum": 7, "Chan": 11, "TestName": "Random", "Current": 2.0, "Voltage": 4.2,
             "Power": IGNORED_POWER_W, "Resistance": 0, "CurrentRange": 4, "ChMode": "C", "DataTime": 1.0,
             "DataV": 0, "DataI": 0}
    discharge = {"FClass": 6, "FNum": 8, "Chan": 11, "Current": 0.1, "Voltage": 2.5, "Power": IGNORED_POWER_W,
                 "Resistance": 0, "CurrentRange": 3, "ChMode": "D"}
    rest = {**discharge, "Current": 0.0, "Voltage": 4.2, "CurrentRange": 1, "ChMode": "C"}
    channel, conv = make([ARM, (start, ok(6, 7)), (discharge, ok(6, 8)), (rest, ok(6, 8)),
                          ({"FClass": 6, "FNum": 5, "Chan": 11}, ok(6, 5))], clock)
    channel.configure_protection(LIMITS)
    channel.set_current(2.0, 4.2)  # output off: kept for output_on
    channel.output_on()
    channel.set_current(-0.1, 4.2)  # at once after the start: waits 100 ms first
    clock.t += 5.0
    channel.set_current(0.0, 4.2)  # long after: no wait
    channel.output_off()
    assert clock.sleeps == [0.1]
    conv.assert_done()


def test_hold_voltage_picks_charge_or_discharge_from_the_present_voltage():
    clock = FakeClock()
    start = {"FClass": 6, "FNum": 7, "Chan": 11, "TestName": "Random", "Current": 1.0, "Voltage": 3.6,
             "Power": IGNORED_POWER_W, "Resistance": 0, "CurrentRange": 4, "ChMode": "D", "DataTime": 1.0,
             "DataV": 0, "DataI": 0}
    channel, conv = make([ARM, status(stat=0, rf1=0, voltage=3.9), (start, ok(6, 7))], clock)
    channel.configure_protection(LIMITS)
    channel.set_voltage(3.6, 1.0)
    channel.output_on()
    conv.assert_done()


def test_measure_signs_the_current_from_rf1_and_reports_a_safety_suspension():
    channel, conv = make([ARM, status(rf1=2, current=1.5), status(rf1=1, current=-1.5),
                          status(stat=3, rf1=30, rf2=253, current=0.0)])
    channel.configure_protection(LIMITS)
    assert channel.measure() == (3.9, -1.5)
    assert channel.measure() == (3.9, 1.5)
    assert channel.measure() == (3.9, 0.0)
    assert channel.protection_tripped() == "Suspended: RF2 253 V safety absolute"
    conv.assert_done()


def test_vendor_error_replies_are_one_line_errors_naming_system_and_channel():
    too_fast = "Command sent too fast. There must be at least 100 ms (10 ticks) between commands."
    start = {"FClass": 6, "FNum": 7, "Chan": 11, "TestName": "Random", "Current": 0.0, "Voltage": 5.0,
             "Power": IGNORED_POWER_W, "Resistance": 0, "CurrentRange": 1, "ChMode": "C", "DataTime": 1.0,
             "DataV": 0, "DataI": 0}
    channel, conv = make([ARM, (start, ok(6, 7, too_fast)),
                          ({"FClass": 4, "FNum": 7, "Chan": 11}, {"error": {"code": -32602, "message": "Illegal value"}}),
                          ({"FClass": 4, "FNum": 7, "Chan": 11}, {"FClass": 6, "FNum": 8})])
    channel.configure_protection(LIMITS)
    with pytest.raises(InstrumentCommandError) as info:
        channel.output_on()
    assert str(info.value) == f"cycler: Maccor (TCPIP::conversation::57570::SOCKET) channel 12: MacNet (6, 7) refused: {too_fast}"
    with pytest.raises(InstrumentCommandError, match=r"channel 12: MacNet \(4, 7\) refused: Illegal value \(JSON-RPC error -32602\)"):
        channel.measure()
    with pytest.raises(InstrumentReplyError, match=r"channel 12: MacNet \(4, 7\): unexpected reply"):
        channel.measure()
    conv.assert_done()


def test_a_timeout_loses_the_link_for_every_channel_of_the_system_until_rearmed():
    conv = JsonConversation([GENERAL, SPEC, ({"FClass": 3, "FNum": 1, "Chan": 2}, {**SPEC_RESULT, "Chan": 2}),
                             ARM, (ARM[0] | {"Chan": 2}, ARM[1] | {"Chan": 2}),
                             status()[:1] + ("TIMEOUT",),
                             ({"FClass": 6, "FNum": 5, "Chan": 2}, ok(6, 5) | {"Chan": 2}),
                             ARM])
    system = MaccorMacNet(conv, clock=FakeClock())
    twelve, three = system.channel(12), system.channel(3)
    twelve.configure_protection(LIMITS)
    three.configure_protection(LIMITS)
    with pytest.raises(InstrumentConnectionLost, match=r"channel 12: MacNet \(4, 7\): link lost: no reply"):
        twelve.measure()
    with pytest.raises(InstrumentConnectionLost, match="cycler: Maccor .* channel 3: measure refused: the system's link was lost"):
        three.measure()  # refused without a message: the channel must be safed and re-armed
    three.output_off()  # the safe state goes through (the link is reopened first)
    assert conv.reopened == 1
    twelve.configure_protection(LIMITS)  # re-armed
    conv.assert_done()


def test_catalog_opens_channels_sharing_one_connection_per_resource():
    assert DRIVERS["maccor_macnet"].role == "cycler"
    opened = []

    def open_stream(resource: str, timeout_s: float) -> JsonConversation:
        conv = JsonConversation([GENERAL, SPEC, ({"FClass": 3, "FNum": 1, "Chan": 0}, {**SPEC_RESULT, "Chan": 0})])
        opened.append(conv)
        return conv

    pool = SystemPool(open_stream)
    a = open_channel("maccor_macnet", "TCPIP::10.0.0.5::57570::SOCKET", 12, name="cycler0", pool=pool)
    b = open_channel("maccor_macnet", "TCPIP::10.0.0.5::57570::SOCKET", 1, name="cycler1", pool=pool)
    assert len(opened) == 1 and a.system is b.system
    opened[0].assert_done()
    a.transport.close()
    b.transport.close()
    assert pool.systems == {}
    with pytest.raises(InstrumentError, match="needs 'channel'"):
        open_instrument("maccor_macnet", "TCPIP::10.0.0.5::57570::SOCKET", name="cycler")


@pytest.mark.parametrize(("rf1", "reading_v", "mode"), [(1, 4.2001, "C"), (2, 2.4999, "D"), (1, 4.25, "D")])
def test_a_hold_at_the_voltage_just_reached_keeps_the_direction_the_channel_was_moving(rf1, reading_v, mode):
    # after a CC charge to 4.2 V the reading sits a hair above it: ChMode D there would hold nothing
    # while the cell relaxes; within 10 mV the channel's RF1 (1 charge, 2 discharge) decides
    hold_v = 4.2 if rf1 == 1 else 2.5
    clock = FakeClock()
    start = {"FClass": 6, "FNum": 7, "Chan": 11, "TestName": "Random", "Current": 1.0, "Voltage": hold_v,
             "Power": IGNORED_POWER_W, "Resistance": 0, "CurrentRange": 4, "ChMode": mode, "DataTime": 1.0,
             "DataV": 0, "DataI": 0}
    channel, conv = make([ARM, status(stat=0, rf1=rf1, voltage=reading_v), (start, ok(6, 7))], clock)
    channel.configure_protection(LIMITS)
    channel.set_voltage(hold_v, 1.0)
    channel.output_on()
    conv.assert_done()
