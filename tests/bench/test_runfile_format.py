"""The run file: BDF column names, provenance attributes, SWMR readable while open, tables."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from bench.runfile.layout import SAMPLE_COLUMNS, SAMPLE_DTYPE
from bench.runfile.reader import RunFile, RunFileError
from bench.runfile.writer import RunWriter


def _row(t: float) -> tuple:
    return tuple(np.zeros(1, dtype=SAMPLE_DTYPE)[0].tolist()[:0]) or (
        t, 1.7e9 + t, 3.7, -1.0, -3.7, 1, 1, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 25.0, 25.0)


def test_file_is_readable_while_written_and_has_bdf_columns(tmp_path):
    path = tmp_path / "run.h5"
    writer = RunWriter(path, {"protocol": "x", "cell": {"capacity_ah": 5.0}}, batch_rows=10)
    for n in range(25):
        writer.append_sample_row(_row(float(n)))
    writer.event(3.0, "safety_trip", 1, "test", {"rule": "voltage_limit"})
    # 20 rows were flushed in two batches; a SWMR reader sees them while the writer is open.
    with h5py.File(path, "r", swmr=True, libver="latest") as reader:
        samples = reader["samples"]
        assert samples.shape[0] >= 20
        assert list(samples.dtype.names) == [name for name, _ in SAMPLE_COLUMNS]
        assert reader.attrs["protocol"] == "x"
    writer.close()
    with RunFile(path) as run:
        assert len(run.samples) == 25
        assert run.column("Test Time / s")[-1] == 24.0
        assert run.attrs["cell"] == {"capacity_ah": 5.0}
        assert run.events[0]["data"]["rule"] == "voltage_limit"


def test_run_file_from_a_real_run_carries_provenance(tmp_path, sim_bench):
    from bench.engine.runner import execute
    from protocols.loader import parse_protocol

    protocol = parse_protocol(
        "name: short\ncell: {capacity_ah: 5, voltage_max_v: 4.2, voltage_min_v: 2.5, current_max_a: 7}\n"
        "steps:\n  - Discharge at 1 A for 10 minutes\n  - Rest for 5 minutes\n", file="short.yaml")
    outcome = execute(protocol, sim_bench, tmp_path / "r.h5", operator="tech")
    with RunFile(tmp_path / "r.h5") as run:
        attrs = run.attrs
        assert attrs["status"] == "completed" and attrs["operator"] == "tech"
        assert "MODEL 2460" in attrs["instruments"]["cycler"]
        assert len(attrs["protocol_sha256"]) == 64 and "Discharge at 1 A" in attrs["protocol_text"]
        assert attrs["start_time_utc"].endswith("+00:00")
        current = run.column("Current / A")
        assert np.all(current[1:601] < 0)  # BDF sign: discharge is negative
        protocol_rows = run.samples["Step Index / 1"] >= 0  # the final observation follows (index -1)
        assert protocol_rows.sum() == 901 + 1  # 0..600 s then 0..300 s at 1 s
    assert outcome.report["metrics"]["discharge_capacity_ah"] == pytest.approx(1.0 * 600 / 3600, rel=1e-3)


def test_missing_or_foreign_file_is_a_clear_error(tmp_path):
    with pytest.raises(RunFileError, match="no such run file"):
        RunFile(tmp_path / "nope.h5")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(RunFileError, match="not a readable HDF5"):
        RunFile(tmp_path / "junk.h5")
