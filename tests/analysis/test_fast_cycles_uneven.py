"""The per-cycle summary's vectorised raw path (bench.analysis.fast_cycles, issue 31) against the
previous way (every row read through h5py, reduced per cycle) on unevenly spaced rows, as a run
recorded by change writes them; and a damaged chunk is refused, not summarised.

Claims: on a run file written by the production writer (Fletcher-32 chunks) with uneven row
spacing, cycles of very different lengths, cycles straddling chunk and block boundaries, and lost
temperature readings, the raw path returns the same per-cycle arrays as reading every row through
h5py; the checksum check it runs is HDF5's own Fletcher-32 sum1; a flipped byte in a stored chunk
raises an error naming a checksum, not a wrong summary.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from bench.analysis import fast_cycles
from bench.runfile.layout import SAMPLE_DTYPE
from bench.runfile.writer import RunWriter

CHARGE, DISCHARGE = "Charging Capacity / Ah", "Discharging Capacity / Ah"


def _uneven_run(path: Path, seed: int = 7) -> np.ndarray:
    """A run file of uneven rows: 23 cycles of 50 to 9,000 rows, gaps of 1 s to 60 s, the
    per-cycle counters growing by the trapezoid of each gap's current, some temperatures NaN."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(50, 9000, size=23)
    lengths[5] = 1  # a one-row cycle
    n = int(lengths.sum())
    rows = np.zeros(n, dtype=SAMPLE_DTYPE)
    t = np.cumsum(rng.choice([1.0, 1.0, 1.0, 7.5, 60.0], size=n))
    rows["Test Time / s"] = t
    rows["Unix Time / s"] = 1.7e9 + t
    cycle = np.repeat(np.arange(1, lengths.size + 1), lengths)
    rows["Cycle Count / 1"] = cycle
    start = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    position = np.arange(n) - np.repeat(start, lengths)
    charging = position < np.repeat(lengths // 2, lengths)
    current = np.where(charging, 2.5, -5.0)
    rows["Current / A"] = current
    rows["Step Count / 1"] = 2 * cycle - charging.astype(int)
    dt_h = np.diff(t, prepend=t[0]) / 3600.0
    new_cycle = position == 0
    for label, mask in ((CHARGE, charging), (DISCHARGE, ~charging)):
        moved = np.where(mask, np.abs(current) * dt_h, 0.0)
        moved[new_cycle] = 0.0
        total = np.cumsum(moved)
        rows[label] = total - np.repeat(total[start], lengths)  # running sums within each cycle
    rows["Charging Energy / Wh"] = rows[CHARGE] * 3.7
    rows["Discharging Energy / Wh"] = rows[DISCHARGE] * 3.6
    rows["Voltage / V"] = 3.6 + 0.1 * rng.standard_normal(n)
    temp = 25.0 + 5.0 * rng.random(n)
    temp[rng.random(n) < 0.01] = np.nan
    temp[start[7]:start[8]] = np.nan  # a cycle with no reading at all
    rows["Surface Temperature T1 / degC"] = temp
    rows["Ambient Temperature / degC"] = 25.0
    writer = RunWriter(path, {"protocol": "uneven"})
    try:
        for lo in range(0, n, 50_000):
            writer.append_sample_block(rows[lo:lo + 50_000])
    finally:
        writer.close()
    return rows


def _summary(path: Path) -> dict[str, np.ndarray]:
    return fast_cycles.fast_cycle_summary(path)


def test_raw_path_equals_reading_every_row_through_h5py_on_uneven_rows(tmp_path, monkeypatch):
    path = tmp_path / "uneven.h5"
    rows = _uneven_run(path)
    with h5py.File(path, "r") as handle:
        assert fast_cycles._raw_layout(handle["samples"]) == 4  # the writer's Fletcher-32 chunks
    monkeypatch.setattr(fast_cycles, "CHUNKS_PER_BLOCK", 3)  # many blocks: cycles straddle them
    raw = _summary(path)
    monkeypatch.setattr(fast_cycles, "_raw_layout", lambda dataset: None)  # the previous way
    converted = _summary(path)
    assert raw.keys() == converted.keys()
    for key in raw:
        np.testing.assert_array_equal(raw[key], converted[key], err_msg=key)
    # and both are the per-cycle truth of the rows
    cycle = rows["Cycle Count / 1"]
    assert raw["cycle"].tolist() == sorted(set(cycle.tolist()))
    for k, c in enumerate(raw["cycle"].tolist()):
        mine = rows[cycle == c]
        assert raw["rows"][k] == len(mine)
        assert raw["charge_ah"][k] == mine[CHARGE].max() and raw["discharge_ah"][k] == mine[DISCHARGE].max()
        assert raw["end_time_s"][k] == mine["Test Time / s"][-1]
        temps = mine["Surface Temperature T1 / degC"]
        if np.isfinite(temps).any():
            assert raw["temperature_max_c"][k] == np.nanmax(temps)
        else:
            assert np.isnan(raw["temperature_max_c"][k])


def test_the_checksum_check_is_hdf5s_fletcher32_sum1(tmp_path):
    path = tmp_path / "uneven.h5"
    _uneven_run(path)
    with h5py.File(path, "r") as handle:
        dataset = handle["samples"]
        data_bytes = dataset.chunks[0] * SAMPLE_DTYPE.itemsize
        chunks = [dataset.id.read_direct_chunk((k * dataset.chunks[0],))[1] for k in range(4)]
    block = np.frombuffer(b"".join(c[:data_bytes] for c in chunks), np.uint8).reshape(4, data_bytes)
    trailers = np.frombuffer(b"".join(c[data_bytes:] for c in chunks), np.uint8).reshape(4, 4)
    assert fast_cycles._sum1_ok(block, trailers).all()
    damaged = block.copy()
    damaged[2, 1000] ^= 0x10
    assert fast_cycles._sum1_ok(damaged, trailers).tolist() == [True, True, False, True]


def test_a_flipped_byte_in_a_stored_chunk_is_refused_not_summarised(tmp_path):
    path = tmp_path / "uneven.h5"
    _uneven_run(path)
    with h5py.File(path, "r") as handle:
        info = handle["samples"].id.get_chunk_info(3)
    with open(path, "r+b") as handle:
        handle.seek(info.byte_offset + 500)
        byte = handle.read(1)
        handle.seek(info.byte_offset + 500)
        handle.write(bytes([byte[0] ^ 0x01]))
    with pytest.raises(OSError):
        _summary(path)
