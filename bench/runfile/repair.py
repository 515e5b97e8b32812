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
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from bench.runfile.reader import RunFileError

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


def default_repaired_path(source: str | Path) -> Path:
    """``runs/x.h5`` -> ``runs/x.repaired.h5``."""
    source = Path(source)
    return source.with_name(f"{source.stem}.repaired{source.suffix or '.h5'}")


def needs_repair(path: str | Path) -> bool:
    """True when an ordinary (non-SWMR) reader cannot open ``path`` but a SWMR reader can."""
    try:
        with h5py.File(path, "r"):
            return False
    except OSError:
        pass
    try:
        with h5py.File(path, "r", swmr=True, libver="latest"):
            return True
    except OSError:
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
    try:
        src = h5py.File(source, "r", swmr=True, libver="latest")
    except OSError as exc:
        raise RunFileError(f"{source}: not a readable HDF5 run file ({exc})") from None
    tmp = output.with_name(output.name + ".partial")
    try:
        if "samples" not in src:
            raise RunFileError(f"{source}: not a CellBench run file (no /samples)")
        output.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(tmp, "w") as dst:  # default libver: readable by any HDF5 >= 1.8
            rows = _copy_group(src, dst)
            status_before = _text(src.attrs.get("status", ""))
            status_after = "interrupted" if status_before in ("running", "") else status_before
            for key, value in src.attrs.items():
                dst.attrs[key] = value
            dst.attrs["status"] = status_after
            if status_after != status_before:
                dst.attrs["status_message"] = "run ended without closing its file (crash, kill or power loss)"
            dst.attrs["repaired_from"] = str(source)
            dst.attrs["repaired_utc"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            dst.attrs["repair_rows"] = json.dumps(rows)
            if "samples" in src and rows.get("samples"):
                last = src["samples"].fields("Test Time / s")[rows["samples"] - 1]
                dst.attrs.setdefault("test_time_s", float(last))
        tmp.replace(output)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        src.close()
    logger.info("repaired %s -> %s (%s)", source, output, rows)
    return RepairResult(source, output, status_before, status_after, rows, open_for_write)


def _copy_group(src: h5py.Group, dst: h5py.Group) -> dict[str, int]:
    """Recreate every dataset of ``src`` under ``dst`` (chunked, resizable); returns row counts."""
    rows: dict[str, int] = {}

    def visit(name: str, obj: h5py.HLObject) -> None:
        if isinstance(obj, h5py.Group):
            group = dst.require_group(name)
            for key, value in obj.attrs.items():
                group.attrs[key] = value
            return
        if not isinstance(obj, h5py.Dataset):
            return
        obj.refresh()
        rows[name] = _copy_dataset(obj, dst, name)

    src.visititems(visit)
    return rows


def _copy_dataset(dataset: h5py.Dataset, dst: h5py.Group, name: str) -> int:
    n = dataset.shape[0] if dataset.shape else 0
    if not dataset.shape:  # scalar
        dst.create_dataset(name, data=dataset[()], dtype=dataset.dtype)
        return 1
    chunks = dataset.chunks or (min(max(n, 1), 4096),)
    copy = dst.create_dataset(name, shape=dataset.shape, maxshape=(None,) + dataset.shape[1:],
                              dtype=dataset.dtype, chunks=chunks)
    for start in range(0, n, COPY_CHUNK_ROWS):
        stop = min(n, start + COPY_CHUNK_ROWS)
        block = dataset[start:stop]
        copy[start:stop] = np.asarray(block, dtype=dataset.dtype)
    for key, value in dataset.attrs.items():
        copy.attrs[key] = value
    return n


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return str(value)
