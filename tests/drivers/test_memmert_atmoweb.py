"""Memmert AtmoWEB oven driver: GET conversations, then over HTTP against the simulated oven
(production driver, urllib, loopback server), and the independent pyatmoweb client against it."""

from __future__ import annotations

import pytest

from bench.simulated.serve import start_sim_servers
from drivers.catalog import open_instrument
from drivers.errors import InstrumentCommandError, InstrumentError, InstrumentReplyError, SetpointOutOfRange
from drivers.memmert_atmoweb import MemmertAtmoWeb
from sim_instruments.chambers.memmert_oven import MANUAL_COMMANDS, MemmertOvenSim
from sim_instruments.world.chamber_air import oven_model
from sim_instruments.world.clock import VirtualClock
from sim_instruments.world.sim_world import SimWorld

IDENTITY_GET = "atmoweb?DevType=&SN=&SWRev=&RC=&TempSet_Range="
IDENTITY_REPLY = ('"DevType": "UF110plus","SN": "B213.0417","SWRev": "2.5.3","RC": "rw",'
                  '"TempSet_Range": {"min": 20.0, "max": 300.0},')


class GetConversation:
    """Fake GET transport: ``(path, body)`` pairs used exactly, in order."""

    resource = "http://conversation"

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = list(pairs)

    def get(self, path: str) -> str:
        assert self.pairs, f"unexpected extra GET {path!r}"
        want, body = self.pairs.pop(0)
        assert path == want, f"sent GET {path!r}, script expects {want!r}"
        return body

    def close(self) -> None:
        """Nothing to close."""

    def assert_done(self) -> None:
        assert not self.pairs, f"unused pairs: {self.pairs}"


def test_identity_setpoint_read_stop_conversation():
    conv = GetConversation([
        (IDENTITY_GET, IDENTITY_REPLY),
        ("atmoweb?TempSet=200.0", '"TempSet": 200.0,'),
        ("atmoweb?CurOp=", '"CurOp": "Manual",'),
        ("atmoweb?Temp1Read=", '"Temp1Read": 28.7,'),
        ("atmoweb?Temp1Read=&AlTempLo=&AlTempHi=&DoorOpen=", '"Temp1Read": 28.7,"AlTempLo": 0.0,"AlTempHi": 310.0,'
                                                            '"DoorOpen": 0,'),
        ("atmoweb?TempSet=20.0", '"TempSet": 20.0,'),
    ])
    oven = MemmertAtmoWeb(conv, name="oven")
    assert oven.verify_identity() == "Memmert,UF110plus,B213.0417,2.5.3"
    assert oven.setpoint_range_c == (20.0, 300.0)
    oven.set_setpoint_c(200.0)
    oven.start()
    assert oven.read_air_c() == pytest.approx(28.7)
    assert oven.alarm() == ""
    oven.stop()
    conv.assert_done()


def test_refusals_and_bad_replies_name_the_oven():
    conv = GetConversation([
        ("atmoweb?DevType=&SN=&SWRev=&RC=&TempSet_Range=", IDENTITY_REPLY.replace('"rw"', '"r"')),
        ("atmoweb?TempSet=250.0", '"TempSet": 200.0,'),
        ("atmoweb?Temp1Read=", "<html>busy</html>"),
        ("atmoweb?Temp1Read=", '"Temp1Read": "N/A",'),
        ("atmoweb?CurOp=", '"CurOp": "Program",'),
    ])
    oven = MemmertAtmoWeb(conv, name="oven")
    with pytest.raises(InstrumentCommandError, match=r"oven \(Memmert AtmoWEB http://conversation\).*write \+ read"):
        oven.verify_identity()
    with pytest.raises(InstrumentCommandError, match="not applied"):
        oven.set_setpoint_c(250.0)
    with pytest.raises(SetpointOutOfRange):
        oven.set_setpoint_c(350.0)
    with pytest.raises(InstrumentReplyError, match="oven .*not AtmoWEB"):
        oven.read_air_c()
    with pytest.raises(InstrumentReplyError, match="Temp1Read answered 'N/A'"):
        oven.read_air_c()
    with pytest.raises(InstrumentCommandError, match="'Program' operation"):
        oven.start()
    conv.assert_done()


def _world() -> tuple[SimWorld, MemmertOvenSim]:
    world = SimWorld.single_cell(VirtualClock(), preset="nmc_21700", temperature_c=25.0)
    world.chamber = oven_model(25.0)
    return world, MemmertOvenSim(world)


