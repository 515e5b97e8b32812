"""Simulated Neware BTS: the API's documented messages byte for byte, the step file run on the
shared world, faults, and the public client aurora-neware over loopback TCP (virtual clock)."""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from drivers.delegated.program import DelegatedEnd, DelegatedLimits, DelegatedProgram, DelegatedStep
from drivers.neware_stepfile import write_step_file
from sim_instruments.cyclers.neware_bts import NewareBtsSim, serve_neware
from sim_instruments.cyclers.neware_bts.system import TERMINATOR
from sim_instruments.world.clock import VirtualClock
from sim_instruments.world.sim_world import SimWorld

pytestmark = pytest.mark.timeout(60)
OPEN = '<?xml version="1.0" encoding="UTF-8" ?><bts version="1.0">'
CH = 'ip="127.0.0.1" devtype="27" devid="21" subdevid="1" chlid="1"'


def program(cycles: int = 2) -> DelegatedProgram:
    """CCCV charge to 4.2 V / C/20, rest 10 min, 1C discharge to 3.0 V, twice (nmc_21700: 5 Ah)."""
    return DelegatedProgram("cycle", (
        DelegatedStep("cccv", current_a=2.5, voltage_v=4.2, ends=(DelegatedEnd("current_a", "<=", 0.25),),
                      record_period_s=10.0, source="p.yaml:3:5"),
        DelegatedStep("rest", ends=(DelegatedEnd("time_s", ">=", 600.0),), record_period_s=10.0),
        DelegatedStep("cc", current_a=-5.0, ends=(DelegatedEnd("voltage_v", "<=", 3.0),), record_period_s=10.0),
        DelegatedStep("cycle", loop_to=0, loop_count=cycles),
        DelegatedStep("end"),
    ), DelegatedLimits(voltage_max_v=4.3, voltage_min_v=2.5, current_max_a=6.0))


@pytest.fixture
def world() -> SimWorld:
    return SimWorld.single_cell(VirtualClock(), channels=2, soc=0.3)


def run_until_done(sim: NewareBtsSim, chlid: int = 1, step_s: float = 5.0, limit_s: float = 200_000.0) -> None:
    clock = sim.world.clock
    while sim.channels[chlid - 1].state.workstatus == "working" and clock.now_s() < limit_s:
        clock.sleep(step_s)
        sim.sync()


