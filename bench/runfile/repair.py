"""Repair a run file left open by a crash, for readers that do not use SWMR.

A run file is written in SWMR mode (``libver="latest"``). After a ``kill -9`` or a power cut
the superblock keeps its "open for write" consistency flag, so an ordinary
``h5py.File(path, "r")`` refuses it ("file is already open for write (may use <h5clear file>
...)"); only a SWMR reader (``swmr=True``) can open it. h5clear, which clears that flag, is an
HDF5 command-line tool that no PyPI package ships, so the repair copies instead: every table
and attribute goes into a new file written with the default (oldest compatible) format, which
any HDF5 reader opens, MATLAB's and HDFView included. The original is never modified.

If the run was still ``running`` its status becomes ``interrupted``; the repair itself is
recorded in the ``repaired_from`` / ``repaired_utc`` / ``repair_rows`` attributes.

A damaged file (truncated, overwritten, or stopped by a full disk) is salvaged: each table keeps
its rows from the start up to the first chunk beyond the end of the file (or the last /samples
row the journal confirmed), less every chunk that fails its Fletcher32 checksum or cannot be read
(those rows are left out: the time column then jumps); unreadable attributes are left out and
listed in ``repair_lost``. The result says how many rows of each table were kept and how many
chunks were dropped. The copy is written with Fletcher32 too.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from bench.runfile.h5open import open_swmr_reader
from bench.runfile.reader import READ_ERRORS, RunFile, RunFileError, intact_rows, journal_sample_rows

logger = logging.getLogger(__name__)

#: Rows copied per read/write, so a month-long run is repaired in bounded memory.
COPY_CHUNK_ROWS = 262_144


@dataclass
class RepairResult:
    """What :func:`repair_run_file` did."""

    source: Path
    output: Path
    status_before: str
    status_after: str
    rows: dict[str, int] = field(default_factory=dict)
    was_open_for_write: bool = False
    #: Rows each table held (kept rows + rows not intact).
    stored: dict[str, int] = field(default_factory=dict)
    #: What could not be salvaged (attributes, tables), one phrase each.
    lost: list[str] = field(default_factory=list)
    #: Chunks left out of each table because they failed their checksum or could not be read.
    dropped_chunks: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """The result as JSON-ready data (``bench repair`` runs the repair in a child process)."""
        return {"source": str(self.source), "output": str(self.output), "status_before": self.status_before,
                "status_after": self.status_after, "rows": self.rows, "was_open_for_write": self.was_open_for_write,
                "stored": self.stored, "lost": self.lost, "dropped_chunks": self.dropped_chunks}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RepairResult:
        """The inverse of :meth:`as_dict`."""
        return cls(Path(str(data["source"])), Path(str(data["output"])), str(data["status_before"]),
                   str(data["status_after"]), {str(k): int(v) for k, v in data["rows"].items()},
                   bool(data["was_open_for_write"]), {str(k): int(v) for k, v in data["stored"].items()},
                   [str(x) for x in data["lost"]], {str(k): int(v) for k, v in data["dropped_chunks"].items()})

    @property
    def damaged(self) -> bool:
        """Whether anything of the source was left out."""
        return bool(self.lost) or bool(self.dropped_chunks) or any(self.rows.get(k, 0) < n
                                                                    for k, n in self.stored.items())


def default_repaired_path(source: str | Path) -> Path:
    """``runs/x.h5`` -> ``runs/x.repaired.h5``."""
    source = Path(source)
    return source.with_name(f"{source.stem}.repaired{source.suffix or '.h5'}")


def needs_repair(path: str | Path) -> bool:
    """True when an ordinary (non-SWMR) reader cannot open ``path`` but a SWMR reader can."""
    try:
        with h5py.File(path, "r"):
            return False
    except READ_ERRORS:
        pass
    try:
        with open_swmr_reader(path):
            return True
    except READ_ERRORS:
        return False


def repair_run_file(source: str | Path, output: str | Path | None = None) -> RepairResult:
    """Copy ``source`` (possibly left open by a crash) into ``output``, readable without SWMR.

    Raises :class:`RunFileError` (message names the file) when the source is missing or not a
    run file, or when ``output`` exists or is the source (runs are never overwritten).
    """
    source = Path(source)
    output = Path(output) if output is not None else default_repaired_path(source)
    if not source.exists():
        raise RunFileError(f"{source}: no such run file")
    if output.exists():
        raise RunFileError(f"{output}: exists; choose another output (-o), run files are never overwritten")
    open_for_write = needs_repair(source)
    run = RunFile(source, check=False)  # RunFileError: not HDF5 at all, or not a run file
    src = run._file  # noqa: SLF001 - the repair copies the raw tables
    tmp = output.with_name(output.name + ".partial")
    lost: list[str] = []
    if run.missing_bytes:
        lost.append(f"{run.missing_bytes} bytes missing at the end of the file")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(tmp, "w") as dst:  # default libver: readable by any HDF5 >= 1.8
            rows, stored, dropped = _copy_tables(src, dst, run.file_size, lost)
            attrs = _readable_attrs(src, lost)
            status_before = _text(attrs.get("status", ""))
            if status_before == "running" and source.with_name(source.name + ".write-failure").exists():
                status_before = "write_failure"  # the writer's marker (bench.runfile.writer)
            status_after = "interrupted" if status_before in ("running", "") else status_before
            for key, value in attrs.items():
                dst.attrs[key] = value
            dst.attrs["status"] = status_after
            if status_after != status_before:
                dst.attrs["status_message"] = "run ended without closing its file (crash, kill or power loss)"
            dst.attrs["repaired_from"] = str(source)
            dst.attrs["repaired_utc"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            dst.attrs["repair_rows"] = json.dumps(rows)
            if lost:
                dst.attrs["repair_lost"] = json.dumps(lost)
            if dropped:
                dst.attrs["repair_dropped_chunks"] = json.dumps(dropped)
            if rows.get("samples"):
                dst.attrs["test_time_s"] = float(dst["samples"].fields("Test Time / s")[rows["samples"] - 1])
        tmp.replace(output)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        run.close()
    logger.info("repaired %s -> %s (%s)", source, output, rows)
    return RepairResult(source, output, status_before, status_after, rows, open_for_write, stored, lost, dropped)


def _readable_attrs(src: h5py.File, lost: list[str]) -> dict[str, object]:
    """The root attributes that can be read; the others are named in ``lost``."""
    out: dict[str, object] = {}
    try:
        names = list(src.attrs)
    except READ_ERRORS:
        lost.append("every attribute (their index is unreadable)")
        return out
    for key in names:
        try:
            out[key] = src.attrs[key]
        except READ_ERRORS:
            lost.append(f"attribute {key!r}")
    return out


def _copy_tables(src: h5py.File, dst: h5py.Group, file_size: int,
                 lost: list[str]) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Copy every table's chunks that verify, up to its first chunk beyond the end of the file;
    (rows kept, rows stored, chunks dropped) per table."""
    names: list[str] = []
    try:
        src.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    except READ_ERRORS:
        lost.append("the group index (tables of the standard layout tried instead)")
        from bench.runfile.layout import TABLES

        names = list(TABLES)
    rows: dict[str, int] = {}
    stored: dict[str, int] = {}
    dropped: dict[str, int] = {}
    try:
        trusted = journal_sample_rows(src)
    except READ_ERRORS:
        trusted = None
    for name in names:
        try:
            dataset = src[name]
            dataset.refresh()
            n = dataset.shape[0] if dataset.shape else 1
        except READ_ERRORS:
            lost.append(f"table /{name}")
            continue
        stored[name] = n
        limit = n if name != "samples" or trusted is None else min(n, trusted)
        try:
            limit = intact_rows(dataset, file_size, limit) if dataset.shape else limit
        except READ_ERRORS:
            limit = 0
        rows[name], bad = _copy_dataset(dataset, dst, name, limit)
        if bad:
            dropped[name] = bad
    return rows, stored, dropped


