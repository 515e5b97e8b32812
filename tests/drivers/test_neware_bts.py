"""The Neware BTS driver (DelegatedChannel) against the simulated BTS: in process on a virtual
clock and over loopback TCP; the step-file writer's capabilities; bench sim serve's bench file."""

from __future__ import annotations

import math

import pytest

from drivers.catalog import DRIVERS, open_delegated
from drivers.delegated.program import DelegatedEnd, DelegatedLimits, DelegatedProgram, DelegatedStep
from drivers.errors import InstrumentCommandError, InstrumentError, InstrumentReplyError
from drivers.neware_bts import open_neware_channel
from drivers.neware_stepfile import CAPABILITIES, StepFileUnsupported, problems, write_step_file
from sim_instruments.cyclers.neware_bts import NewareBtsSim, neware_stream, serve_neware
from sim_instruments.cyclers.neware_bts.stepfile import parse_step_file
from sim_instruments.world.clock import VirtualClock
from sim_instruments.world.sim_world import SimWorld

pytestmark = pytest.mark.timeout(60)
LIMITS = DelegatedLimits(voltage_max_v=4.3, voltage_min_v=2.5, current_max_a=6.0, temperature_max_c=60.0)


def charge_program() -> DelegatedProgram:
    return DelegatedProgram("charge", (
        DelegatedStep("cc", current_a=2.5, ends=(DelegatedEnd("voltage_v", ">=", 4.1),), record_period_s=5.0),
        DelegatedStep("cv", current_a=2.5, voltage_v=4.1, ends=(DelegatedEnd("current_a", "<=", 0.5),
                                                               DelegatedEnd("time_s", ">=", 3600.0))),
        DelegatedStep("rest", ends=(DelegatedEnd("time_s", ">=", 300.0),)),
    ), LIMITS)


@pytest.fixture
def sim() -> NewareBtsSim:
    return NewareBtsSim(SimWorld.single_cell(VirtualClock(), channels=2, soc=0.2))


def test_driver_runs_a_program_and_backfills_in_process(sim, tmp_path):
    """Claim: download + start runs the written step file on the cycler; status, latest and
    records_since follow it; the records after any instant come back complete and in order."""
    ch = open_neware_channel("TCPIP::bts::502::SOCKET", stream=neware_stream(sim), pipeline="21-1-2",
                             step_dir=tmp_path)
    assert ch.step_format == "neware_xml" and ch.status().state == "finished"
    ch.download(write_step_file(charge_program()), "charge run/1")
    assert (tmp_path / "charge_run_1.xml").exists()
    ch.start("run-42")
    clock = sim.world.clock
    seen = []
    while ch.status().state == "running" and clock.now_s() < 50_000:
        clock.sleep(2.0)
        seen.append(ch.latest())
    status = ch.status()
    assert status.state == "finished" and status.test_id == "run-42"
    running = [s for s in seen if s.step_index > 0]
    assert {s.step_index for s in running} == {1, 2, 3}
    assert all(s.voltage_v <= 4.1 + 2e-3 for s in running)  # CC stopped at 4.1 V, CV held it
    assert math.isnan(running[0].temperature_c)
    all_records = ch.records_since(-1.0)
    later = ch.records_since(1000.0)
    assert later and all(r.test_time_s > 1000.0 for r in later)
    assert [r.test_time_s for r in all_records if r.test_time_s > 1000.0] == [r.test_time_s for r in later]
    assert all(b.test_time_s > a.test_time_s for a, b in zip(all_records, all_records[1:], strict=False))


def test_start_refused_names_the_reason_and_stop_confirms(sim, tmp_path):
    ch = open_neware_channel("TCPIP::bts::502::SOCKET", stream=neware_stream(sim), channel=1, step_dir=tmp_path)
    ch.download(b"<root><config type='Step File'><Step_Info/></config></root>", "empty")
    with pytest.raises(InstrumentCommandError, match=r"channel 21-1-1\): start refused: step file empty.xml: no "
                                                     r"Step_Info steps"):
        ch.start("t1")
    ch.download(write_step_file(charge_program()), "ok")
    ch.start("t2")
    with pytest.raises(InstrumentCommandError, match="start refused: channel is working"):
        ch.start("t3")
    sim.world.clock.sleep(10.0)
    ch.stop()
    assert ch.status().state == "stopped" and not sim.world.channels[0].source.output_on
    ch.stop()  # stopping a stopped channel is no error


