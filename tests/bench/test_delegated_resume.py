"""The PC can go away (issue 29 item 3): a delegated run over ``bench sim serve --cycler neware_bts``
is SIGKILLed mid-run (deterministically: its own process kills itself once the cycler's test clock
passes KILL_AT_S); the served cycler goes on with its step file; ``bench resume RUN.h5`` reattaches
to the running channel, backfills the samples it missed from the cycler's stored records (marked
by a ``backfill`` event over their time range), supervises the rest and judges the claims.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from bench.cli import main
from bench.config import load_bench_config
from bench.runfile.reader import RunFile
from drivers.catalog import open_delegated

pytestmark = pytest.mark.timeout(240)
SPEED = 100.0
KILL_AT_S = 150.0  # test time s: 90 s into the 300 s discharge
CROSSED_BY_S = 280.0  # test time s by which the 1 A discharge has passed 3.705 V (about 230 s)
PROTOCOL = """\
name: outage_discharge
description: A rest, a 1 A discharge for 5 minutes and a rest, on a cycler that runs its own step file.
cell: {preset: nmc_21700}
sampling:
  period_s: 1
steps:
  - Rest for 1 minute
  - Discharge at 1 A for 5 minutes
  - Rest for 1 minute
claims:
  - name: charge counted across a bench outage
    claim: discharge_capacity_ah >= 0.0825
    source: 1 A for 300 s is 0.0833 Ah; at least 99 % of it counted, the outage's share included
"""
#: ``bench run`` in a child that SIGKILLs itself after the runner fed a record past KILL_AT_S.
KILLER = textwrap.dedent("""\
    import os, signal, sys
    from bench.delegated import tracker
    kill_at = float(sys.argv[1])
    feed = tracker.StepTracker.feed
    def feed_then_die(self, record, *args, **kwargs):
        out = feed(self, record, *args, **kwargs)
        if record.test_time_s >= kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return out
    tracker.StepTracker.feed = feed_then_die
    from bench.cli import main
    raise SystemExit(main(sys.argv[2:]))
