"""Delegated execution on Arbin (issue 29 item 4): a program written as an Arbin schedule, uploaded
and started through CTI by the production driver, run by the simulated MITS Pro on the shared world
with no client asking, its stored records read back; the cycler's own safety, a schedule it
refuses, a stop; and the public client pyctiarbin starting the uploaded schedule over loopback TCP."""

from __future__ import annotations

import logging

import pytest

from drivers.arbin_cti import ArbinCti
from drivers.arbin_delegated import ArbinScheduleChannel
from drivers.arbin_schedule import CAPABILITIES, ScheduleUnsupported, write_schedule, write_step_file
from drivers.delegated.program import DelegatedEnd, DelegatedLimits, DelegatedProgram, DelegatedStep
from drivers.errors import InstrumentCommandError
from sim_instruments.cyclers.arbin_cti import ArbinSystemSim
from sim_instruments.cyclers.arbin_wire import arbin_stream, serve_arbin
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
    sim = ArbinSystemSim(world)
    system = ArbinCti(arbin_stream(sim), username="admin", password="000000", clock=clock)
    files = ArbinCti(arbin_stream(sim, "TCPIP::arbin-sim::9032::SOCKET"), username="admin", password="000000",
                     clock=clock)
    return clock, world, sim, ArbinScheduleChannel(system, 1, files)


def run_alone(clock: VirtualClock, world: SimWorld, sim: ArbinSystemSim, limit_s: float = 20000.0) -> None:
    """Time passes with no client asking anything: only the world's ticker (as ``bench sim serve``'s)."""
    for _ in range(int(limit_s)):
        clock.sleep(1.0)
        world.sync()
        if not sim.channels[0].running:
            return


def test_the_written_schedule_runs_on_the_cycler_with_no_client_and_its_records_come_back(bench):
    clock, world, sim, channel = bench
    written = write_schedule(program())
    assert "m_VoltageSafetyScope=2.500000^4.250000" in written.text and "temperature limit 60" in written.notes[0]
    channel.download(write_step_file(program()), "cb_demo")
    assert sim.channels[0].schedule == "cb_demo.sdu"
    channel.start("cb_demo_run1")
    assert channel.status().state == "running" and channel.status().test_id == "cb_demo_run1"
    run_alone(clock, world, sim)
    status = channel.status()
    assert status.state == "finished", status
    records = channel.records_since(0.0)
    times = [r.test_time_s for r in records]
    assert times == sorted(times) and len(records) > 100
    # The CCCV step (index 1) ended on its taper: its last record at 4.1 V and at most 0.3 A (+ one second's taper).
    cccv = [r for r in records if r.step_index == 1]
    assert cccv[-1].voltage_v == pytest.approx(4.1, abs=0.01) and 0 < cccv[-1].current_a <= 0.31
    # The loop ran its body three times: three discharge steps of 60 s, the Cycle Index counted 1 -> 4.
    discharge_starts = [r for k, r in enumerate(records) if r.step_index == 3 and records[k - 1].step_index != 3]
    assert len(discharge_starts) == 3 and max(r.cycle_index for r in records) == 4
    later = channel.records_since(times[-20])
    assert [r.test_time_s for r in later] == times[-19:]


def test_the_cyclers_own_voltage_safety_ends_the_test_without_the_pc(bench):
    clock, world, sim, channel = bench
    tight = DelegatedLimits(voltage_max_v=4.0, voltage_min_v=2.5, current_max_a=5.0)
    channel.download(write_step_file(program(tight)), "cb_tight")
    channel.start("cb_tight_run")
    run_alone(clock, world, sim)
    status = channel.status()
    assert status.state == "alarm" and "above the safety limit 4 V" in status.detail
    assert not world.channels[0].source.output_on


def test_a_schedule_the_cycler_cannot_run_is_refused_at_start_and_a_stop_stops(bench):
    clock, world, sim, channel = bench
    channel.download(b"[Schedule]\r\nm_uStepNum=1\r\n[Schedule_Step0]\r\nm_szLabel=a\r\n"
                     b"m_szStepCtrlType=Internal Resistance\r\nm_uLimitNum=0\r\n", "cb_bad")
    with pytest.raises(InstrumentCommandError, match=r"Arbin .*channel 1.*0x14"):
        channel.start("cb_bad_run")
    channel.download(write_step_file(program()), "cb_demo")
    channel.start("cb_stop_run")
    for _ in range(30):
        clock.sleep(1.0)
        world.sync()
    channel.stop()
    assert channel.status().state == "finished" and "Stopped by CTI" in channel.status().detail
    assert not world.channels[0].source.output_on


def test_what_the_arbin_writer_cannot_express_is_refused_with_the_protocol_place():
    bad = DelegatedProgram("x", (DelegatedStep("cp", power_w=5.0, ends=(DelegatedEnd("time_s", ">=", 5),),
                                               source="q.yaml:2:3"),
                                 DelegatedStep("cc", current_a=1.0, ends=(DelegatedEnd("capacity_ah", ">=", 0.5),),
                                               source="q.yaml:3:3")), LIMITS)
    with pytest.raises(ScheduleUnsupported) as err:
        write_schedule(bad)
    assert str(err.value).splitlines() == [
        "q.yaml:2:3: constant power: no Power(W) control type in the public Arbin schedule files",
        "q.yaml:3:3: step capacity end: the public Arbin files show only cycle capacity counters"]
    assert {p.split(": ")[0] for p in CAPABILITIES.problems(bad)} == {"q.yaml:2:3", "q.yaml:3:3"}


def test_pyctiarbin_starts_the_uploaded_schedule_and_reads_it_running(bench, monkeypatch, tmp_path, caplog):
    pyctiarbin = pytest.importorskip("pyctiarbin")
    clock, world, sim, channel = bench
    channel.upload(f"{sim.work_dir}\\cb_pycti.sdu", write_step_file(program()))
    monkeypatch.setenv("ARBIN_CTI_USERNAME", "admin")
    monkeypatch.setenv("ARBIN_CTI_PASSWORD", "000000")
    server = serve_arbin(sim)
    try:
        with caplog.at_level(logging.WARNING):
            client = pyctiarbin.ChannelInterface({"channel": 2, "test_name": "pycti_sched", "ip_address": "127.0.0.1",
                                                  "schedule_name": "cb_pycti.sdu", "port": server.server.port},
                                                 env_path=str(tmp_path / "no.env"))
            assert client.start_test()
            for _ in range(15):
                clock.sleep(1.0)
                world.sync()
            status = client.read_channel_status()
            assert (status["status"], status["testname"], status["schedule"]) == ("Charge", "pycti_sched",
                                                                                   "cb_pycti.sdu")
            assert status["current_a"] == pytest.approx(2.0, abs=0.01)
            assert client.stop_test()
            assert client.read_channel_status()["status"] == "Finished"
    finally:
        server.stop()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("pyctiarbin")]


def test_the_catalog_opens_the_delegated_channel_over_tcp_on_both_cti_ports(bench):
    from drivers.catalog import open_delegated

    clock, world, sim, _in_process = bench
    server = serve_arbin(sim)
    try:
        channel = open_delegated("arbin_schedule", server.resource, name="cycler", channel=2, username="admin",
                                 password="000000", file_resource=server.file_resource)
        try:
            assert "channel 2 of 2 (schedules)" in channel.verify_identity()
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
        server.stop()
