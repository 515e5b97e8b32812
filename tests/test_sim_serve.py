"""``bench sim serve``: the TCP line server, the written bench config, runs against the servers,
the command as a subprocess, and the loopback latency probe."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from bench.cli import main
from bench.config import load_bench_config
from bench.perf.loopback import measure_loopback_latency, percentile
from bench.runfile.reader import RunFile
from bench.simulated.serve import start_sim_servers
from sim_instruments.meters.keysight_daq970a import KeysightDaq970aSim
from sim_instruments.wire.endpoint import CommsFault
from sim_instruments.wire.tcp_server import MAX_MESSAGE_BYTES, LineServer
from sim_instruments.world.clock import VirtualClock
from sim_instruments.world.sim_world import SimWorld
from tests.served_lag import skip_if_runner_fell_behind

IDN_DAQ = b"Keysight Technologies,DAQ970A"

#: Sockets and threads: bound every test well below the suite-wide timeout.
pytestmark = pytest.mark.timeout(60)

ROLES = ("cycler", "chamber", "thermometer", "impedance")


class _Client:
    """A raw TCP client reading whole lines (every read bounded by a 5 s socket timeout)."""

    def __init__(self, server: LineServer) -> None:
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=5.0)
        self._buffer = b""

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_line(self) -> bytes:
        """One reply line with its LF, or what arrived before the server closed (b"" if nothing)."""
        for _ in range(1000):  # bounded: a reply is far shorter than 1000 chunks
            index = self._buffer.find(b"\n")
            if index >= 0:
                line, self._buffer = self._buffer[: index + 1], self._buffer[index + 1:]
                return line
            try:
                chunk = self.sock.recv(4096)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                line, self._buffer = self._buffer, b""
                return line
            self._buffer += chunk
        raise AssertionError(f"no terminated reply: {self._buffer!r}")

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> _Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _connect(server: LineServer) -> _Client:
    return _Client(server)


@pytest.fixture
def daq_server():
    world = SimWorld.single_cell(VirtualClock())
    server = LineServer(KeysightDaq970aSim(world), world.clock.now_s, name="thermometer", lock=world.lock).start()
    yield server
    server.stop()


# -- the line server -----------------------------------------------------------------------------
def test_line_server_binds_loopback_and_joins_split_messages(daq_server):
    assert daq_server.host == "127.0.0.1" and daq_server._listener.getsockname()[0] == "127.0.0.1"
    with _connect(daq_server) as sock:
        sock.sendall(b"*ID")
        sock.sendall(b"N?\n")
        assert sock.read_line().startswith(IDN_DAQ)
        sock.sendall(b"UNIT:TEMP K\n:UNIT:TEMP?\n*IDN?;:SYST:ERR?\n")  # several messages in one segment
        assert sock.read_line() == b"K\n"
        reply = sock.read_line()
        assert reply.startswith(IDN_DAQ) and reply.endswith(b';0,"No error"\n')


def test_line_server_connections_have_their_own_replies(daq_server):
    with _connect(daq_server) as a, _connect(daq_server) as b:
        a.sendall(b"MEAS:TEMP? (@101)\n")
        b.sendall(b"*IDN?\n")
        assert b.read_line().startswith(IDN_DAQ)
        assert float(a.read_line()) == pytest.approx(25.0, abs=0.5)
        b.sendall(b"BOGUS\n*OPC?\n")  # the error queue belongs to the instrument, shared by connections
        assert b.read_line() == b"1\n"  # BOGUS has been executed
        a.sendall(b":SYST:ERR?\n")
        assert a.read_line().startswith(b"-113")
        assert daq_server.connection_count == 2


def test_line_server_faults_oversize_messages_and_stop(daq_server):
    with _connect(daq_server) as sock:
        sock.sendall(b"x" * (MAX_MESSAGE_BYTES + 10))
        assert sock.read_line() == b""  # dropped: the server closed the connection
    with _connect(daq_server) as sock:
        daq_server.faults.append(CommsFault("disconnect", start_s=0.0))
        sock.sendall(b"*IDN?\n")
        assert sock.read_line() == b""  # a pulled cable: the connection is closed, no reply
    daq_server.faults.clear()
    sock = _connect(daq_server)
    sock.sendall(b"*IDN?\n")
    assert sock.read_line().startswith(IDN_DAQ)
    port = daq_server.port
    daq_server.stop()
    assert sock.read_line() == b""  # the server closed the connection on stop
    sock.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2.0).close()


# -- the bench config and runs against the servers -------------------------------------------
def test_written_bench_config_loads_and_checks(tmp_path, capsys):
    with start_sim_servers(speed=50.0) as servers:
        path = servers.write_bench(tmp_path / "sim.toml")
        config = load_bench_config(path)
        assert config["bench"]["speed"] == 50.0
        assert {role: config[role]["driver"] for role in ROLES} == {
            "cycler": "keithley2460", "chamber": "espec_p300", "thermometer": "keysight_daq970a",
            "impedance": "hioki_bt4560"}
        assert config["cycler"]["resource"] == servers.instruments["cycler"].resource
        assert config["thermometer"]["channels"] == [101, 102]
        assert main(["check", "--bench", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in out] == [[role, "ok"] for role in ROLES]
    assert not list(tmp_path.glob(".*tmp"))  # the atomic write left no temporary file


QUICK = """name: tcp_quick
cell: {preset: nmc_21700, capacity_ah: 5.0, voltage_max_v: 4.2, voltage_min_v: 2.5, current_max_a: 7.0}
# sampled every 5 s, not 1 s: at 240x a 1 s period is 4 wall ms per sample, which a loaded CI machine
# cannot keep (the claims need durations, charge and current, not 1 s resolution). The default
# stale-data limit applies: a gap that trips it is a lag, which the test reports as not tested.
limits: {voltage_max_v: 4.25, voltage_min_v: 2.4, current_max_a: 7.35, temperature_max_c: 60}
sampling: {period_s: 5}
steps:
  - Soak at 30 °C for 2 minutes
  - Discharge at 1C for 3 minutes
  - Rest for 1 minute