def test_alarm_link_drop_and_garbage(sim, tmp_path):
    """A channel alarm reads as state alarm; a dropped link is one clear error naming the BTS and
    channel; a garbage reply is an InstrumentReplyError."""
    stream = neware_stream(sim)
    ch = open_neware_channel("TCPIP::bts::502::SOCKET", stream=stream, channel=1, step_dir=tmp_path)
    ch.download(write_step_file(charge_program()), "p")
    ch.start("t")
    sim.world.clock.sleep(5.0)
    sim.alarm(1, "aux temperature high")
    assert ch.status().state == "alarm"
    stream.link.down = True
    with pytest.raises(InstrumentError, match=r"Neware BTS TCPIP::neware-sim::502::SOCKET channel 21-1-1\): link lost"):
        ch.status()
    stream.link.down = False
    assert ch.status().state == "alarm"  # reconnected on the next command

    class Garbage:
        resource = "garbage"

        def send(self, data: bytes) -> None: ...

        def recv_until(self, terminator: bytes) -> bytes:
            return b"\x00\xffnot xml" + terminator

        def close(self) -> None: ...

    ch.stream = Garbage()  # type: ignore[assignment]
    with pytest.raises(InstrumentReplyError, match="garbage reply to inquire"):
        ch.latest()


def test_over_loopback_tcp_the_channel_keeps_running_without_the_client(tmp_path):
    """Over TCP through the catalog's opener: start, close the client; the served cycler runs on;
    a new client reattaches by the test id and finds the records of the time it was away."""
    clock = VirtualClock()
    sim = NewareBtsSim(SimWorld.single_cell(clock, channels=1, soc=0.2))
    server = serve_neware(sim)
    resource = server.resource
    try:
        assert DRIVERS["neware_bts"].transport == "delegated"
        ch = open_delegated("neware_bts", server.resource, name="cycler", channel=1, step_dir=str(tmp_path))
        ch.download(write_step_file(charge_program()), "p")
        ch.start("ageing-1")
        clock.sleep(100.0)
        before = ch.latest().test_time_s
        ch.close()
        for _ in range(90):  # the PC is away 900 s; the cycler runs on (synced every 10 s)
            clock.sleep(10.0)
            sim.sync()
        again = open_delegated("neware_bts", server.resource, name="cycler", pipeline="21-1-1")
        assert again.status().test_id == "ageing-1"
        missed = again.records_since(before)
        assert missed[0].test_time_s > before and missed[-1].test_time_s >= 900.0
        assert len(missed) >= 85  # one record per 10 s sync at least (record period 5 s)
        again.close()
    finally:
        server.stop()
    with pytest.raises(InstrumentError, match="cannot connect"):
        open_delegated("neware_bts", resource, name="cycler", timeout_s=0.5)


def test_writer_round_trips_through_the_simulators_parser():
    """The written file parses with the simulator's own reader to the same steps, SI values and limits."""
    program = DelegatedProgram("x", (
        DelegatedStep("cccv", current_a=-2.0, voltage_v=3.0, ends=(DelegatedEnd("current_a", "<=", 0.1),
                                                                   DelegatedEnd("voltage_v", "<=", 2.9, goto=3))),
        DelegatedStep("rest", ends=(DelegatedEnd("time_s", ">=", 60.0),), record_period_s=0.5),
        DelegatedStep("cycle", loop_to=0, loop_count=3),
        DelegatedStep("cc", current_a=1.0, ends=(DelegatedEnd("capacity_ah", ">=", 0.5),)),
    ), LIMITS)
    parsed = parse_step_file(write_step_file(program), max_current_a=12.0, max_voltage_v=5.0)
    s1, s2, s3, s4, s5 = (parsed.steps[n] for n in range(1, 6))
    assert (s1.type, s1.current_a, s1.voltage_v, s1.stop_current_a) == (20, 2.0, 3.0, 0.1)
    assert s1.conditions[0].quantity == "voltage_v" and s1.conditions[0].op == "<" and s1.conditions[0].jump == 4
    assert (s2.type, s2.time_s, s3.type, s3.start_step, s3.cycle_count) == (4, 60.0, 5, 1, 3)
    assert (s4.type, s4.capacity_ah, s5.type) == (1, pytest.approx(0.5), 6)
    assert (parsed.voltage_upper_v, parsed.voltage_lower_v, parsed.current_upper_a) == (4.3, 2.5, 6.0)
    assert parsed.record_time_s == 0.5


