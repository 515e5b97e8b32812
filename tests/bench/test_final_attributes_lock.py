"""The end-of-run attributes (status, end time) wait for a reader that has the run file open at
that instant (another process: a live plot, a catalog sync, a test polling the status) instead of
leaving the run's status unrecorded."""

from __future__ import annotations

import subprocess
import sys

import h5py
import pytest

from bench.runfile import writer
from bench.runfile.writer import RunFileWriteError, set_final_attributes

READER = """\
import sys, h5py
f = h5py.File(sys.argv[1], "r", libver="latest")
print("open", flush=True)
sys.stdin.readline()
f.close()
"""


def _reader(path):
    child = subprocess.Popen([sys.executable, "-c", READER, str(path)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "open"
    return child


def test_end_attributes_wait_for_a_reader_in_another_process(tmp_path, monkeypatch):
    path = tmp_path / "run.h5"
    with h5py.File(path, "w", libver="latest") as handle:
        handle.attrs["status"] = "running"
    child = _reader(path)
    waits: list[float] = []

    def reader_lets_go(seconds: float) -> None:  # the first refusal: the reader closes the file
        waits.append(seconds)
        if len(waits) == 1:
            child.stdin.write("done\n")
            child.stdin.flush()
            child.wait(timeout=30)

    monkeypatch.setattr(writer, "_wait_for_reader", reader_lets_go)
    set_final_attributes(path, {"status": "completed"})
    assert waits  # the reader's lock refused the first attempt
    with h5py.File(path, "r") as handle:
        assert handle.attrs["status"] == "completed"


def test_a_reader_that_never_lets_go_is_a_one_line_error(tmp_path, monkeypatch):
    path = tmp_path / "run.h5"
    with h5py.File(path, "w", libver="latest") as handle:
        handle.attrs["status"] = "running"
    child = _reader(path)
    monkeypatch.setattr(writer, "FINAL_LOCK_WAIT_S", 0.0)
    try:
        with pytest.raises(RunFileWriteError, match="cannot write the run file") as caught:
            set_final_attributes(path, {"status": "completed"})
        assert "\n" not in str(caught.value)
    finally:
        child.stdin.write("done\n")
        child.stdin.flush()
        child.wait(timeout=30)
