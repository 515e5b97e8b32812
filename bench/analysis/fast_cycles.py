"""Per-cycle summary straight from every sample of ``/samples``, fast enough for 10M-row runs.

Why not ``RunFile.samples`` / ``dataset.fields(...)``: those read the whole compound table into
one fresh 1 GB array (page faults, HDF5 type conversion) before any reduction. Here the table is
read one HDF5 chunk at a time with ``read_direct_chunk`` (the stored bytes, no conversion, no
copy), each chunk is viewed as :data:`SAMPLE_DTYPE` records with ``np.frombuffer`` and reduced
per run of equal ``Cycle Count`` with ``np.*.reduceat``; the per-chunk segments are merged at the
end. A chunk that cannot be taken raw (filters, a byte order or dtype other than the layout's,
a chunk not yet allocated by a live writer) is read through h5py with conversion instead.

The engine's sample counters ``Charging/Discharging Capacity / Ah`` and ``... Energy / Wh`` are
per-cycle running sums (reset at each cycle start), so a cycle's charge is the maximum of its
samples. Units: Ah, Wh, s (test time), °C; efficiencies are fractions (discharge / charge).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from bench.runfile.h5open import open_swmr_reader
from bench.runfile.layout import SAMPLE_DTYPE

CYCLE = "Cycle Count / 1"
STEP = "Step Count / 1"
TIME = "Test Time / s"
TEMP = "Surface Temperature T1 / degC"
#: (output key, BDF label, reduction) of the per-cycle maxima/minima.
REDUCTIONS: tuple[tuple[str, str, np.ufunc], ...] = (
    ("charge_ah", "Charging Capacity / Ah", np.fmax),
    ("discharge_ah", "Discharging Capacity / Ah", np.fmax),
    ("charge_wh", "Charging Energy / Wh", np.fmax),
    ("discharge_wh", "Discharging Energy / Wh", np.fmax),
    ("temperature_max_c", TEMP, np.fmax),
    ("temperature_min_c", TEMP, np.fmin),
)
#: Segment columns taken at the first / last row of each run of equal cycle number.
FIRSTS = (("cycle", CYCLE), ("start_time_s", TIME), ("first_step", STEP))
LASTS = (("end_time_s", TIME), ("last_step", STEP))


def _raw_ok(dataset: h5py.Dataset) -> bool:
    """Whether the stored chunks are the layout's records byte for byte (no filters)."""
    plist = dataset.id.get_create_plist()
    return (dataset.chunks is not None and plist.get_nfilters() == 0 and dataset.dtype == SAMPLE_DTYPE
            and dataset.id.get_type().get_size() == SAMPLE_DTYPE.itemsize)


def _chunks(dataset: h5py.Dataset, rows_per_read: int = 4096) -> Iterator[np.ndarray]:
    """Yield the table as consecutive blocks of records (views on stored chunks when possible)."""
    n = dataset.shape[0]
    raw = _raw_ok(dataset)
    step = dataset.chunks[0] if raw else rows_per_read
    read_chunk = dataset.id.read_direct_chunk
    for start in range(0, n, step):
        stop = min(n, start + step)
        if raw:
            try:
                _mask, data = read_chunk((start,))
            except (KeyError, RuntimeError, ValueError, OSError):  # chunk not allocated yet
                data = None
            if data is not None and len(data) >= (stop - start) * SAMPLE_DTYPE.itemsize:
                yield np.frombuffer(data, SAMPLE_DTYPE, count=stop - start)
                continue
        yield dataset[start:stop]


