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
        "samples": "3d0136cda3c44177ea25f8e17968f2c6900c0334bcf53c7a9c21472a38613422",
        "steps": "1907ad7f4a36b4b02badf7049e0970266b3c5017a423a40792dd0ad4a7bbb331",
        "events": "57bf913ab59a9f2ae10101da200715c7db9f1fcaa4cc4f8ea963c254680ed27b",
    },
    "puncture_safe_cycling": {
        "samples": "8038b5605a83628d05c05d71de499f442d304a0ac3c235549ab3b77d357894d0",
        "steps": "ddd02ca683d999a7bcd3d3dada9124b7506892aaf3d62af1357e4f7ab44d4f55",
        "events": "da88cd28e6497bc84f3a7e1e3b95d0c044713cbc63cfc23e8a5e5cf85b44b1d4",
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