def test_simulator_answers_every_implemented_manual_row():
    world, sim = _world()
    replies = {
        "atmoweb?Temp1Read=": '"Temp1Read": 25.0,',
        "atmoweb?Temp2Read=": '"Temp2Read": "N/A",',
        "atmoweb?TempSet=200.0": '"TempSet": 200.0,',
        "atmoweb?TempSet_Range=": '"TempSet_Range": {"min": 20.0, "max": 300.0},',
        "atmoweb?AlTempHi=": '"AlTempHi": 310.0,',
        "atmoweb?AlTempLo_Range=": '"AlTempLo_Range": {"min": 0.0, "max": 310.0},',
        "atmoweb?FanRead=": '"FanRead": 100.0,',
        "atmoweb?FlapSet=": '"FlapSet": 0.0,',
        "atmoweb?DoorOpen=": '"DoorOpen": 0,',
        "atmoweb?CurOp=": '"CurOp": "Manual",',
        "atmoweb?DevType=&SN=&SWRev=": '"DevType": "UF110plus","SN": "B213.0417","SWRev": "2.5.3 (CellBench simulator)",',
        "atmoweb?Time=": '"Time": "2026-01-01T00:00:00",',
        "atmoweb?RC=": '"RC": "rw",',
        "atmoweb?HumRead=": '"HumRead": "N/A",',
        "atmoweb?ProgList=": '"ProgList": "N/A",',
    }
    for row in MANUAL_COMMANDS:
        assert row.example in replies, f"no expectation for {row.example}"
    for get, body in replies.items():
        assert sim.handle_query(get.partition("?")[2]) == body, get
    assert world.chamber.setpoint_c == 200.0
    # out of range and read-only: not applied, the reply carries the held value
    assert sim.handle_query("TempSet=350") == '"TempSet": 200.0,'
    sim.remote_control = "r"
    assert sim.handle_query("TempSet=100") == '"TempSet": 200.0,'


def test_oven_heats_at_its_rate_limit_and_cannot_cool_below_passive():
    world, sim = _world()
    sim.handle_query("TempSet=200.0")
    world.clock.sleep(600.0)
    first = float(sim.handle_query("Temp1Read=").split(":")[1].rstrip(","))
    assert first == pytest.approx(125.0, abs=0.2)  # 10 K/min ramp from 25 °C
    world.clock.sleep(3600.0)
    world.sync()
    assert world.chamber.air_c == pytest.approx(200.0, abs=0.1)
    sim.handle_query("TempSet=20.0")  # heater off: passive cooling (tau 40 min), never below the lab
    world.clock.sleep(2400.0)
    world.sync()
    assert 22.0 + (200.0 - 22.0) * 0.3 < world.chamber.air_c < 22.0 + (200.0 - 22.0) * 0.45


@pytest.fixture
def served_oven():
    clock = VirtualClock()
    with start_sim_servers(chamber="memmert_oven", clock=clock) as servers:
        yield servers, clock


def test_production_driver_over_http(served_oven):
    servers, clock = served_oven
    resource = servers.instruments["chamber"].resource
    assert resource.startswith("http://127.0.0.1:")
    assert servers.bench_config()["chamber"]["driver"] == "memmert_atmoweb"
    oven = open_instrument("memmert_atmoweb", resource, name="oven", timeout_s=2.0)
    assert oven.verify_identity().startswith("Memmert,UF110plus,")
    oven.set_setpoint_c(130.0)
    oven.start()
    clock.sleep(1200.0)
    assert oven.read_air_c() > 120.0
    assert oven.read_setpoint_c() == pytest.approx(130.0)
    assert oven.alarm() == ""
    oven.stop()
    assert oven.read_setpoint_c() == pytest.approx(20.0)
    with pytest.raises(InstrumentReplyError, match="HTTP 404"):
        oven.transport.get("nothing?Temp1Read=")
    servers.instruments["chamber"].server.stop()
    with pytest.raises(InstrumentError, match=resource):
        oven.read_air_c()


def test_pyatmoweb_reads_the_simulated_oven(served_oven):
    """The independent PyPI client (pyatmoweb 0.0.3, requests) against our simulator."""
    pyatmoweb = pytest.importorskip("pyatmoweb")
    servers, _clock = served_oven
    address = servers.instruments["chamber"].resource.removeprefix("http://")
    assert pyatmoweb.get_temp_1(address) == pytest.approx(25.0)
    assert [pyatmoweb.get_temp_2(address), pyatmoweb.get_temp_3(address), pyatmoweb.get_temp_4(address)] == [None] * 3
    assert pyatmoweb.get_low_temp_alarm(address) == 0.0
    assert pyatmoweb.get_high_temp_alarm(address) == 310.0
    assert pyatmoweb.get_low_temp_alarm_range(address) == {"min": 0.0, "max": 310.0}
    assert pyatmoweb.get_high_temp_alarm_range(address) == {"min": 0.0, "max": 310.0}
    assert pyatmoweb.get_serial_number(address) == "B213.0417"
    assert pyatmoweb.get_Device_Type(address) == "UF110plus"
    assert pyatmoweb.get_software_version(address).startswith("2.5.3")
    assert pyatmoweb.get_remote_control_permissions(address) == "rw"
    assert pyatmoweb.get_program_state(address) == "Manual"
    assert pyatmoweb.get_door_state(address) == 0
    assert pyatmoweb.get_time(address) == "2026-01-01T00:00:00"
    assert pyatmoweb.get_humidity(address) is None
