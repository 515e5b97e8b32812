"""Per-cycle summary straight from every sample of ``/samples``, fast enough for 10M-row runs.

Why not ``RunFile.samples`` / ``dataset.fields(...)``: those read the whole compound table into
one fresh 1 GB array through HDF5's filter pipeline (its byte-wise Fletcher-32 loop, a type
conversion, a copy) before any reduction. Here the stored chunks are read raw with
``read_direct_chunk``, :data:`CHUNKS_PER_BLOCK` at a time into a reused buffer (records of
consecutive chunks contiguous), their checksums checked in one vectorised pass (:func:`_sum1_ok`),
the records viewed in place (no copy) and the needed columns reduced per run of equal ``Cycle Count`` with ``np.flatnonzero`` / ``np.*.reduceat`` (no
Python loop over rows); the per-block segments are merged at the end. Reading and reducing
overlap: the calling thread reads block k + 1 while one worker thread checks and reduces block k
(two buffers alternate; numpy releases the GIL in its loops, h5py calls stay on the calling thread). A chunk that cannot be taken
raw (another filter, a byte order or dtype other than the layout's, a chunk not yet allocated by
a live writer, a checksum mismatch) is read through h5py instead. Rows may be unevenly spaced
(recorded by change, :mod:`bench.engine.recording`): nothing here counts rows or assumes a period.

The engine's sample counters ``Charging/Discharging Capacity / Ah`` and ``... Energy / Wh`` are
per-cycle running sums (reset at each cycle start, integrated at the acquisition rate), so a
cycle's charge is the counter at its last row, exact however sparse the rows. Units: Ah, Wh, s (test time), °C; efficiencies are fractions (discharge / charge).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
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
#: (output key, BDF label, reduction) of the per-cycle extremes.
REDUCTIONS: tuple[tuple[str, str, np.ufunc], ...] = (
    ("temperature_max_c", TEMP, np.fmax),
    ("temperature_min_c", TEMP, np.fmin),
)
#: Segment columns taken at the first / last row of each run of equal cycle number. The charge and
#: energy counters are running sums within the cycle (they only grow), so the cycle's totals are
#: their values at its last row: a gather, not a pass over every row.
FIRSTS = (("cycle", CYCLE), ("start_time_s", TIME), ("first_step", STEP))
LASTS = (("end_time_s", TIME), ("last_step", STEP), ("charge_ah", "Charging Capacity / Ah"),
         ("discharge_ah", "Discharging Capacity / Ah"), ("charge_wh", "Charging Energy / Wh"),
         ("discharge_wh", "Discharging Energy / Wh"))
#: HDF5's filter id of Fletcher-32 (H5Z_FILTER_FLETCHER32): the chunk's bytes then end with its
#: 4-byte checksum.
FLETCHER32 = 3
#: Stored chunks read and reduced together (4096 rows each: 262,144 rows, 28 MB per block).
CHUNKS_PER_BLOCK = 64
#: Columns the summary reads.
COLUMNS = (CYCLE, STEP, TIME, "Charging Capacity / Ah", "Discharging Capacity / Ah", "Charging Energy / Wh",
           "Discharging Energy / Wh", TEMP)
#: 256 ** -1 modulo 65535 (256 * 256 = 65535 + 1): see :func:`_sum1_ok`.
_INV_256 = 256


def _raw_layout(dataset: h5py.Dataset) -> int | None:
    """Bytes after each stored chunk's records (0: no filter; 4: a Fletcher-32 checksum and no other
    filter), or None when the stored chunks are not the layout's records byte for byte (another
    filter, another byte order or dtype, no chunks): then the table is read through h5py."""
    if dataset.chunks is None or dataset.dtype != SAMPLE_DTYPE \
            or dataset.id.get_type().get_size() != SAMPLE_DTYPE.itemsize:
        return None
    plist = dataset.id.get_create_plist()
    filters = [plist.get_filter(k)[0] for k in range(plist.get_nfilters())]
    if not filters:
        return 0
    return 4 if filters == [FLETCHER32] else None


def _sum1_ok(data: np.ndarray, trailers: np.ndarray) -> np.ndarray:
    """Per stored chunk (a row of ``data``: its bytes; of ``trailers``: the 4-byte Fletcher-32
    checksum HDF5 wrote after them), whether the checksum's first half matches the data.

    HDF5's Fletcher-32 (H5checksum.c) reads the data as big-endian 16-bit words w; its low 16 bits
    are sum1 = Σ w mod 65535 (one's-complement folding: 0 and 65535 are the same residue), its high
    16 bits sum2 = Σ (N - i) w_i. sum1 is checked here in one vectorised pass: read as little-endian
    32-bit words, the data sums to Σ u mod 65535 where u is each 16-bit word byte-swapped (2^16 = 1
    mod 65535), and u = 256 w mod 65535, so Σ w = 256^-1 Σ u. It finds any single flipped bit, a
    zeroed or torn chunk (all but 1 in 65535 of them); sum2, position-weighted, would take a
    multiply per word: a full check is what reading through h5py does (the fallback)."""
    total = data.view("<u4").sum(axis=1, dtype=np.uint64) % np.uint64(65535)
    sum1 = (total * np.uint64(_INV_256)) % np.uint64(65535)
    stored = np.ascontiguousarray(trailers).view("<u4")[:, 0].astype(np.uint64)
    return (stored & np.uint64(0xFFFF)) % np.uint64(65535) == sum1


def _columns(records: np.ndarray) -> dict[str, np.ndarray]:
    return {label: records[label] for label in COLUMNS}


def _h5py_blocks(dataset: h5py.Dataset) -> Iterator[dict[str, np.ndarray]]:
    """The table's :data:`COLUMNS` in blocks of 65,536 rows read through h5py (conversion, the
    filter pipeline's full checksum): for a table whose stored chunks are not the layout's records."""
    n = dataset.shape[0]
    step = 65536
    for start in range(0, n, step):
        yield _columns(dataset[start:min(n, start + step)])


class _RawBlock:
    """One block of up to :data:`CHUNKS_PER_BLOCK` stored chunks read raw into ``buffer``: chunk
    k's records at ``buffer[k * data_bytes:]`` (consecutive chunks' records contiguous), its
    Fletcher-32 trailer copied to ``trailers[k]``; ``good[k]``: chunk k was read whole."""

    __slots__ = ("start", "stop", "count", "buffer", "trailers", "good")

    def __init__(self, buffer: np.ndarray, trailers: np.ndarray) -> None:
        self.buffer, self.trailers = buffer, trailers
        self.start = self.stop = self.count = 0
        self.good = np.zeros(0, dtype=bool)

    def records(self) -> np.ndarray:
        """The block's rows, a view of the buffer (no copy)."""
        return np.frombuffer(self.buffer, SAMPLE_DTYPE, count=self.stop - self.start)


