"""Outside-client conformance: the public client pymacnet (PyPI, pinned in the ``test`` extra) runs
its ordinary calls against the simulated Maccor tester over loopback TCP (JSON and binary ports).

Finding recorded here: pymacnet 1.1.3 sends its rest command ((6, 8) ChMode ``R``, on the binary
port because JSON ``R`` does not rest a real tester) with ``Chan = channel + 1``, while MacNet's
``Chan`` is 0-based (``channel - 1``): the rest goes to the channel two numbers higher and the
channel asked for keeps its current. The simulator answers as the manual says; the test pins the
behaviour so a fixed pymacnet release shows up.
"""

from __future__ import annotations

import logging

import pytest

from sim_instruments.cyclers.maccor_macnet import MaccorSystemSim
from sim_instruments.cyclers.maccor_wire import serve_maccor
from sim_instruments.world.clock import VirtualClock
from sim_instruments.world.sim_world import SimWorld

pymacnet = pytest.importorskip("pymacnet")
pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def served():
    clock = VirtualClock()
    world = SimWorld.single_cell(clock, channels=4, soc=0.5)
    sim = MaccorSystemSim(world)
    servers = serve_maccor(sim)
    yield clock, world, sim, servers
    servers.stop()


def config(servers, channel: int) -> dict:
    return {"server_ip": "127.0.0.1", "json_msg_port": servers.json_server.port,
            "bin_msg_port": servers.binary_server.port, "msg_buffer_size_bytes": 4096, "channel": channel,
            "test_name": "", "c_rate_ah": 1, "v_max_v": 4.2, "v_min_v": 3.0, "v_max_safety_limit_v": 4.25,
            "v_min_safety_limit_v": 2.9, "i_max_safety_limit_a": 3.0, "i_min_safety_limit_a": 3.0,
            "power_safety_limit_chg_w": 25, "power_safety_limit_dsg_w": 25, "data_record_time_s": 0.05,
            "data_record_voltage_delta_vbys": 0.0, "data_record_current_delta_abys": 0.0,
            "test_procedure": "test_procedure_1"}


def test_pymacnet_ordinary_calls_leave_no_error(served, caplog):
    clock, world, sim, servers = served
    channel = pymacnet.ChannelInterface(config(servers, 2))
    with caplog.at_level(logging.WARNING, logger="pymacnet"):
        assert channel.get_num_channels() == 4
        assert channel.read_system_info()["MacTest32EXEversionMajor"] == 3
        assert channel.read_general_info()["TestChannels"] == 4
        assert [s["Stat"] for s in channel.read_all_channel_statuses()] == [0, 0, 0, 0]
        status = channel.read_channel_status()
        assert status["Chan"] == 2 and status["Voltage"] == pytest.approx(world.channels[1].cell.terminal_voltage_v(0),
                                                                          abs=0.01)
        assert channel.read_aux() == [pytest.approx(25.0, abs=0.5)]
        assert channel.start_test_with_direct_control()  # sets the safety limits (checked echo) first
        assert sim.channels[1].safety["VSafeMax"] == pytest.approx(4.25)
        clock.sleep(1.0)
        assert channel.set_direct_mode_output(current_a=0.5)
        clock.sleep(5.0)
        assert channel.read_channel_status()["Current"] == pytest.approx(0.5)
        assert world.channels[1].source.actual_current_a == pytest.approx(0.5)
        assert channel.set_direct_mode_output(current_a=-0.5)
        clock.sleep(5.0)
        sim.sync()
        assert world.channels[1].source.actual_current_a == pytest.approx(-0.5)
        assert channel.set_channel_variable(var_num=1, var_value=0.01)
        assert sim.channels[1].variables[0] == pytest.approx(0.01)
        assert channel.reset_channel()
        assert sim.channels[1].stat == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


def test_pymacnet_start_with_procedure_reports_the_testers_reason(served, caplog):
    _, _, _, servers = served
    channel = pymacnet.ChannelInterface(config(servers, 1))
    with caplog.at_level(logging.ERROR, logger="pymacnet"):
        assert channel.start_test_with_procedure() is False
    assert "Comment from Maccor: Procedure does not exist" in caplog.text


def test_pymacnet_rest_addresses_chan_plus_one(served):
    clock, world, sim, servers = served
    channel = pymacnet.ChannelInterface(config(servers, 1))
    assert channel.start_test_with_direct_control()
    clock.sleep(1.0)
    assert channel.set_direct_mode_output(current_a=0.5)
    clock.sleep(1.0)
    assert channel.set_direct_mode_output(current_a=0)  # pymacnet reports success...
    clock.sleep(1.0)
    sim.sync()
    assert world.channels[0].source.actual_current_a == pytest.approx(0.5)  # ...channel 1 still charges
