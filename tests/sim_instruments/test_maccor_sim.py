"""Simulated Maccor tester: MacNet JSON framing and errors, direct-mode physics on the shared world,
safety and watchdog, the binary port, and a dropped link on one system of two (virtual clock)."""

from __future__ import annotations

import json
import socket
import struct

import pytest

from drivers.maccor_macnet import MaccorMacNet
from drivers.roles import ProtectionLimits
from drivers.transport import InstrumentConnectionLost
from sim_instruments.cyclers.maccor_macnet import MaccorSystemSim
from sim_instruments.cyclers.maccor_wire import MacNetBinarySession, MacNetJsonSession, maccor_stream, serve_maccor
from sim_instruments.world.clock import VirtualClock
from sim_instruments.world.sim_world import SimWorld

pytestmark = pytest.mark.timeout(60)


def system(channels: int = 2, **kwargs):
    clock = VirtualClock()
    world = SimWorld.single_cell(clock, channels=channels, soc=0.5)
    return clock, world, MaccorSystemSim(world, **kwargs)


def call(session: MacNetJsonSession, **params) -> dict:
    raw = session.feed(json.dumps({"jsonrpc": "2.0", "method": "MacNet", "params": params, "id": 7}).encode())
    assert raw.endswith(b"\r\n") and raw.count(b"\r\n") == 1
    return json.loads(raw)


def test_json_framing_without_separators_split_and_joined_requests():
    _, _, sim = system()
    session = MacNetJsonSession(sim)
    one = json.dumps({"jsonrpc": "2.0", "method": "MacNet", "params": {"FClass": 1, "FNum": 2}, "id": 1}).encode()
    two = json.dumps({"jsonrpc": "2.0", "method": "MacNet", "params": {"FClass": 4, "FNum": 7, "Chan": 1}, "id": 2},
                     indent=4).encode()
    assert session.feed(one[:10]) == b""
    replies = session.feed(one[10:] + two).split(b"\r\n")
    assert [json.loads(r)["id"] for r in replies if r] == [1, 2]
    assert json.loads(replies[0])["result"]["TestChannels"] == 2


@pytest.mark.parametrize(("params", "code", "message"), [
    ({"FClass": 9, "FNum": 1}, -32601, "Invalid FClass"),
    ({"FClass": 4, "FNum": 99, "Chan": 0}, -32601, "Invalid FNum"),
    ({"FNum": 1}, -32602, '"FClass" key does not exist or value syntax error'),
    ({"FClass": 4, "FNum": 7}, -32602, "Missing object"),
    ({"FClass": 4, "FNum": 7, "Chan": 2}, -32602, "Illegal value"),
])
def test_json_errors_follow_the_macnet_list(params, code, message):
    _, _, sim = system()
    reply = call(MacNetJsonSession(sim), **params)
    assert reply["error"] == {"code": code, "message": message} and reply["id"] == 7


def test_garbage_is_a_parse_error_and_the_stream_recovers():
    _, _, sim = system()
    session = MacNetJsonSession(sim)
    assert json.loads(session.feed(b"hello\r\n"))["error"]["message"] == "Parse error"
    assert "result" in call(session, FClass=1, FNum=1)


def test_direct_mode_charges_cc_cv_and_discharges_to_the_floor_on_the_world_cells():
    clock, world, sim = system()
    session = MacNetJsonSession(sim)
    assert call(session, FClass=6, FNum=7, Chan=0, TestName="Random", Current=5.0, Voltage=3.9, Power=1e6,
                Resistance=0, CurrentRange=4, ChMode="C", DataTime=1, DataV=0, DataI=0)["result"]["Result"] == "OK"
    assert call(session, FClass=6, FNum=7, Chan=1, TestName="Random", Current=5.0, Voltage=3.6, Power=1e6,
                Resistance=0, CurrentRange=4, ChMode="D", DataTime=1, DataV=0, DataI=0)["result"]["Result"] == "OK"
    clock.sleep(1.0)
    first = [call(session, FClass=4, FNum=7, Chan=c)["result"] for c in (0, 1)]
    assert (first[0]["RF1"], first[0]["Current"]) == (1, pytest.approx(5.0))
    assert (first[1]["RF1"], first[1]["Current"]) == (2, pytest.approx(5.0))
    assert world.channels[1].source.actual_current_a == pytest.approx(-5.0)
    for _ in range(120):
        clock.sleep(30.0)
        sim.sync()
    later = [call(session, FClass=4, FNum=7, Chan=c)["result"] for c in (0, 1)]
    assert later[0]["Voltage"] == pytest.approx(3.9, abs=0.01) and later[0]["Current"] < 1.0  # CV taper
    assert later[1]["Voltage"] == pytest.approx(3.6, abs=0.01) and later[1]["Current"] < 1.0
    assert later[0]["Capacity"] > 0.2 and later[0]["TestTime"] == pytest.approx(3601.0)