def _segments(block: np.ndarray) -> dict[str, np.ndarray]:
    """Per run of equal cycle number within ``block``: first/last values and the reductions."""
    cycle = block[CYCLE]
    if cycle[0] == cycle[-1]:  # the usual case: the whole block is in one cycle
        out = {key: block[label][:1] for key, label in FIRSTS}
        out.update({key: block[label][-1:] for key, label in LASTS})
        for key, label, ufunc in REDUCTIONS:
            out[key] = ufunc.reduce(block[label], keepdims=True)  # fmax/fmin: NaN only if all NaN
        out["rows"] = np.array([len(block)])
        return out
    starts = np.concatenate(([0], np.flatnonzero(cycle[1:] != cycle[:-1]) + 1))
    ends = np.concatenate((starts[1:] - 1, [len(block) - 1]))
    out = {key: block[label][starts] for key, label in FIRSTS}
    out.update({key: block[label][ends] for key, label in LASTS})
    for key, label, ufunc in REDUCTIONS:
        out[key] = ufunc.reduceat(block[label], starts)
    out["rows"] = ends - starts + 1
    return out


def summarise_samples(dataset: h5py.Dataset) -> dict[str, np.ndarray]:
    """Per-cycle arrays from every sample of ``dataset`` (the ``/samples`` table): ``cycle``,
    ``start_time_s``, ``end_time_s``, ``charge_ah``, ``discharge_ah``, ``charge_wh``,
    ``discharge_wh``, ``temperature_max_c``, ``temperature_min_c`` (NaN: no reading), ``rows``,
    ``steps`` (step counts spanned), ``coulombic_efficiency``, ``energy_efficiency`` (NaN when
    the cycle did not both charge and discharge)."""
    parts = [_segments(block) for block in _chunks(dataset) if len(block)]
    keys = [k for k, _ in FIRSTS] + [k for k, _ in LASTS] + [k for k, _, _ in REDUCTIONS] + ["rows"]
    if not parts:
        empty = {key: np.zeros(0) for key in keys}
        empty.update(steps=np.zeros(0, dtype=int), coulombic_efficiency=np.zeros(0), energy_efficiency=np.zeros(0))
        return empty
    seg = {key: np.concatenate([p[key] for p in parts]) for key in keys}
    # merge segments of one cycle split across chunk boundaries
    cycle = seg["cycle"]
    starts = np.concatenate(([0], np.flatnonzero(cycle[1:] != cycle[:-1]) + 1))
    ends = np.concatenate((starts[1:] - 1, [len(cycle) - 1]))
    out = {key: seg[key][starts] for key, _ in FIRSTS}
    out.update({key: seg[key][ends] for key, _ in LASTS})
    for key, _label, ufunc in REDUCTIONS:
        out[key] = ufunc.reduceat(seg[key], starts)
    out["rows"] = np.add.reduceat(seg["rows"], starts)
    out["steps"] = (out.pop("last_step") - out.pop("first_step") + 1).astype(int)
    with np.errstate(divide="ignore", invalid="ignore"):
        for key, num, den in (("coulombic_efficiency", "discharge_ah", "charge_ah"),
                              ("energy_efficiency", "discharge_wh", "charge_wh")):
            ok = (out[num] > 1e-9) & (out[den] > 1e-9)
            out[key] = np.where(ok, out[num] / np.where(ok, out[den], 1.0), np.nan)
    return out


def fast_cycle_summary(path: str | Path) -> dict[str, np.ndarray]:
    """:func:`summarise_samples` of the run file at ``path`` (opened read-only, SWMR: works on a
    run still being written). Raises OSError/KeyError naming the file when it is not a run file."""
    try:
        handle = open_swmr_reader(path)
    except OSError as exc:
        raise OSError(f"{path}: cannot open run file ({exc})") from exc
    with handle:
        if "samples" not in handle:
            raise KeyError(f"{path}: no /samples table (not a CellBench run file)")
        dataset = handle["samples"]
        dataset.refresh()
        return summarise_samples(dataset)


def as_rows(summary: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """The summary as one dict per cycle (NaN -> None), like ``cycle_table`` rows."""
    keys = list(summary)
    rows = []
    for values in zip(*(summary[k].tolist() for k in keys), strict=True):
        rows.append({k: (None if isinstance(v, float) and v != v else v) for k, v in zip(keys, values, strict=True)})
    return rows