class Client:
    """A raw socket client sending the messages exactly as the API document's client does."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5.0)
        self.buffer = b""

    def send(self, body: str) -> ET.Element:
        self.sock.sendall((OPEN + body + "</bts>").encode() + TERMINATOR)
        while TERMINATOR not in self.buffer:
            chunk = self.sock.recv(65536)
            assert chunk, "server closed"
            self.buffer += chunk
        reply, _, self.buffer = self.buffer.partition(TERMINATOR)
        return ET.fromstring(reply.decode())


def test_documented_messages_get_the_documented_replies(world, tmp_path):
    """Each message as aurora-neware writes it (neware.py) gets a reply shaped like the ones captured
    from a BTS 8.0 (tests/mocks.py): cmd NAME_resp, the same elements and attributes."""
    sim = NewareBtsSim(world)
    server = serve_neware(sim)
    steps = tmp_path / "p.xml"
    steps.write_bytes(write_step_file(program()))
    try:
        c = Client(server.server.port)
        r = c.send("<cmd>connect</cmd><username>admin</username><password>neware</password><type>bfgs</type>")
        assert (r.findtext("cmd"), r.findtext("result")) == ("connect_resp", "ok")
        r = c.send("<cmd>getdevinfo</cmd>")
        rows = r.findall("middle/channel")
        assert [x.get("Channelid") for x in rows] == ["1", "2"] and rows[0].get("devtype") == "27"
        r = c.send(f'<cmd>getchlstatus</cmd><list count = "1"><status {CH}>true</status></list>')
        assert r.find("list/status").text == "finish"
        r = c.send(f'<cmd>start</cmd><list count = "1"><start {CH} barcode="cell-7">{steps}</start>'
                   '<backup backupdir="C:\\Neware data" remotedir="" filenametype="0" /></list>"')
        assert r.findtext("cmd") == "start_resp" and r.find("list/start").text == "ok"
        world.clock.sleep(120.0)
        r = c.send(f'<cmd>inquire</cmd><list count = "1"><inquire {CH} aux="0" barcode="1">true</inquire></list>')
        row = r.find("list/inquire")
        assert row.get("dev") == "27-21-1-1-0" and row.get("workstatus") == "working"
        assert row.get("step_type") == "cccv" and row.get("barcode") == "cell-7"
        assert float(row.get("current")) == pytest.approx(2.5) and float(row.get("totaltime")) == pytest.approx(120.0)
        r = c.send('<cmd>inquiredf</cmd><list count = "1"><chl devtype="27" devid="21" subdevid="1" chlid="1" '
                   'testid="0" /></list>')
        assert r.find("list/chl").get("testid") == "1" and int(r.find("list/chl").get("count")) >= 1
        r = c.send('<cmd>download</cmd><download devtype="27" devid="21" subdevid="1" chlid="1" auxid="0" testid="0" '
                   'startpos="1" count="1000"/>')
        assert r.findtext("cmd") == "donwload_resp"
        data = r.findall("list/data")
        assert data and data[0].get("seqid") == "1" and data[0].get("steptype") == "cccv"
        assert {"testtime", "atime", "volt", "curr", "cap", "eng", "stepid", "cycleid"} <= set(data[0].attrib)
        r = c.send('<cmd>downloadlog</cmd><download devtype="27" devid="21" subdevid="1" chlid="1" testid="0"/>')
        assert r.findtext("cmd") == "donwloadlog_resp" and r.find("list/data").get("log_code") == "100000"
        r = c.send(f'<cmd>light</cmd><list count = "1"><light {CH}>true</light></list>')
        assert r.find("list/light").text == "ok"
        r = c.send(f'<cmd>stop</cmd><list count = "1"><stop {CH}>true</stop></list>')
        assert r.find("list/stop").text == "ok" and sim.channels[0].state.workstatus == "stop"
        r = c.send(f'<cmd>clearflag</cmd><list count = "1"><clearflag {CH}>true</clearflag></list>')
        assert r.find("list/clearflag").text == "false"  # no alarm to clear (as captured)
        r = c.send('<cmd>downloadStepLayer</cmd><downloadStepLayer devtype="27" devid="21" subdevid="1" chlid="1" />')
        assert r.findtext("result") == "false" and "unknown command" in r.findtext("reason")
        for cmd in ("broadcaststop", "continue", "chl_ctrl", "goto", "parallel", "getparallel", "resetalarm", "reset"):
            r = c.send(f"<cmd>{cmd}</cmd>")
            assert r.findtext("result") == "false", cmd
        c.sock.sendall(b"this is not xml" + TERMINATOR)
        c.buffer = b""
        reply = c.send("<cmd>getdevinfo</cmd>")  # the garbage got its own false reply first
        assert reply.findtext("cmd") in ("error_resp", "getdevinfo_resp")
        c.sock.close()
    finally:
        server.stop()


def test_the_step_file_runs_on_the_world_cell(world, tmp_path):
    """Claim: the simulator runs the downloaded step file itself: the CCCV step holds 4.2 V and ends
    at the stop current, the discharge ends at its 3.0 V cut-off, the loop runs twice (cycle 2),
    records come every 10 s record period and at each step change, and it finishes."""
    sim = NewareBtsSim(world)
    path = tmp_path / "p.xml"
    path.write_bytes(write_step_file(program()))
    from sim_instruments.cyclers.neware_bts.stepfile import parse_step_file

    ch = sim.channels[0]
    ch.start(parse_step_file(path.read_bytes(), max_current_a=12.0, max_voltage_v=5.0), "cell", 1, world.now_s)
    run_until_done(sim)
    st = ch.state
    assert st.workstatus == "finish"
    recs = st.records
    assert max(r.cycleid for r in recs) == 2
    cccv = [r for r in recs if r.stepid == 1]
    assert max(r.voltage_v for r in cccv) <= 4.2 + 1e-3
    ends = [recs[i] for i in range(len(recs) - 1) if recs[i].stepid == 1 and recs[i + 1].stepid == 2]
    assert len(ends) == 2 and all(r.current_a <= 0.25 + 0.05 for r in ends)
    dis_ends = [recs[i] for i in range(len(recs) - 1) if recs[i].stepid == 3 and recs[i + 1].stepid != 3]
    dis_ends.append(recs[-1])
    assert all(2.9 < r.voltage_v <= 3.0 + 1e-6 for r in dis_ends)
    gaps = [b.test_time_s - a.test_time_s for a, b in zip(recs, recs[1:], strict=False)]
    assert max(gaps) <= 10.0 + 5.0  # the 10 s period seen at 5 s syncs
    assert sum(1 for r in recs if r.stepid == 3 and r.current_a < 0) > 10


def test_faults_alarm_and_rejected_step_file(world, tmp_path):
    """A channel alarm leaves the output off in workstatus protect; a step file the BTS cannot run
    is refused with the reason in the start reply."""
    sim = NewareBtsSim(world)
    server = serve_neware(sim)
    try:
        c = Client(server.server.port)
        bad = tmp_path / "bad.xml"
        bad.write_text(write_step_file(program()).decode().replace('Value="2500"', 'Value="25000"'))
        r = c.send(f'<cmd>start</cmd><list count = "1"><start {CH} barcode="x">{bad}</start></list>')
        row = r.find("list/start")
        assert row.text == "false" and "exceeds the channel's 12 A range" in row.get("reason")
        r = c.send(f'<cmd>start</cmd><list count = "1"><start {CH} barcode="x">{tmp_path / "missing.xml"}</start></list>')
        assert "cannot read step file" in r.find("list/start").get("reason")
        good = tmp_path / "good.xml"
        good.write_bytes(write_step_file(program()))
        r = c.send(f'<cmd>start</cmd><list count = "1"><start {CH} barcode="x">{good}</start></list>')
        assert r.find("list/start").text == "ok"
        world.clock.sleep(30.0)
        sim.alarm(1, "aux temperature high")
        assert not world.channels[0].source.output_on
        r = c.send(f'<cmd>getchlstatus</cmd><list count = "1"><status {CH}>true</status></list>')
        assert r.find("list/status").text == "protect"
        c.sock.close()
    finally:
        server.stop()


def test_aurora_neware_client_runs_against_the_simulator(world, tmp_path):
    """The public client aurora-neware (pip aurora-neware 0.2.3, pure Python) connects, reads the
    channel map, starts a step file, inquires, downloads data and the log, and stops, with no error."""
    aurora = pytest.importorskip("aurora_neware")
    sim = NewareBtsSim(world)
    server = serve_neware(sim)
    steps = tmp_path / "p.xml"
    steps.write_bytes(write_step_file(program()))
    try:
        with aurora.NewareAPI("127.0.0.1", server.server.port) as nw:
            assert sorted(nw.channel_map) == ["21-1-1", "21-1-2"]
            assert nw.getchlstatus("21-1-1")["21-1-1"]["status"] == "finish"
            assert nw.start("21-1-1", "cell-9", str(steps), str(tmp_path))[0]["start"] == "ok"
            world.clock.sleep(600.0)
            status = nw.inquire("21-1-1")["21-1-1"]
            assert status["workstatus"] == "working" and status["barcode"] == "cell-9"
            data = nw.download("21-1-1", last_n_points=0)
            assert data["seqid"][0] == 1 and data["steptype"][0] == "cccv"
            assert nw.downloadlog("21-1-1")[0]["log_code"] == 100000
            assert nw.get_testid("21-1-1")["21-1-1"]["test_id"] == 1
            assert nw.light("21-1-1")[0]["light"] == "ok"
            assert nw.stop("21-1-1")[0]["stop"] == "ok"
            assert nw.inquire()["21-1-1"]["workstatus"] == "stop"
            assert nw.clearflag("21-1-1")[0]["clearflag"] == "false"
    finally:
        server.stop()
    assert Path(steps).exists()