def test_writer_refuses_what_the_format_cannot_say_with_file_line_col():
    program = DelegatedProgram("x", (
        DelegatedStep("cp", power_w=10.0, ends=(DelegatedEnd("time_s", ">=", 60.0),), source="p.yaml:4:7"),
        DelegatedStep("cc", current_a=1.0, ends=(DelegatedEnd("capacity_ah", ">=", 1.0, goto=0),),
                      source="p.yaml:6:7"),
        DelegatedStep("rest", ends=(DelegatedEnd("capacity_ah", ">=", 1.0),), source="p.yaml:8:7"),
    ), LIMITS)
    found = problems(program)
    assert found[0].startswith("p.yaml:4:7: a Neware step file has no 'cp' step")
    assert found[1].startswith("p.yaml:6:7: a Neware step cannot jump on capacity_ah")
    assert found[2].startswith("p.yaml:8:7: a Neware rest step cannot end on capacity_ah")
    with pytest.raises(StepFileUnsupported, match="p.yaml:4:7"):
        write_step_file(program)
    assert "cp" not in CAPABILITIES.step_kinds and "temperature_max_c" in CAPABILITIES.supervisor_only


def test_sim_serve_writes_a_bench_file_naming_the_neware(tmp_path):
    """bench sim serve --cycler neware_bts --write-bench: the bench file loads and its [[cycler]]
    entry opens a Neware channel on the served simulator."""
    from bench.config import load_bench_config
    from bench.simulated.multichannel import serve_multichannel, to_toml

    servers = serve_multichannel(1, cycler="neware_bts", speed=1.0)
    try:
        path = tmp_path / "b.toml"
        path.write_text(to_toml(servers.config), encoding="utf-8")
        config = load_bench_config(path)
        entry = config["cycler"][0]
        assert entry["driver"] == "neware_bts" and entry["channel"] == 1
        ch = open_delegated(entry["driver"], entry["resource"], name="cycler", channel=entry["channel"])
        assert ch.status().state == "finished"
        ch.close()
        from bench.cli import main

        assert main(["check", "--bench", str(path)]) == 0  # bench check asks the Neware channel too
    finally:
        servers.close()