def test_control_commands_need_100_ms_an_active_channel_and_an_available_one_to_start():
    clock, _, sim = system()
    session = MacNetJsonSession(sim)
    out = {"Current": 1.0, "Voltage": 4.0, "Power": 1e6, "Resistance": 0, "CurrentRange": 4, "ChMode": "C"}
    assert call(session, FClass=6, FNum=8, Chan=0, **out)["result"]["Result"] == "The channel is not active"
    call(session, FClass=6, FNum=7, Chan=0, TestName="Random", DataTime=1, DataV=0, DataI=0, **out)
    assert call(session, FClass=6, FNum=7, Chan=0, TestName="Random", **out)["result"]["Result"] == \
        "The channel is not available"
    clock.sleep(0.05)
    assert call(session, FClass=6, FNum=8, Chan=0, **out)["result"]["Result"].startswith("Command sent too fast")
    clock.sleep(0.05)
    assert call(session, FClass=6, FNum=8, Chan=0, **out)["result"]["Result"] == "OK"


def test_safety_limits_echo_as_singles_and_suspend_the_channel():
    clock, world, sim = system()
    session = MacNetJsonSession(sim)
    echo = call(session, FClass=6, FNum=10, Chan=0, VSafeMax=4.4, VSafeMin=2.5, ISafeChg=4.3, ISafeDis=4.3,
                PBatSafeChg=20, PBatSafeDis=20)["result"]
    assert echo["ISafeChg"] == pytest.approx(4.3, abs=1e-6) and echo["ISafeChg"] != 4.3  # single precision
    call(session, FClass=6, FNum=7, Chan=0, TestName="Random", Current=5.0, Voltage=4.5, Power=1e6, Resistance=0,
         CurrentRange=4, ChMode="C", DataTime=1, DataV=0, DataI=0)
    clock.sleep(1.0)
    status = call(session, FClass=4, FNum=7, Chan=0)["result"]
    assert (status["Stat"], status["RF2"]) == (3, 254)  # 5 A > ISafeChg 4.3 A: suspended
    assert not world.channels[0].source.output_on


def test_watchdog_suspends_a_direct_mode_channel_not_updated():
    clock, world, sim = system(direct_mode_watchdog_s=10.0)
    session = MacNetJsonSession(sim)
    call(session, FClass=6, FNum=7, Chan=1, TestName="Random", Current=1.0, Voltage=4.2, Power=1e6, Resistance=0,
         CurrentRange=4, ChMode="C", DataTime=1, DataV=0, DataI=0)
    clock.sleep(8.0)
    assert call(session, FClass=4, FNum=7, Chan=1)["result"]["Stat"] == 2
    clock.sleep(4.0)
    status = call(session, FClass=4, FNum=7, Chan=1)["result"]
    assert (status["Stat"], status["RF2"]) == (3, 192) and not world.channels[1].source.output_on


def test_binary_port_reads_and_sets_direct_output():
    clock, world, sim = system()
    call(MacNetJsonSession(sim), FClass=6, FNum=7, Chan=1, TestName="Random", Current=1.0, Voltage=4.2, Power=1e6,
         Resistance=0, CurrentRange=4, ChMode="C", DataTime=1, DataV=0, DataI=0)
    clock.sleep(1.0)
    session = MacNetBinarySession(sim)
    assert session.feed(struct.pack("<HHHH", 0, 3, 0, 2) + b"hi") == struct.pack("<HHHH", 0, 3, 0, 2) + b"hi"
    reply = session.feed(struct.pack("<HHHH", 4, 3, 0, 2))
    assert struct.unpack("<HHHHff", reply)[4:] == (0.0, pytest.approx(1.0))
    rest = struct.pack("<HHHHffffBB", 6, 8, 1, 18, 0.0, 4.2, 1e6, 0.0, 4, ord("R"))
    assert struct.unpack("<HHHHH", session.feed(rest))[4] == 0
    clock.sleep(1.0)
    sim.sync()
    assert world.channels[1].source.actual_current_a == 0.0


