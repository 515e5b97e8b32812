"""Damaged run files (truncated, killed then truncated, 64 kB overwritten): every reader returns
in bounded time with exit 2 and one line naming the damage, leaves no output file behind, and
``bench repair`` salvages the intact rows and says how many (issue 18, item 5)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from bench.cli import main
from bench.perf.crash import run_self_kill
from bench.runfile.reader import RunFile
from bench.simulated.builtin_bench import cell_datasheet
from protocols.loader import parse_protocol
from tests.simrun import run_on_sim_bench

#: A tool that takes longer than this on a few-MB file is spinning, s.
BOUND_S = 20.0

PROTOCOL = """
name: damaged_source
cell: {preset: nmc_21700}
steps:
  - Charge at C/2 until 4.2 V
  - Rest for 10 minutes
  - Discharge at 1C until 2.5 V
"""


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("damaged")
    completed = base / "completed.h5"
    protocol = parse_protocol(PROTOCOL, file="damaged_source.yaml", cell_defaults=cell_datasheet)
    run_on_sim_bench(protocol, completed)
    killed = base / "killed.h5"
    run_self_kill(killed, batch_rows=1000, kill_after_batches=9, unflushed_rows=5)
    return {"completed": completed, "killed": killed}


def _damage(source: Path, target: Path, how: str) -> Path:
    data = bytearray(source.read_bytes())
    if how.startswith("truncate"):
        data = data[: int(len(data) * float(how.split("@")[1]))]
    else:  # 64 kB of noise over the middle of the file
        middle = len(data) // 2
        data[middle:middle + 65536] = np.random.default_rng(18).integers(0, 256, 65536, dtype=np.uint8).tobytes()
    target.write_bytes(bytes(data))
    return target


def _tool(args: list[str], capsys) -> tuple[int, str, str, float]:
    start = time.monotonic()
    code = main(args)
    elapsed = time.monotonic() - start
    captured = capsys.readouterr()
    return code, captured.out, captured.err, elapsed


CASES = [("completed", "truncate@0.3"), ("completed", "truncate@0.6"), ("completed", "truncate@0.95"),
         ("killed", "truncate@0.5"), ("killed", "truncate@0.9")]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("kind", "how"), CASES)
def test_every_reader_refuses_a_truncated_file_in_one_line(sources, tmp_path, capsys, kind, how):
    damaged = _damage(sources[kind], tmp_path / "run.h5", how)
    for args in (["report", str(damaged)], ["report", str(damaged), "--json"],
                 ["export", str(damaged), "--format", "bdf-csv"],
                 ["plot", str(damaged), "--png", str(tmp_path / "run.png")],
                 ["resume", str(damaged), "--no-progress"]):
        code, out, err, elapsed = _tool(args, capsys)
        assert elapsed < BOUND_S, args
        assert code == 2, (args, out, err)
        assert err.count("\n") == 1 and err.startswith("bench: error: ") and "damaged run file" in err, err
        assert "truncated" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.h5"]  # no partial output left behind
    code, out, err, elapsed = _tool(["repair", str(damaged)], capsys)
    assert code == 0 and elapsed < BOUND_S, err
    assert "damaged" in out and "kept" in out
    with RunFile(tmp_path / "run.repaired.h5") as run:  # the salvage is a sound file
        samples = run.samples
        kept = len(samples)
        assert f"kept {kept} of " in out
        assert (samples["Unix Time / s"] > 1e9).all() or kind == "killed"
        assert (np.diff(samples["Test Time / s"]) >= 0).all()
    with RunFile(sources[kind]) as original:
        np.testing.assert_array_equal(samples, original.samples[:kept])


@pytest.mark.timeout(120)
def test_overwritten_bytes_are_refused_or_flagged(sources, tmp_path, capsys):
    damaged = _damage(sources["completed"], tmp_path / "run.h5", "overwrite")
    code, out, err, elapsed = _tool(["report", str(damaged)], capsys)
    assert elapsed < BOUND_S
    if code == 2:  # the noise hit metadata: refused in one line
        assert err.count("\n") == 1 and "damaged run file" in err
    else:  # the noise hit sample data: every implausible value is flagged
        assert "DATA: /samples" in out and "the file may be damaged" in out, out
    code, out, err, elapsed = _tool(["export", str(damaged), "--format", "bdf-csv"], capsys)
    assert elapsed < BOUND_S and code in (0, 2)
    if code == 2:
        assert sorted(p.name for p in tmp_path.iterdir()) == ["run.h5"]


def test_zero_padded_rows_of_a_killed_file_are_never_exported(sources, tmp_path, capsys):
    """The issue's export: 7,969 zero rows written with exit 0 - now refused, nothing written."""
    damaged = _damage(sources["killed"], tmp_path / "run.h5", "truncate@0.7")
    code, _out, err, _elapsed = _tool(["export", str(damaged), "--format", "bdf-csv"], capsys)
    assert code == 2 and "damaged run file" in err
    assert not list(tmp_path.glob("*.csv"))