def _copy_dataset(dataset: h5py.Dataset, dst: h5py.Group, name: str, limit: int) -> tuple[int, int]:
    """Copy the first ``limit`` rows but the chunks that cannot be read (a failed Fletcher32
    checksum, damaged bytes); returns (rows kept, chunks dropped)."""
    if not dataset.shape:  # scalar
        try:
            dst.create_dataset(name, data=dataset[()], dtype=dataset.dtype)
        except READ_ERRORS:
            return 0, 1
        return 1, 0
    chunks = dataset.chunks or (min(max(limit, 1), 4096),)
    copy = dst.create_dataset(name, shape=(0,) + dataset.shape[1:], maxshape=(None,) + dataset.shape[1:],
                              dtype=dataset.dtype, chunks=chunks, fletcher32=True)
    kept = dropped = 0
    big = COPY_CHUNK_ROWS - COPY_CHUNK_ROWS % chunks[0] if chunks[0] < COPY_CHUNK_ROWS else chunks[0]
    start = 0
    while start < limit:
        stop = min(limit, start + big)
        try:
            blocks = [np.asarray(dataset[start:stop], dtype=dataset.dtype)]
        except READ_ERRORS:  # chunk by chunk: keep those that verify
            blocks = []
            for first in range(start, stop, chunks[0]):
                try:
                    blocks.append(np.asarray(dataset[first:min(stop, first + chunks[0])], dtype=dataset.dtype))
                except READ_ERRORS:
                    dropped += 1
        for block in blocks:
            copy.resize((kept + len(block),) + dataset.shape[1:])
            copy[kept:kept + len(block)] = block
            kept += len(block)
        start = stop
    try:
        for key, value in dataset.attrs.items():
            copy.attrs[key] = value
    except READ_ERRORS:
        logger.debug("attributes of /%s not copied", name, exc_info=True)
    return kept, dropped


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return str(value)