""")


def _serve(tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    """``bench sim serve --cycler neware_bts`` in a child; returns once it wrote the bench config."""
    bench_file = tmp_path / "served.toml"
    proc = subprocess.Popen([sys.executable, "-m", "bench.cli", "sim", "serve", "--cycler", "neware_bts",
                             "--speed", str(SPEED), "--write-bench", str(bench_file)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline, seen = time.monotonic() + 60.0, ""
    fd = proc.stdout.fileno()  # type: ignore[union-attr]
    while "bench config" not in seen:
        ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0.0))
        chunk = os.read(fd, 65536) if ready else b""
        assert chunk, f"bench sim serve did not announce its bench config: {seen}"
        seen += chunk.decode()
    return proc, bench_file


def _run_and_kill(tmp_path: Path, bench_file: Path, protocol: str) -> tuple[Path, str, np.ndarray]:
    """``bench run`` the protocol in a child that is SIGKILLed at KILL_AT_S; (run file, test id, its times)."""
    (tmp_path / "p.yaml").write_text(protocol)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[2]),
                                                      os.environ.get("PYTHONPATH", "")]))
    run = subprocess.run([sys.executable, "-c", KILLER, str(KILL_AT_S), "run", str(tmp_path / "p.yaml"),
                          "--bench", str(bench_file), "--out", str(tmp_path / "o.h5"), "--no-progress"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == -signal.SIGKILL, run.stderr[-2000:]
    path = tmp_path / "o_ch00.h5"
    with RunFile(path) as killed:
        assert killed.attrs["status"] == "running" and killed.attrs["execution"] == "delegated"
        return path, str(killed.attrs["test_id"]), killed.column("Test Time / s")


def test_a_killed_delegated_run_is_reattached_backfilled_supervised_and_judged(tmp_path, capsys):
    server, bench_file = _serve(tmp_path)
    try:
        path, test_id, before = _run_and_kill(tmp_path, bench_file, PROTOCOL)
        assert 0 < before[-1] <= KILL_AT_S  # the rows after the last flush died with the process

        # The PC is gone; the cycler is not: the production driver finds the test still running.
        entry = load_bench_config(bench_file)["cycler"][0]
        channel = open_delegated(entry["driver"], entry["resource"], name="cycler",
                                 **{k: v for k, v in entry.items() if k not in ("driver", "resource")})
        try:
            status = channel.status()
            assert (status.state, status.test_id) == ("running", test_id)
            assert channel.latest().test_time_s > before[-1]
        finally:
            channel.close()

        capsys.readouterr()
        assert main(["resume", str(path), "--no-progress"]) == 0, capsys.readouterr()
        channel = open_delegated(entry["driver"], entry["resource"], name="cycler",
                                 **{k: v for k, v in entry.items() if k not in ("driver", "resource")})
        try:  # what the cycler stored after the bench's last flushed row, read once the run is over
            stored = [r.test_time_s for r in channel.records_since(float(before[-1]))]
        finally:
            channel.close()
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=20)

    with RunFile(path) as run:
        attrs, events = run.attrs, run.events
        times = run.column("Test Time / s")
    assert attrs["status"] == "completed" and int(attrs["resume_count"]) == 1
    kinds = [e["kind"] for e in events]
    assert kinds.index("interruption") < kinds.index("reattach") < kinds.index("backfill")
    backfill = next(e for e in events if e["kind"] == "backfill")
    data = backfill["data"] if isinstance(backfill["data"], dict) else json.loads(backfill["data"])
    # No gap: every record the cycler stored over the outage is a row of the run file, in order, and
    # the backfill event's range holds exactly the rows that came from the cycler's store.
    assert np.all(np.diff(times) > 0)
    outage = [t for t in stored if t <= data["to_s"]]
    assert outage and outage[0] == pytest.approx(data["from_s"])
    assert np.isin(np.round(outage, 6), np.round(times, 6)).all()
    assert data["rows"] == len(outage) == int(np.sum((times >= data["from_s"]) & (times <= data["to_s"])))
    assert times[-1] >= 419.0  # supervised on to the end of the step file (7 minutes)
    steps_ended = [e for e in events if e["kind"] == "step_end"]
    assert len(steps_ended) == 3


def test_a_limit_crossed_while_the_bench_was_away_trips_on_the_backfilled_record(tmp_path, capsys):
    """A step limit only the bench checks (not in the step file): the cycler discharges through it
    while the bench is dead; on resume the backfilled record that crossed it trips the supervisor,
    the channel is stopped and confirmed stopped, exit 3."""
    limited = PROTOCOL.replace("  - Discharge at 1 A for 5 minutes",
                               "  - step: Discharge at 1 A for 5 minutes\n    limits: {voltage_min_v: 3.705}")
    server, bench_file = _serve(tmp_path)
    try:
        path, test_id, before = _run_and_kill(tmp_path, bench_file, limited)
        entry = load_bench_config(bench_file)["cycler"][0]
        channel = open_delegated(entry["driver"], entry["resource"], name="cycler",
                                 **{k: v for k, v in entry.items() if k not in ("driver", "resource")})
        try:
            # The bench stays away until the cycler (real time, 100x) has discharged through the limit
            # (about 230 s of test time): a bounded wait on the served process, no claim on its timing.
            deadline = time.monotonic() + 60.0
            while channel.latest().test_time_s < CROSSED_BY_S:
                assert time.monotonic() < deadline, "the served cycler did not get past the limit"
                select.select([], [], [], 0.05)
            assert channel.status().state == "running"
            capsys.readouterr()
            assert main(["resume", str(path), "--no-progress", "--observe", "60 s"]) == 3, capsys.readouterr()
            assert channel.status().state not in ("running", "paused")  # stopped by the bench's safe state
        finally:
            channel.close()
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=20)
    with RunFile(path) as run:
        events, attrs = run.events, run.attrs
        times, volts = run.column("Test Time / s"), run.column("Voltage / V")
    trip = next(e for e in events if e["kind"] == "safety_trip")
    backfill = next(e for e in events if e["kind"] == "backfill")
    data = backfill["data"] if isinstance(backfill["data"], dict) else json.loads(backfill["data"])
    assert attrs["status"] == "safety_trip" and "step's limit 3.705" in trip["message"]
    # The trip is at the cycler's record that crossed the limit, inside the backfilled range: it
    # happened while the bench was away and was judged when the bench came back.
    assert data["from_s"] <= trip["time_s"] <= data["to_s"] and trip["time_s"] > KILL_AT_S
    crossed = times[np.argmax(volts < 3.705)]
    assert trip["time_s"] == pytest.approx(crossed)


def test_a_channel_running_another_test_is_not_reattached_and_not_touched(tmp_path, capsys):
    import h5py

    server, bench_file = _serve(tmp_path)
    try:
        path, test_id, _before = _run_and_kill(tmp_path, bench_file, PROTOCOL)
        with h5py.File(path, "r", swmr=True) as f:
            step_file = bytes(f["delegated/step_file"][()])
        entry = load_bench_config(bench_file)["cycler"][0]
        channel = open_delegated(entry["driver"], entry["resource"], name="cycler",
                                 **{k: v for k, v in entry.items() if k not in ("driver", "resource")})
        try:  # someone at the cycler stops the test and starts another on the channel
            channel.stop()
            channel.download(step_file, "someone_else")
            channel.start("someone_else")
            capsys.readouterr()
            assert main(["resume", str(path), "--no-progress"]) == 2
            err = capsys.readouterr().err
            assert "runs test someone_else, not this run's " + test_id in err
            assert (channel.status().state, channel.status().test_id) == ("running", "someone_else")
        finally:
            channel.close()
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=20)
    with RunFile(path) as run:  # the file untouched: still resumable once the channel is the run's again
        assert run.attrs["status"] == "running" and "interruption" not in [e["kind"] for e in run.events]