def _msg(body: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8" ?><bts version="1.0">' + body + "</bts>").encode() + b"\n\n#\r\n"


def _reply(cmd: str, body: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\r\n<bts version="1.0">\r\n  <cmd>{cmd}</cmd>\r\n{body}</bts>'
            .encode() + b"\n\n#\r\n")


ADDR = 'devtype="27" devid="120" subdevid="3" chlid="8"'


def test_conversation_exact_messages(tmp_path):
    """The driver's exact bytes for connect, getdevinfo, start (with the step file's path and the
    backup element), inquire, inquiredf, download and stop, and how it reads the replies."""
    from tests.drivers.stream_conversation import BytesConversation

    devinfo = ('  <middle count="2">\r\n'
               '    <channel ip="10.0.0.5" devtype="27" devid="120" subdevid="3" Channelid="7">true</channel>\r\n'
               '    <channel ip="10.0.0.5" devtype="27" devid="120" subdevid="3" Channelid="8">true</channel>\r\n'
               "</middle>\r\n")
    path = (tmp_path / "p.xml").resolve()
    inquire = (f'<list count="1"><inquire ip="10.0.0.5" {ADDR} aux="0" barcode="1">true</inquire></list>')
    row = ('  <list count="1">\r\n    <inquire dev="27-120-3-8-0" cycle_id="4" step_id="2" step_type="cv" '
           'workstatus="working" barcode="run-5" current="0.5" voltage="4.2" capacity="0.1" energy="0.4" '
           'totaltime="3600.5" relativetime="12.5" open_or_close="0" log_code="102000" />\r\n  </list>\r\n')
    script = BytesConversation([
        (_msg("<cmd>connect</cmd><username>admin</username><password>neware</password><type>bfgs</type>"),
         _reply("connect_resp", "  <result>ok</result>\r\n")),
        (_msg("<cmd>getdevinfo</cmd>"), _reply("getdevinfo_resp", devinfo)),
        (_msg(f'<cmd>start</cmd><list count="1"><start ip="10.0.0.5" {ADDR} barcode="run-5">{path}</start>'
              f'<backup backupdir="{path.parent}" remotedir="" filenametype="0" customfilename="" '
              'addtimewhenrepeat="0" createdirbydate="0" filetype="0" backupontime="1" '
              'backupontimeinterval="720" backupfree="1" /></list>'),
         _reply("start_resp", f'  <list count="1">\r\n    <start ip="10.0.0.5" {ADDR}>ok</start>\r\n  </list>\r\n')),
        (_msg(f"<cmd>inquire</cmd>{inquire}"), _reply("inquire_resp", row)),
        (_msg(f'<cmd>inquiredf</cmd><list count="1"><chl {ADDR} testid="0" /></list>'),
         _reply("inquiredf_resp", f'  <list count="1">\r\n    <chl {ADDR} testid="9" count="1">true</chl>\r\n'
                                  "  </list>\r\n")),
        (_msg(f'<cmd>download</cmd><download {ADDR} auxid="0" testid="0" startpos="1" count="1"/>'),
         _reply("donwload_resp", f'  <download {ADDR} testid="9" startpos="1" count="1" auxid="0" />\r\n'
                                 '  <list count="1">\r\n    <data seqid="1" stepid="1" cycleid="1" steptype="cc" '
                                 'testtime="1000" atime="2026-01-01 00:00:01" volt="3.7" curr="2.5" cap="0.0007" '
                                 'eng="0.0026" />\r\n  </list>\r\n')),
        (_msg(f'<cmd>download</cmd><download {ADDR} auxid="0" testid="0" startpos="1" count="1"/>'),
         _reply("donwload_resp", f'  <download {ADDR} testid="9" startpos="1" count="1" auxid="0" />\r\n'
                                 '  <list count="1">\r\n    <data seqid="1" stepid="1" cycleid="1" steptype="cc" '
                                 'testtime="1000" atime="2026-01-01 00:00:01" volt="3.7" curr="2.5" cap="0.0007" '
                                 'eng="0.0026" />\r\n  </list>\r\n')),
        (_msg(f'<cmd>stop</cmd><list count="1"><stop ip="10.0.0.5" {ADDR}>true</stop></list>'),
         _reply("stop_resp", f'  <list count="1">\r\n    <stop ip="10.0.0.5" {ADDR}>ok</stop>\r\n  </list>\r\n')),
        (_msg(f"<cmd>inquire</cmd>{inquire}"), "TIMEOUT"),
    ])
    from drivers.neware_bts import NewareBtsChannel

    ch = NewareBtsChannel(script, pipeline="120-3-8", step_dir=tmp_path, name="cycler")  # type: ignore[arg-type]
    ch.download(b"<root/>", "p")
    ch.start("run-5")
    sample = ch.latest()
    assert (sample.test_time_s, sample.voltage_v, sample.current_a, sample.step_index, sample.cycle_index) == (
        3600.5, 4.2, 0.5, 2, 4)
    records = ch.records_since(0.0)
    assert [(r.test_time_s, r.voltage_v) for r in records] == [(1.0, 3.7)]
    ch.stop()
    with pytest.raises(InstrumentError, match=r"channel 120-3-8\): no reply to inquire"):
        ch.status()
    script.assert_done()