pass: [discharge_capacity_ah >= 0.2]
"""


@pytest.mark.parametrize("cycler, chamber", [("keithley2460", "espec_p300"), ("keithley2460", "watlow_f4t")])
def test_short_protocol_runs_over_tcp_in_step_with_the_served_world(cycler, chamber, tmp_path, capsys, caplog):
    """Six simulated minutes at 240x: the runner's clock comes from the written [bench] speed.

    Sampled every 5 s: at 1 s (4 wall ms per sample at 240x) the runner on a loaded 2-core machine fell
    4-7 periods behind even in passing runs, and a 42 wall-ms stall tripped step_timeout (a timed step
    still running 10 s past its end). A run whose samples still fell behind is not tested (skipped with
    the lag, tests/served_lag.py), never passed."""
    protocol = tmp_path / "tcp_quick.yaml"
    protocol.write_text(QUICK, encoding="utf-8")
    out = tmp_path / "run.h5"
    with start_sim_servers(soc=0.5, speed=240.0, cycler=cycler, chamber=chamber) as servers:
        bench_file = servers.write_bench(tmp_path / "sim.toml")
        cell = servers.world.channels[0].cell
        soc_0 = cell.soc
        code = main(["run", str(protocol), "--bench", str(bench_file), "--out", str(out), "--no-progress"])
        servers.world.sync()
        drawn_ah = (soc_0 - cell.soc) * cell.preset.capacity_ah
    # in step, or not tested: a runner that fell behind the 240x world did not run the protocol as written
    skip_if_runner_fell_behind([out], caplog.text, 240.0, what=f"exited {code}")
    assert code == 0, capsys.readouterr()
    with RunFile(out) as run:
        steps = run.steps
        temps_air = run.column("Ambient Temperature / degC")
        times = run.column("Test Time / s")
        currents = run.column("Current / A")
    assert [s["end_reason"] for s in steps] == ["time", "time", "time"]
    discharge = steps[1]
    discharge_s = discharge["end_time_s"] - discharge["start_time_s"]
    assert discharge["discharge_ah"] == pytest.approx(5.0 * discharge_s / 3600.0, rel=0.02)  # 1C of 5 Ah
    # the world lost what the runner measured (the engine logs the same charge it drove)
    assert drawn_ah == pytest.approx(discharge["discharge_ah"], rel=0.05)
    durations = [s["end_time_s"] - s["start_time_s"] for s in steps]
    assert durations == [pytest.approx(d, abs=20.0) for d in (120.0, 180.0, 60.0)]
    assert all(d >= nominal - 1e-6 for d, nominal in zip(durations, (120.0, 180.0, 60.0), strict=True))
    assert np.nanmax(temps_air) > 29.0  # the chamber (Espec over pyserial or Watlow over Modbus TCP) heated the air
    in_discharge = (times > discharge["start_time_s"] + 5) & (times < discharge["end_time_s"] - 5)
    assert np.allclose(currents[in_discharge], -5.0, atol=0.01)
    with h5py.File(out, "r") as f:
        assert "TCPIP::127.0.0.1::" in str(f.attrs["bench_config"])


# -- the command ---------------------------------------------------------------------------------
def test_bench_sim_serve_subprocess_writes_bench_and_stops_on_sigterm(tmp_path, capsys):
    bench_file = tmp_path / "served.toml"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.cli", "sim", "serve", "--write-bench", str(bench_file), "--speed", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    announced: list[str] = []
    partial = ""
    try:
        # the server prints its resources, then "bench config FILE" once the file is written:
        # block on its stdout (select with a deadline), no sleeping
        # Read the pipe's file descriptor directly: lines pulled into a buffered reader's
        # buffer are invisible to select(), which would then wait out its deadline.
        deadline = time.monotonic() + 30.0
        fd = proc.stdout.fileno()
        while not any(line.startswith("bench config") for line in announced):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"bench sim serve did not announce its bench config: {announced}"
            ready, _, _ = select.select([fd], [], [], remaining)
            assert ready, f"bench sim serve did not announce its bench config: {announced}"
            chunk = os.read(fd, 65536)
            assert chunk, proc.communicate(timeout=5)  # EOF: the server died
            partial += chunk.decode()
            *complete, partial = partial.split("\n")
            announced.extend(line + "\n" for line in complete)
        assert bench_file.exists()
        assert main(["check", "--bench", str(bench_file)]) == 0
        assert capsys.readouterr().out.count(" ok ") == len(ROLES)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            stdout, stderr = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate(timeout=5)
    assert proc.returncode == 0, stderr
    stdout = "".join(announced) + partial + stdout
    config = load_bench_config(bench_file)
    for role in ROLES:
        assert config[role]["resource"] in stdout  # the ports are announced
    assert "stopped" in stdout


@pytest.mark.parametrize("argv, message", [
    (["--speed", "0"], "--speed must be a positive number"),
    (["--speed", "fast"], "must be numbers"),
    (["--cell", "nmc_99999"], "unknown cell preset 'nmc_99999'; valid presets:"),
    (["--cycler", "keithley9999"], "unknown simulated cycler 'keithley9999'"),
    (["--chamber", "espec9999"], "unknown simulated chamber 'espec9999'"),
    (["--soc", "1.5"], "SOC must be within 0..1"),
    (["--write-bench", "/nonexistent-dir/sim.toml"], "directory does not exist"),
])
def test_bench_sim_serve_bad_input_exits_2_with_one_line(argv, message, capsys):
    assert main(["sim", "serve", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


# -- latency probe -------------------------------------------------------------------------------
def test_percentile_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0 and percentile(values, 0.99) == 99.0 and percentile(values, 1.0) == 100.0
    assert percentile([7.0], 0.99) == 7.0


def test_loopback_latency_probe_times_every_query():
    results = measure_loopback_latency(count=30, speed=1.0)
    assert [(r.instrument, r.count) for r in results] == [
        ("cycler", 30), ("cycler", 30), ("thermometer", 30), ("chamber", 30), ("sample", 30)]
    for r in results:
        assert 0.0 < r.p50_ms <= r.p99_ms <= r.max_ms
        assert set(r.as_dict()) == {"instrument", "command", "count", "p50_ms", "p99_ms", "max_ms", "mean_ms"}


def test_served_bench_takes_fault_schedules():
    from bench.fault_specs import parse_fault_spec
    from sim_instruments.world.clock import VirtualClock

    clock = VirtualClock()
    faults = [parse_fault_spec("comms_drop@10s,instrument=cycler,duration=5s"),
              parse_fault_spec("thermocouple_open@1min")]
    with start_sim_servers(clock=clock, faults=faults) as servers:
        (drop,) = servers.instruments["cycler"].server.faults
        assert drop.kind == "no_reply" and drop.active(12.0) and not drop.active(16.0)
        world = servers.world
        clock.sleep(30.0)
        world.sync()
        assert not world.channels[0].thermocouple_open
        clock.sleep(31.0)
        world.sync()
        assert world.channels[0].thermocouple_open
