"""Behaviour pinned by hashes of the run-file tables (issue 19: the restructure of ``bench/``
must not change what a run records).

The hashes cover every column of ``/samples`` except ``Unix Time / s`` (wall clock), and every
column of ``/steps`` and ``/events`` with the event data's wall-clock latency
(``latency_wall_s``) removed. Fixed seeds: the simulated bench's noise is seeded per cell.
Recorded before the restructure (commit a5e68ae) with the CLI:
``bench run capacity_check`` and ``bench run puncture_safe_cycling --fault
internal_short@3h,resistance_ohm=0.1``. A change of physics or of what a run records moves
them on purpose: re-record them in the same commit and say why.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from bench.cli import main

#: Fields that depend on the wall clock, not on the run.
WALL_CLOCK_COLUMNS = {"Unix Time / s"}
WALL_CLOCK_EVENT_KEYS = {"latency_wall_s"}

GOLDEN = {
    "capacity_check": {
        "samples": "0d0bd0b152704fc3cffe1ff90093cafc170cb9f22491ec6579d5f32fababbbc9",
        "steps": "45fcdca9cf9eaac11f4b1887b00dfabdabc14e171ae656b15c9246dc9ebbbea9",
        "events": "6655e4c16bcfb0069221eee8dcd7b2503983b0b95103615e1829ce91e072bd42",
    },
    "puncture_safe_cycling": {
        "samples": "db5548b9b40c84500ec549ea67876908424e43c1496ce4f601f683cc954d06fe",
        "steps": "f7aae6a2565842d132a78d715d9fbdfaf6d673f4541cb5a234ab01e39f9ab265",
        "events": "462795f70e58e6b427c04c81f78b8fb5d4e6192f4aa5736dfb37c83d30754083",
    },
}
ARGS = {
    "capacity_check": [],
    "puncture_safe_cycling": ["--fault", "internal_short@3h,resistance_ohm=0.1"],
}
EXIT = {"capacity_check": 0, "puncture_safe_cycling": 3}


def _text(column: str, value: object) -> str:
    text = value.decode() if isinstance(value, bytes) else str(value)
    if column == "data":
        try:
            data = json.loads(text)
        except ValueError:
            return text
        if isinstance(data, dict):
            for key in WALL_CLOCK_EVENT_KEYS:
                data.pop(key, None)
        text = json.dumps(data, sort_keys=True)
    return text


def table_hash(path: Path, table: str) -> str:
    """SHA-256 of a run-file table, wall-clock fields left out."""
    with h5py.File(path, "r") as f:
        rows = f[table][:]
    digest = hashlib.sha256()
    for column in rows.dtype.names:
        if column in WALL_CLOCK_COLUMNS:
            continue
        values = rows[column]
        if values.dtype.kind == "O":
            digest.update("\x1f".join(_text(column, v) for v in values).encode())
        else:
            digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()


@pytest.mark.parametrize("protocol", sorted(GOLDEN))
def test_run_file_tables_match_the_recorded_hashes(protocol: str, tmp_path: Path) -> None:
    out = tmp_path / f"{protocol}.h5"
    code = main(["run", protocol, "--out", str(out), "--no-progress", *ARGS[protocol]])
    assert code == EXIT[protocol]
    assert {t: table_hash(out, t) for t in ("samples", "steps", "events")} == GOLDEN[protocol]
