"""Delegated execution as a lab runs it: ``bench sim serve --cycler neware_bts --write-bench b.toml``
in its own process (the simulated BTS API on loopback TCP, accelerated), then ``bench run PROTOCOL
--bench b.toml``: the protocol compiled to the BTS step file, started on the channel, polled and
supervised, claims judged; a protocol the step file cannot carry is refused at file:line:col."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest

from bench.cli import main

pytestmark = [pytest.mark.timeout(180)]

#: Simulated seconds per wall second of the served world. The served BTS steps its world every 50 ms
#: of wall time (5 s of test time at 100x), within the 10 s record period; a 10 s period is 100 ms
#: of wall time per poll, and the stale-data rule allows 30 s (300 ms of wall time on a loaded machine).
SPEED = "100"
PROTOCOL = """\
name: delegated_tcp
cell: {preset: nmc_21700}
sampling:
  period_s: 10
limits:
  final_observation_s: 0    # the final observation (tested in process) would double the wall time here
steps:
  - Charge at 0.5C for 5 minutes
  - Rest for 2 minutes
  - Discharge at 1.4C until {cell.voltage_min_v} V
claims:
  - name: rated capacity at 1.4C
    claim: discharge_capacity_ah >= {cell.capacity_ah}
    source: the cell's rating (cell.capacity_ah)
"""


@pytest.fixture
def served(tmp_path):
    bench_file = tmp_path / "b.toml"
    proc = subprocess.Popen([sys.executable, "-m", "bench.cli", "sim", "serve", "--cycler", "neware_bts",
                             "--channels", "2", "--write-bench", str(bench_file), "--speed", SPEED],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline, fd, text = time.monotonic() + 60.0, proc.stdout.fileno(), ""  # type: ignore[union-attr]
    while "bench config" not in text:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(fd, 65536) if ready else b""
        if not chunk:
            proc.kill()
            raise AssertionError(f"bench sim serve did not start: {text} {proc.communicate(timeout=5)[1]}")
        text += chunk.decode()
    yield bench_file
    proc.send_signal(signal.SIGTERM)
    try:
        proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=5)


def test_a_protocol_runs_delegated_on_every_channel_of_the_served_neware_with_its_claims(served, tmp_path, capsys):
    """Two channels of one BTS (one connection each), each its own test and step file, in one chamber."""
    protocol = tmp_path / "delegated_tcp.yaml"
    protocol.write_text(PROTOCOL)
    out = tmp_path / "run.h5"
    code = main(["run", str(protocol), "--bench", str(served), "--out", str(out), "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 1, printed  # completed; the claim (5 Ah at 1.4C from a partial charge) is not met
    test_ids = set()
    for channel in (0, 1):
        run_file = out.with_name(f"run_ch{channel:02d}.h5")  # sim serve writes system cyclers as [[cycler]]
        with h5py.File(run_file, "r") as f:
            attrs = dict(f.attrs)
            steps = [(int(r["step_index"]), r["end_reason"].decode()) for r in f["steps"][:]]
            samples = f["samples"].shape[0]
        assert attrs["execution"] == "delegated" and attrs["status"] == "completed", attrs["status_message"]
        assert steps == [(0, "time"), (1, "time"), (2, "2.5 V")]
        assert samples > 100  # ~30 min of test time at the 10 s record period
        test_ids.add(attrs["test_id"])
        code = main(["report", str(run_file), "--json"])
        report = capsys.readouterr().out
        assert code == 0 and '"status": "not met"' in report and '"discharge_capacity_ah"' in report
    assert len(test_ids) == 2


def test_a_protocol_the_step_file_cannot_carry_is_refused_at_file_line_col(served, tmp_path, capsys):
    out = tmp_path / "refused.h5"
    code = main(["run", "fast_charge", "--bench", str(served), "--out", str(out), "--no-progress"])
    errors = capsys.readouterr().err.splitlines()
    assert code == 2 and not list(tmp_path.glob("refused*.h5"))  # nothing ran, no run file
    located = [line for line in errors if re.match(r"bench: error: .*fast_charge\.yaml:\d+:\d+: ", line)]
    assert len(located) == len(errors) >= 3, errors
    assert any("an SOC end is the bench's own estimate" in line for line in located)
    code = main(["validate", "fast_charge", "--bench", str(served)])
    assert code == 2 and capsys.readouterr().err.splitlines() == errors
    code = main(["validate", "cycle_life", "--cycler", "neware_bts"])
    errors = capsys.readouterr().err.splitlines()
    assert code == 2 and all(re.match(r"bench: error: .*cycle_life\.yaml:\d+:\d+: ", line) for line in errors)
    assert any("loop ending on a measured value" in line for line in errors)
    assert any("EIS sweep" in line for line in errors)
    code = main(["validate", "capacity_check", "--cycler", "neware_bts"])
    assert code == 0 and "runs delegated on neware_bts: 6 cycler steps" in capsys.readouterr().out


def test_delegated_execution_is_refused_on_a_bench_whose_cycler_runs_no_step_files(tmp_path, capsys):
    code = main(["run", "capacity_check", "--execution", "live", "--out", str(tmp_path / "x.h5"),
                 "--bench", str(Path(__file__).parent / "neware_bench.toml")])
    assert code == 2 and "--execution live" in capsys.readouterr().err
