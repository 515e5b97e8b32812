"""Delegated execution on Maccor (issue 29 item 4): a program written as a Maccor test procedure,
sent over the binary MacNet port ((1, 6)) and started with (6, 11)/(6, 2) by the production driver,
run by the simulated tester on the shared world with no client asking, its data file read back
((1, 7)); the tester's own voltage safety, a procedure it refuses, a reset; and the public client
pymacnet starting the sent procedure over loopback TCP."""

from __future__ import annotations

import logging

import pytest

from drivers.delegated.program import DelegatedEnd, DelegatedLimits, DelegatedProgram, DelegatedStep
from drivers.errors import InstrumentCommandError
from drivers.maccor_delegated import MaccorProcedureChannel
from drivers.maccor_macnet import MaccorMacNet
from drivers.maccor_procedure import CAPABILITIES, ProcedureUnsupported, hms, notes, write_step_file
from sim_instruments.cyclers.maccor_macnet import MaccorSystemSim
from sim_instruments.cyclers.maccor_wire import MacNetBinarySession, maccor_stream, serve_maccor
from sim_instruments.wire.stream_server import SimByteStream
from sim_instruments.world.clock import VirtualClock
from sim_instruments.world.sim_world import SimWorld

pytestmark = pytest.mark.timeout(120)
LIMITS = DelegatedLimits(voltage_max_v=4.25, voltage_min_v=2.5, current_max_a=5.0, temperature_max_c=60.0)


def program(limits: DelegatedLimits = LIMITS) -> DelegatedProgram:
    """Rest 10 s; CCCV 2 A to 4.1 V until 0.3 A; rest 20 s; 3 x (discharge 1 A for 60 s, rest 20 s); end."""
    return DelegatedProgram("arbin_demo", (
        DelegatedStep("rest", ends=(DelegatedEnd("time_s", ">=", 10.0),), source="p.yaml:3:3"),
        DelegatedStep("cccv", current_a=2.0, voltage_v=4.1,
                      ends=(DelegatedEnd("current_a", "<=", 0.3), DelegatedEnd("time_s", ">=", 7200.0)),
                      source="p.yaml:4:3"),
        DelegatedStep("rest", ends=(DelegatedEnd("time_s", ">=", 20.0),), source="p.yaml:5:3"),
        DelegatedStep("cc", current_a=-1.0, ends=(DelegatedEnd("time_s", ">=", 60.0),
                                                  DelegatedEnd("voltage_v", "<=", 2.8)), source="p.yaml:7:5"),
        DelegatedStep("rest", ends=(DelegatedEnd("time_s", ">=", 20.0),), source="p.yaml:8:5"),
        DelegatedStep("cycle", loop_to=3, loop_count=3, source="p.yaml:6:3"),
        DelegatedStep("end", source="p.yaml:9:3"),
    ), limits)


@pytest.fixture
def bench():
    clock = VirtualClock()
    world = SimWorld.single_cell(clock, channels=2, soc=0.5)
    sim = MaccorSystemSim(world)
    system = MaccorMacNet(maccor_stream(sim), clock=clock)
    binary = SimByteStream(lambda: MacNetBinarySession(sim), "TCPIP::maccor-sim::57560::SOCKET", lock=world.lock)
    return clock, world, sim, MaccorProcedureChannel(system, 1, binary)


def run_alone(clock: VirtualClock, world: SimWorld, sim: MaccorSystemSim, limit_s: float = 20000.0) -> None:
    """Time passes with no client asking anything: only the world's ticker (as ``bench sim serve``'s)."""
    for _ in range(int(limit_s)):
        clock.sleep(1.0)
        world.sync()
        if 0 not in sim.procedure_tests.running or sim.channels[0].stat != 2:
            return


def test_the_written_procedure_runs_on_the_tester_with_no_client_and_its_data_comes_back(bench):
    clock, world, sim, channel = bench
    channel.download(write_step_file(program()), "cb_demo")
    assert "cb_demo" in sim.procedure_tests.procedures
    channel.start("cb_demo_run1")
    status = channel.status()
    assert (status.state, status.test_id) == ("running", "cb_demo_run1")
    run_alone(clock, world, sim)
    assert channel.status().state == "finished"
    records = channel.records_since(0.0)
    times = [r.test_time_s for r in records]
    assert times == sorted(times) and len(records) > 100
    cccv = [r for r in records if r.step_index == 1]  # program step 1 (Maccor step 002): the CC-CV charge
    assert cccv[-1].voltage_v == pytest.approx(4.1, abs=0.01) and 0 < cccv[-1].current_a <= 0.31
    # Do 1 / AdvCycle / Loop 1: the discharge (program step 3, Maccor step 005 after the Do at 004) ran three
    # times, the cycle 1 -> 4; the driver maps the tester's step numbers back to the program's.
    starts = [r for k, r in enumerate(records) if r.step_index == 3 and records[k - 1].step_index != 3]
    assert len(starts) == 3 and max(r.cycle_index for r in records) == 4
    assert [r.test_time_s for r in channel.records_since(times[-10])] == times[-9:]


def test_the_testers_own_voltage_safety_suspends_the_channel_without_the_pc(bench):
    clock, world, sim, channel = bench
    channel.download(write_step_file(program(DelegatedLimits(4.0, 2.5, 5.0))), "cb_tight")
    channel.start("cb_tight_run")
    run_alone(clock, world, sim)
    assert channel.status().state == "alarm" and not world.channels[0].source.output_on


