"""``bench run --cell-state FILE``: the simulated cell is carried from one run to the next."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import pytest

from bench.cli import main

SHORT = """\
name: cell_state_short
cell: {preset: nmc_21700}
sampling: {period_s: 10}
steps:
  - Charge at 0.5C for 20 minutes
  - Discharge at 1C for 20 minutes
"""


@pytest.fixture
def protocol(tmp_path: Path) -> Path:
    path = tmp_path / "short.yaml"
    path.write_text(SHORT, encoding="utf-8")
    return path


def test_a_second_run_continues_the_first_runs_cell(protocol: Path, tmp_path: Path) -> None:
    state = tmp_path / "cell.json"
    first, second = tmp_path / "a.h5", tmp_path / "b.h5"
    assert main(["run", str(protocol), "--cell-state", str(state), "--out", str(first), "--no-progress"]) in (0, 1)
    saved = json.loads(state.read_text())["cells"][0]
    assert saved["throughput_ah"] > 2.0 and saved["sei_ah"] > 0 and saved["preset"] == "nmc_21700"
    assert main(["run", str(protocol), "--cell-state", str(state), "--out", str(second), "--no-progress"]) in (0, 1)
    with h5py.File(first) as f1, h5py.File(second) as f2:
        start1 = json.loads(f1.attrs["bench_config"])["cell_state"]["start"]
        start2 = json.loads(f2.attrs["bench_config"])["cell_state"]["start"][0]
    assert start1 == "fresh cell"
    assert start2["throughput_ah"] == pytest.approx(saved["throughput_ah"])   # provenance: where it started
    again = json.loads(state.read_text())["cells"][0]
    assert again["throughput_ah"] > saved["throughput_ah"] and again["sei_ah"] > saved["sei_ah"]


@pytest.mark.parametrize(("content", "message"), [
    ("not json", "corrupt cell state file"),
    (json.dumps({"format": "cellbench-cell-state", "version": 1, "cells": [{"preset": "lfp_26650"}]}), "cell 0"),
])
def test_a_bad_state_file_is_refused_before_anything_runs(protocol: Path, tmp_path: Path, capsys, content: str,
                                                         message: str) -> None:
    state = tmp_path / "cell.json"
    state.write_text(content)
    out = tmp_path / "run.h5"
    assert main(["run", str(protocol), "--cell-state", str(state), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and str(state) in err[0]
    assert not out.exists()