def test_dropped_link_fails_every_channel_of_that_system_and_not_the_other_system():
    clock = VirtualClock()
    world = SimWorld.single_cell(clock, channels=4, soc=0.5)
    sims = [MaccorSystemSim(world, [0, 1], system_id="A"), MaccorSystemSim(world, [2, 3], system_id="B")]
    streams = [maccor_stream(s, f"TCPIP::maccor-{n}::57570::SOCKET") for n, s in enumerate(sims)]
    systems = [MaccorMacNet(stream, name=f"Maccor {n}", clock=clock) for n, stream in enumerate(streams)]
    handles = [sys_.channel(k, name=f"cycler{2 * n + k - 1}") for n, sys_ in enumerate(systems) for k in (1, 2)]
    for handle in handles:
        handle.configure_protection(ProtectionLimits(4.2, 2.5, 5.0))
        handle.set_current(1.0, 4.2)
        handle.output_on()
    clock.sleep(1.0)
    before = [h.measure() for h in handles]
    streams[0].link.down = True
    errors = []
    for handle in handles[:2]:
        with pytest.raises(InstrumentConnectionLost) as info:
            handle.measure()
        errors.append(str(info.value))
    assert errors[0].startswith("cycler0: Maccor 0 (TCPIP::maccor-0::57570::SOCKET) channel 1: MacNet (4, 7): link lost")
    assert errors[1].startswith("cycler1: Maccor 0 (TCPIP::maccor-0::57570::SOCKET) channel 2: measure refused")
    clock.sleep(1.0)
    after = [h.measure() for h in handles[2:]]  # system B keeps running
    assert after[0][1] == pytest.approx(1.0) and before[2][1] == pytest.approx(1.0)
    streams[0].link.down = False  # the cable is back: the safe state reaches system A's channels
    for handle in handles[:2]:
        handle.output_off()
    assert [s.stat for s in sims[0].channels] == [0, 0]


def test_loopback_servers_reach_the_same_system():
    clock, world, sim = system()
    servers = serve_maccor(sim)
    try:
        with socket.create_connection(("127.0.0.1", servers.json_server.port), timeout=5) as sock:
            sock.sendall(json.dumps({"jsonrpc": "2.0", "method": "MacNet", "params": {"FClass": 1, "FNum": 2},
                                     "id": 3}).encode())
            data = b""
            while not data.endswith(b"\r\n"):
                chunk = sock.recv(4096)
                assert chunk
                data += chunk
        assert json.loads(data)["result"]["TestChannels"] == 2
        assert servers.resource == f"TCPIP::127.0.0.1::{servers.json_server.port}::SOCKET"
    finally:
        servers.stop()


@pytest.mark.parametrize("driver", ["maccor_macnet", "arbin_cti"])
def test_served_system_gives_bench_entries_the_production_driver_opens(driver):
    from drivers.catalog import open_channel
    from drivers.cycler_system import SystemPool
    from sim_instruments.cyclers.systems import serve_cycler_system

    clock = VirtualClock()
    world = SimWorld.single_cell(clock, channels=3, soc=0.5)
    served = serve_cycler_system(driver, world, 2, first_cell=1)
    pool = SystemPool()
    try:
        entries = served.cycler_entries()
        assert [e["channel"] for e in entries] == [1, 2] and {e["resource"] for e in entries} == {served.resource}
        handles = [open_channel(e.pop("driver"), e.pop("resource"), e.pop("channel"), name=f"cycler{n}", pool=pool,
                                clock=clock, **e) for n, e in enumerate(entries)]
        assert len(pool.systems) == 1
        handles[1].configure_protection(ProtectionLimits(4.2, 2.5, 5.0))
        handles[1].set_current(1.0, 4.2)
        handles[1].output_on()
        clock.sleep(2.0)
        assert handles[1].measure()[1] == pytest.approx(1.0)
        assert world.channels[2].source.actual_current_a == pytest.approx(1.0)  # channel 2 = cell 2
        handles[1].output_off()
    finally:
        pool.close()
        served.stop()
    with pytest.raises(ValueError, match="the world has 3 cells"):
        serve_cycler_system(driver, world, 3, first_cell=1)


def test_driver_refreshes_the_set_point_within_the_testers_watchdog():
    clock, world, sim = system(direct_mode_watchdog_s=10.0)
    maccor = MaccorMacNet(maccor_stream(sim), clock=clock, direct_mode_watchdog_s=10.0)
    channel = maccor.channel(1)
    channel.configure_protection(ProtectionLimits(4.2, 2.5, 5.0))
    channel.set_current(1.0, 4.2)
    channel.output_on()
    for _ in range(60):  # one minute of samples, one CC step: no control change from the protocol
        clock.sleep(1.0)
        assert channel.measure()[1] == pytest.approx(1.0)
    assert sim.channels[0].stat == 2 and channel.protection_tripped() == ""
    assert sim.channels[0].step > 10  # the set point went out again every 5 s