def _read_raw(dataset: h5py.Dataset, block: _RawBlock, start: int, trailer: int) -> None:
    """Read the stored chunks from row ``start`` raw into ``block`` (``read_direct_chunk``: no
    HDF5 filter pipeline, no type conversion). A chunk not allocated yet (a live writer) or with a
    filter skipped is marked not good."""
    rows_per_chunk = dataset.chunks[0]
    data_bytes = rows_per_chunk * SAMPLE_DTYPE.itemsize
    stride = data_bytes + trailer
    stop = min(dataset.shape[0], start + rows_per_chunk * CHUNKS_PER_BLOCK)
    count = (stop - start + rows_per_chunk - 1) // rows_per_chunk
    good = np.zeros(count, dtype=bool)
    buffer, trailers = block.buffer, block.trailers
    read_chunk = dataset.id.read_direct_chunk
    for k in range(count):
        at = k * data_bytes
        try:
            mask, data = read_chunk((start + k * rows_per_chunk,), out=buffer[at:])
        except (KeyError, RuntimeError, ValueError, OSError):  # not allocated yet (a live file)
            continue
        good[k] = mask == 0 and len(data) == stride
        if trailer:  # copied out before chunk k + 1 overwrites it
            trailers[k] = buffer[at + data_bytes:at + stride]
    block.start, block.stop, block.count, block.good = start, stop, count, good


def _checked(block: _RawBlock, data_bytes: int, trailer: int) -> np.ndarray:
    """The block's chunks that are good and whose checksum's sum1 matches (:func:`_sum1_ok`)."""
    good = block.good
    if trailer and good.any():
        count = block.count
        good = good & _sum1_ok(block.buffer[:count * data_bytes].reshape(count, data_bytes), block.trailers[:count])
    return good