def test_a_procedure_the_tester_cannot_compile_is_refused_with_its_reason_and_a_reset_stops(bench):
    clock, world, sim, channel = bench
    channel.download(b"<MaccorTestProcedure><ProcSteps><TestStep><StepType>  FRA   </StepType></TestStep>"
                     b"</ProcSteps></MaccorTestProcedure>", "cb_bad")
    with pytest.raises(InstrumentCommandError, match=r"Maccor .*channel 1.*Compile error.*step 001.*FRA"):
        channel.start("cb_bad_run")
    channel.download(write_step_file(program()), "cb_demo")
    channel.start("cb_stop_run")
    for _ in range(30):
        clock.sleep(1.0)
        world.sync()
    assert channel.latest().current_a == pytest.approx(2.0, abs=0.01)
    channel.stop()
    assert channel.status().state == "stopped" and not world.channels[0].source.output_on


def test_what_the_maccor_writer_cannot_express_is_refused_with_the_protocol_place():
    bad = DelegatedProgram("x", (DelegatedStep("cp", power_w=5.0, ends=(DelegatedEnd("time_s", ">=", 5),),
                                               source="q.yaml:2:3"),
                                 DelegatedStep("cc", current_a=1.0, ends=(DelegatedEnd("capacity_ah", ">=", 0.5),),
                                               source="q.yaml:3:3")), LIMITS)
    with pytest.raises(ProcedureUnsupported) as err:
        write_step_file(bad)
    assert str(err.value).splitlines() == [
        "q.yaml:2:3: constant power: no power step mode in the public Maccor procedure files",
        "q.yaml:3:3: step capacity end: no capacity end type in the public Maccor procedure files"]
    assert {p.split(": ")[0] for p in CAPABILITIES.problems(bad)} == {"q.yaml:2:3", "q.yaml:3:3"}
    assert hms(3725.5) == "01:02:05.50" and "current limit 5 A" in notes(program())[0]


def test_pymacnet_starts_the_sent_procedure_and_reads_it_running(bench, caplog):
    pymacnet = pytest.importorskip("pymacnet")
    clock, world, sim, channel = bench
    channel.download(write_step_file(program()), "cb_pymacnet")
    servers = serve_maccor(sim)
    try:
        config = {"server_ip": "127.0.0.1", "json_msg_port": servers.json_server.port,
                  "bin_msg_port": servers.binary_server.port, "msg_buffer_size_bytes": 4096, "channel": 2,
                  "test_name": "pymacnet_run", "c_rate_ah": 1, "v_max_v": 4.2, "v_min_v": 3.0,
                  "v_max_safety_limit_v": 4.25, "v_min_safety_limit_v": 2.5, "i_max_safety_limit_a": 5.0,
                  "i_min_safety_limit_a": 5.0, "power_safety_limit_chg_w": 25, "power_safety_limit_dsg_w": 25,
                  "data_record_time_s": 1.0, "data_record_voltage_delta_vbys": 0.0,
                  "data_record_current_delta_abys": 0.0, "test_procedure": "cb_pymacnet"}
        client = pymacnet.ChannelInterface(config)
        with caplog.at_level(logging.WARNING, logger="pymacnet"):
            assert client.start_test_with_procedure()
            for _ in range(15):
                clock.sleep(1.0)
                world.sync()
            status = client.read_channel_status()
            assert status["Stat"] == 2 and status["Current"] == pytest.approx(2.0, abs=0.01)
            assert client.reset_channel() and sim.channels[1].stat == 0
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    finally:
        servers.stop()


def test_the_catalog_opens_the_delegated_channel_over_tcp_on_both_macnet_ports(bench):
    from drivers.catalog import open_delegated

    clock, world, sim, _in_process = bench
    servers = serve_maccor(sim)
    try:
        channel = open_delegated("maccor_procedure", servers.resource, name="cycler", channel=2,
                                 binary_resource=f"TCPIP::127.0.0.1::{servers.binary_server.port}::SOCKET")
        try:
            assert "channel 2 of 2 (procedures)" in channel.verify_identity()
            channel.download(write_step_file(program()), "cb_tcp")
            channel.start("cb_tcp_run")
            for _ in range(200):
                clock.sleep(1.0)
                world.sync()
            assert channel.status().state == "running" and channel.latest().test_time_s == pytest.approx(200, abs=1)
            records = channel.records_since(100.0)
            assert records[0].test_time_s > 100.0 and len(records) >= 99
        finally:
            channel.close()
    finally:
        servers.stop()


def test_a_driver_opened_after_a_restart_maps_the_testers_steps_from_the_procedure_it_reads_back(bench):
    clock, world, sim, channel = bench
    channel.download(write_step_file(program()), "cb_restart")
    channel.start("cb_restart_run")
    for _ in range(20):  # into the CC-CV charge, program step 1 (Maccor step 002)
        clock.sleep(1.0)
        world.sync()
    fresh = MaccorProcedureChannel(MaccorMacNet(maccor_stream(sim), clock=clock), 1, SimByteStream(
        lambda: MacNetBinarySession(sim), "TCPIP::maccor-sim::57560::SOCKET", lock=world.lock))
    status = fresh.status()  # (4, 6) names the procedure, (1, 7) reads it back, its step notes map 002 -> 1
    assert (status.state, status.test_id, status.step_index) == ("running", "cb_restart_run", 1)
    assert fresh.latest().step_index == 1
