"""bench repair: a killed run file becomes one an ordinary (non-SWMR) reader opens."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from bench.cli import main
from bench.perf.crash import expected_rows, run_self_kill
from bench.runfile.layout import TABLES
from bench.runfile.reader import RunFile, RunFileError
from bench.runfile.repair import default_repaired_path, needs_repair, repair_run_file
from bench.runfile.writer import RunWriter


def test_killed_file_is_copied_whole_and_marked_interrupted(tmp_path):
    killed = tmp_path / "killed.h5"
    run_self_kill(killed, batch_rows=30, kill_after_batches=6, unflushed_rows=3)
    assert needs_repair(killed)
    before = killed.read_bytes()
    result = repair_run_file(killed)
    assert result.output == default_repaired_path(killed) == tmp_path / "killed.repaired.h5"
    assert result.status_before == "running" and result.status_after == "interrupted"
    assert killed.read_bytes() == before  # the original is never touched
    assert not needs_repair(result.output)
    with h5py.File(result.output, "r") as plain:  # no swmr, default libver
        assert set(TABLES) <= {name for name in _datasets(plain)}
        np.testing.assert_array_equal(plain["samples"][()], expected_rows(180))
        assert plain["events"].shape == (1,) and plain["journal"].shape == (1,)  # after batch 5
        assert plain.attrs["status"] == "interrupted" and plain.attrs["protocol"] == "crash_test"
        assert plain.attrs["repaired_from"] == str(killed)
        assert plain.attrs["test_time_s"] == 179.0
        # the copy can still grow (chunked, unlimited), like the original
        assert plain["samples"].maxshape == (None,)
    with RunFile(result.output) as run:
        assert run.attrs["status"] == "interrupted"
        assert len(run.samples) == 180


def test_closed_file_keeps_its_status(tmp_path):
    path = tmp_path / "ok.h5"
    with RunWriter(path, {"protocol": "x", "status": "completed"}, batch_rows=4) as writer:
        for i in range(10):
            writer.append_sample_row(tuple(expected_rows(i + 1)[-1].tolist()))
        writer.append("steps", (1, 0, 1, "rest", "Rest for 1 s", 0.0, 1.0, "time") + (0.0,) * 13)
    assert not needs_repair(path)
    result = repair_run_file(path, tmp_path / "copy.h5")
    assert result.status_after == "completed" and not result.was_open_for_write
    with RunFile(tmp_path / "copy.h5") as run:
        assert run.steps[0]["text"] == "Rest for 1 s"
        assert len(run.samples) == 10


def test_refuses_to_overwrite_and_names_missing_files(tmp_path):
    killed = tmp_path / "k.h5"
    run_self_kill(killed, batch_rows=10, kill_after_batches=1, unflushed_rows=0)
    (tmp_path / "taken.h5").write_bytes(b"x")
    with pytest.raises(RunFileError, match="taken.h5: exists"):
        repair_run_file(killed, tmp_path / "taken.h5")
    with pytest.raises(RunFileError, match="nope.h5: no such run file"):
        repair_run_file(tmp_path / "nope.h5")
    (tmp_path / "junk.h5").write_text("not hdf5")
    with pytest.raises(RunFileError, match="not a readable HDF5"):
        repair_run_file(tmp_path / "junk.h5")
    assert not list(tmp_path.glob("*.partial"))


def test_cli_repair(tmp_path, capsys):
    killed = tmp_path / "k.h5"
    run_self_kill(killed, batch_rows=10, kill_after_batches=2, unflushed_rows=4)
    assert main(["repair", str(killed), "-o", str(tmp_path / "fixed.h5")]) == 0
    out = capsys.readouterr().out
    assert "was left open for write" in out and "20 samples, status interrupted" in out
    assert main(["repair", str(killed), "-o", str(tmp_path / "fixed.h5")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bench: error:") and err.count("\n") == 1 and "fixed.h5: exists" in err


def _datasets(group: h5py.Group) -> list[str]:
    names: list[str] = []
    group.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return names
