"""A run file that cannot be written (full disk, file-size limit, read-only --out): the output goes
off, the run stops with one line and exit 4, no placeholder row is ever shown, the file is marked
and ``bench resume`` refuses it (issue 18, item 4)."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import main
from bench.runfile.reader import RunFile

#: A file-size limit that lets the first sample batches in and stops the run a few hours in.
LIMIT_BYTES = 1_300_000


def _bench(args: list[str], cwd: Path, fsize: int | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    def limit() -> None:  # in the child: writes past the limit fail with EFBIG instead of SIGXFSZ
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, preexec_fn=limit if fsize else None, check=False)


def _check_stopped_run(out: Path, result: subprocess.CompletedProcess, cause: str) -> None:
    """Exit 4 with one line, the file marked, only confirmed rows shown."""
    assert result.returncode == 4, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("bench: error: ") and cause in last and "output off confirmed" in last
    with RunFile(out) as run:
        attrs = run.attrs
        samples = run.samples
        events = run.events
    assert attrs["status"] == "write_failure"
    assert len(samples) > 0
    # no placeholder rows: every row shown carries its wall-clock stamp and a rising test time
    assert (samples["Unix Time / s"] > 1e9).all()
    assert (samples["Test Time / s"][1:] >= samples["Test Time / s"][:-1]).all()
    assert all(e["kind"] for e in events)


def test_file_size_limit_stops_the_run_cleanly(tmp_path, capsys):
    out = tmp_path / "run.h5"
    result = _bench(["run", "capacity_check", "--out", str(out), "--no-progress"], tmp_path, fsize=LIMIT_BYTES)
    _check_stopped_run(out, result, "File too large")
    assert main(["resume", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "not resumed" in err and len(err.strip().splitlines()) == 1
    assert main(["repair", str(out)]) == 0
    assert "kept" in capsys.readouterr().out
    with RunFile(tmp_path / "run.repaired.h5") as run:
        assert run.attrs["status"] == "write_failure"
        assert (run.samples["Unix Time / s"] > 1e9).all()


def test_full_tmpfs_stops_the_run_cleanly(tmp_path):
    """The issue's case: --out on a small tmpfs (needs root and a mount; skipped otherwise)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1200k", "tmpfs", str(mount)],
                          capture_output=True, check=False) if os.geteuid() == 0 else None
    if done is None or done.returncode != 0:
        pytest.skip("mounting a tmpfs is not permitted here")
    try:
        out = mount / "run.h5"
        result = _bench(["run", "capacity_check", "--out", str(out), "--no-progress"], tmp_path)
        _check_stopped_run(out, result, "No space left on device")
    finally:
        subprocess.run(["umount", str(mount)], check=False)


@pytest.mark.parametrize("where", ["a_file/run.h5", "missing_ok"])
def test_unwritable_out_is_one_line_before_the_run(tmp_path, where, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("x")
    if where == "missing_ok":
        if os.geteuid() == 0:
            where = "/sys/cellbench_run.h5"  # root writes anywhere except pseudo file systems
        else:
            (tmp_path / "ro").mkdir(mode=0o500)
            where = "ro/run.h5"
    assert main(["run", "capacity_check", "--out", where, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [err.strip()]
    assert err.startswith("bench: error: ") and "cannot write the run file" in err


def test_a_disk_full_before_the_first_byte_leaves_no_empty_run_file(tmp_path):
    """Issue 26 defect 10: a run started on a full disk left a 0-byte (here 1-byte) run file and
    no failure marker. Nothing ran: one line, exit 2, and no run file that could be taken for a run."""
    out = tmp_path / "run.h5"
    result = _bench(["run", "capacity_check", "--out", str(out), "--no-progress"], tmp_path, fsize=1)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot write the run file" in lines[0]
    assert not out.exists() or (tmp_path / "run.h5.write-failure").exists()