def _repair(dataset: h5py.Dataset, block: _RawBlock, good: np.ndarray) -> np.ndarray:
    """The block's records with every chunk that is not ``good`` read through h5py (conversion and
    the full checksum: a damaged chunk raises OSError naming it)."""
    records = block.records()
    rows_per_chunk = dataset.chunks[0]
    for bad in np.flatnonzero(~good).tolist():
        lo = block.start + bad * rows_per_chunk
        hi = min(block.stop, lo + rows_per_chunk)
        records[lo - block.start:hi - block.start] = dataset[lo:hi]
    return records


def _raw_segments(dataset: h5py.Dataset, trailer: int) -> list[dict[str, np.ndarray]]:
    """Per-block segments (:func:`_segments`) of a table whose stored chunks are the layout's
    records, read raw (:func:`_read_raw`), in two stages that overlap: the calling thread reads
    block k + 1 while one worker thread checks block k's checksums and reduces it (numpy releases
    the GIL in both). Two buffers alternate; a block is read into a buffer only after the worker
    is done with what it held. A block with a chunk that cannot be taken raw is repaired through
    h5py (:func:`_repair`) and reduced on the calling thread (h5py calls stay on one thread)."""
    rows_per_chunk = dataset.chunks[0]
    data_bytes = rows_per_chunk * SAMPLE_DTYPE.itemsize
    blocks = [_RawBlock(np.empty(CHUNKS_PER_BLOCK * data_bytes + trailer, dtype=np.uint8),
                        np.zeros((CHUNKS_PER_BLOCK, 4), dtype=np.uint8)) for _ in range(2)]

    def reduce(block: _RawBlock) -> tuple[_RawBlock, np.ndarray, dict[str, np.ndarray] | None]:
        good = _checked(block, data_bytes, trailer)
        if not good.all():
            return block, good, None  # repaired on the calling thread
        return block, good, _segments(_columns(block.records()))

    def collect(done: tuple[_RawBlock, np.ndarray, dict[str, np.ndarray] | None]) -> None:
        block, good, segment = done
        if segment is None:
            segment = _segments(_columns(_repair(dataset, block, good)))
        parts.append(segment)

    parts: list[dict[str, np.ndarray]] = []
    span = rows_per_chunk * CHUNKS_PER_BLOCK
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fast-cycles") as pool:
        pending: Future[tuple[_RawBlock, np.ndarray, dict[str, np.ndarray] | None]] | None = None
        for number, start in enumerate(range(0, dataset.shape[0], span)):
            block = blocks[number % 2]  # the worker holds the other one (or nothing)
            _read_raw(dataset, block, start, trailer)
            if pending is not None:
                collect(pending.result())
            pending = pool.submit(reduce, block)
        if pending is not None:
            collect(pending.result())
    return parts


def _segments(block: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per run of equal cycle number within ``block`` (label -> column): first/last values and
    the reductions (``np.flatnonzero`` on the cycle column, ``reduceat``: no loop over rows)."""
    # the columns read in full once into contiguous memory (a strided column pulls every record's
    # cache line at each pass over it)
    cycle = np.ascontiguousarray(block[CYCLE])
    block = {**block, TEMP: np.ascontiguousarray(block[TEMP])}
    if cycle[0] == cycle[-1]:  # the usual case: the whole block is in one cycle
        out = {key: block[label][[0]] for key, label in FIRSTS}  # copies: the block is a reused buffer
        out.update({key: block[label][[-1]] for key, label in LASTS})
        for key, label, ufunc in REDUCTIONS:
            out[key] = ufunc.reduce(block[label], keepdims=True)  # fmax/fmin: NaN only if all NaN
        out["rows"] = np.array([len(cycle)])
        return out
    starts = np.concatenate(([0], np.flatnonzero(cycle[1:] != cycle[:-1]) + 1))
    ends = np.concatenate((starts[1:] - 1, [len(cycle) - 1]))
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
    trailer = _raw_layout(dataset)
    if trailer is None or dataset.shape[0] == 0:
        parts = [_segments(block) for block in _h5py_blocks(dataset) if len(block[CYCLE])]
    else:
        parts = _raw_segments(dataset, trailer)
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
