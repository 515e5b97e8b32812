"""Data you can prove intact (issue 26 item 3, defects 3 and 4).

* Every table (samples, steps, events, journal, EIS) is written with HDF5's Fletcher32 filter: a
  chunk whose bytes changed fails its checksum, so random bytes in the sample data are refused in
  one line with exit 2 by every reader (report, export, plot, resume) instead of being read as data.
* ``bench repair`` keeps every chunk that verifies and says how many it dropped.
* Readers check a file in a child process with a time bound: damage that makes HDF5 itself spin
  (4 KB of noise at offset 512, over the root group's metadata) is one line and exit 2, not a hang.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from bench.cli import main
from bench.runfile import probe
from bench.runfile.reader import RunFile
from bench.simulated.builtin_bench import cell_datasheet
from protocols.loader import parse_protocol
from tests.simrun import run_on_sim_bench

pytestmark = pytest.mark.timeout(180)

PROTOCOL = """
name: checksum_source
cell: {preset: nmc_21700}
sampling: {period_s: 1}
steps:
  - Discharge at C/10 for 60 minutes
  - Rest for 100 minutes
"""


@pytest.fixture(scope="module")
def completed(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("checksums") / "completed.h5"
    protocol = parse_protocol(PROTOCOL, file="checksum_source.yaml", cell_defaults=cell_datasheet)
    run_on_sim_bench(protocol, path)
    return path


def _chunk(path: Path, table: str, index: int) -> tuple[int, int]:
    """(byte offset, size) of chunk ``index`` of ``table``."""
    with h5py.File(path, "r") as handle:
        info = handle[table].id.get_chunk_info(index)
        return int(info.byte_offset), int(info.size)


def _noise(source: Path, target: Path, offset: int, size: int, seed: int = 26) -> Path:
    data = bytearray(source.read_bytes())
    data[offset:offset + size] = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()
    target.write_bytes(bytes(data))
    return target


def _readers(damaged: Path, tmp_path: Path) -> list[list[str]]:
    return [["report", str(damaged)], ["report", str(damaged), "--json"],
            ["export", str(damaged), "--format", "bdf-csv"],
            ["plot", str(damaged), "--png", str(tmp_path / "run.png")],
            ["resume", str(damaged), "--no-progress"]]


def test_every_table_is_written_with_fletcher32(completed: Path) -> None:
    with h5py.File(completed, "r") as handle:
        names: list[str] = []
        handle.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
        assert {"samples", "steps", "events", "journal"} <= set(names)
        assert [name for name in names if not handle[name].fletcher32] == []


@pytest.mark.parametrize("table", ["samples", "events", "steps", "journal"])
def test_random_bytes_in_a_chunk_are_refused_by_every_reader(completed: Path, tmp_path: Path, capsys,
                                                             table: str) -> None:
    offset, size = _chunk(completed, table, 0)
    damaged = _noise(completed, tmp_path / "run.h5", offset + 16, min(64, size - 20))
    readers = _readers(damaged, tmp_path) if table == "samples" else _readers(damaged, tmp_path)[:1]
    for args in readers:
        code = main(args)
        err = capsys.readouterr().err
        assert code == 2, (args, err)
        assert err.count("\n") == 1 and err.startswith("bench: error: ") and "damaged run file" in err, err
        assert f"/{table}" in err and "checksum" in err, err
        assert err.count("damaged run file") == 1, err   # not doubled (defect 10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.h5"]  # no partial output left behind


def test_repair_keeps_the_chunks_that_verify_and_says_how_many_it_dropped(completed: Path, tmp_path: Path,
                                                                         capsys) -> None:
    with RunFile(completed) as run:
        original = run.samples
    assert len(original) > 2 * 4096   # at least three chunks of /samples
    offset, size = _chunk(completed, "samples", 1)
    damaged = _noise(completed, tmp_path / "run.h5", offset + 100, 64)
    assert main(["repair", str(damaged)]) == 0
    out = capsys.readouterr().out
    assert "dropped 1 chunk of /samples" in out and "closed properly" not in out, out
    with RunFile(tmp_path / "run.repaired.h5") as run:   # the salvage verifies
        samples = run.samples
    kept = np.concatenate([original[:4096], original[8192:]])
    np.testing.assert_array_equal(samples, kept)


def test_damage_that_makes_hdf5_spin_is_one_line_in_bounded_time(completed: Path, tmp_path: Path, capsys,
                                                                 monkeypatch) -> None:
    """4 KB of noise at offset 512 (the root group's metadata): h5py never returns from listing
    the groups; the child process that checks the file is stopped at its bound."""
    monkeypatch.setattr(probe, "PROBE_TIMEOUT_S", 2.0)   # every reader hangs here: a short bound
    damaged = _noise(completed, tmp_path / "run.h5", 512, 4096)
    for args in [*_readers(damaged, tmp_path), ["repair", str(damaged)]]:
        code = main(args)
        err = capsys.readouterr().err
        assert code == 2, (args, err)
        assert err.count("\n") == 1 and "damaged run file" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.h5"]
