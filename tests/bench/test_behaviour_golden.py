"""Behaviour pinned by hashes of the run-file tables (issue 19: the restructure of ``bench/``
must not change what a run records).

The hashes cover every column of ``/samples`` except ``Unix Time / s`` (wall clock), and every
column of ``/steps`` and ``/events`` with the event data's wall-clock latency
(``latency_wall_s``) removed. Fixed seeds: the simulated bench's noise is seeded per cell.
Recorded before the restructure (commit a5e68ae) with the CLI:
``bench run capacity_check`` and ``bench run puncture_safe_cycling --fault
internal_short@3h,resistance_ohm=0.1``. A change of physics or of what a run records moves
them on purpose: re-record them in the same commit and say why.
Re-recorded (issue 21, claims): capacity_check now discharges at C/5 with its numbers from the
cell preset (rated 5 Ah, not the file's hand-written block) and fails its rated-capacity and
energy claims (exit 1); puncture_safe_cycling's limits follow the cell and a charge after a
charge-discharge pair starts a new cycle.
Re-recorded after the merge of issues 15, 18 and 21 (2026-12-06): the cell ages (SEI, plating,
charge calibration: issue 15), every scheduled and applied fault is an event and no two rows
share a test time at a step boundary (issue 18), and the claims above. The restructure itself
(commit b84e68b) left the a5e68ae hashes unchanged: that commit's test passed with them.
Re-recorded (issue 26 item 1): capacity_check ends with the final observation (its samples and
two events, ``final_observation_start`` / ``final_observation_end``); its steps are unchanged.
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
        "samples": "e0a48cabe1a3541632f5acdbab15c54f3908d16acb73797cbba20cc05571d4f0",
        "steps": "74a2ff8c0cadba43c7dc8ca17a37053be4d0583423a771399c88bdee5df22a06",
        "events": "98c8ccbc005dc268f9e3cb6a6873991f096b053d1cca58a9ffceb071d920449c",
    },
    "puncture_safe_cycling": {
        "samples": "ad8620b2a5b617efbbe2b1aeb8b557c52d09aa6c143eb4956187d90afc287d7a",
        "steps": "3ca5811b7b2c340d09d55c6ab3d6c1fe57e09eca332398980d0df4dfdac90787",
        "events": "791e670f90bcb95b2eb06ffba99827b1eb5324f1163fdf056b382498ffbbedeb",
    },
}
ARGS = {
    "capacity_check": [],
    "puncture_safe_cycling": ["--fault", "internal_short@3h,resistance_ohm=0.1"],
}
EXIT = {"capacity_check": 1, "puncture_safe_cycling": 3}


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
