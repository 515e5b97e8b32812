"""Read a run file (finished, being written, or left by a crash) with h5py alone.

Damage is refused in one line (:class:`DamagedRunFileError`), never read as data: a file shorter
than the end-of-file address its superblock records (truncated), a table whose chunks lie beyond
the end of the file (HDF5 would return them as zeros), or HDF5 errors while reading (checksums,
heap signatures). Sample rows beyond the journal's ``samples_rows`` (rows whose data were not
confirmed written, e.g. after a full disk) are never shown. A ``RUN.h5.write-failure`` marker
beside the file (bench.runfile.writer) makes its status ``write_failure``.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import h5py
import numpy as np

from bench.runfile.h5open import open_swmr_reader
from bench.runfile.layout import TABLES

#: What h5py raises on a damaged file (checksum, heap signature, address beyond the end ...).
READ_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError)
_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_T = TypeVar("_T")


class RunFileError(ValueError):
    """A run file that is missing or not a CellBench run file (message names the path)."""


class DamagedRunFileError(RunFileError):
    """A run file whose bytes are damaged (truncated, overwritten); the message names the part."""


def stored_end_of_file(path: str | Path) -> int | None:
    """The end-of-file address the superblock records (versions 0-3), or None if unknown."""
    with open(path, "rb") as handle:
        head = handle.read(64)
    if head[:8] != _SIGNATURE or len(head) < 48:
        return None
    version, offsets = head[8], head[9]
    if version in (2, 3) and offsets == 8:
        return struct.unpack_from("<Q", head, 12 + 2 * 8)[0]
    if version in (0, 1) and head[13] == 8:
        return struct.unpack_from("<Q", head, 24 + 2 * 8 + (4 if version == 1 else 0))[0]
    return None


def journal_sample_rows(handle: h5py.File) -> int | None:
    """``samples_rows`` of the newest valid journal row of an open run file, or None."""
    state = _last_journal_state(handle["journal"]) if "journal" in handle else None
    return int(state["samples_rows"]) if state is not None and "samples_rows" in state else None


def _last_journal_state(dataset: h5py.Dataset) -> dict[str, Any] | None:
    """The newest journal row that holds a JSON object (placeholders and damage skipped)."""
    dataset.refresh()
    n = dataset.shape[0]
    for record in reversed(dataset[max(0, n - 8):n]):
        text = record["state"]
        try:
            state = json.loads(text.decode() if isinstance(text, bytes) else text)
        except (json.JSONDecodeError, TypeError, UnicodeDecodeError):
            continue
        if isinstance(state, dict):
            state["time_s"] = float(record["time_s"])
            return state
    return None


def intact_rows(dataset: h5py.Dataset, file_size: int, rows: int | None = None) -> int:
    """Rows of a chunked 1-D table from the start (of its first ``rows``) whose chunks lie
    wholly inside the file."""
    n = dataset.shape[0] if dataset.shape else 0
    n = n if rows is None else min(n, rows)
    chunk = dataset.chunks[0] if dataset.chunks else 0
    if not chunk or n == 0:
        return n
    for start in range(0, n, chunk):
        info = dataset.id.get_chunk_info_by_coord((start,))
        if info.byte_offset is None or info.byte_offset + info.size > file_size:
            return start
    return n


#: Rows read at once when every chunk of a table is checked (then chunk by chunk where one fails).
VERIFY_BLOCK_ROWS = 262_144


def failing_chunks(dataset: h5py.Dataset, n: int, *, first_only: bool = False) -> list[tuple[int, int, str]]:
    """``(start, stop, reason)`` of each chunk among the first ``n`` rows of a chunked 1-D table
    that cannot be read (a Fletcher32 checksum mismatch, a damaged chunk); reads one field of a
    compound table (the whole chunk is checked all the same)."""
    chunk = dataset.chunks[0] if dataset.chunks else max(n, 1)
    names = dataset.dtype.names
    field = next((f for f in names or () if dataset.dtype[f].kind in "fiu"), None) if names else None
    view = dataset.fields(field) if field is not None else dataset
    block = max(chunk, VERIFY_BLOCK_ROWS - VERIFY_BLOCK_ROWS % chunk)
    bad: list[tuple[int, int, str]] = []
    for start in range(0, n, block):
        stop = min(n, start + block)
        try:
            view[start:stop]
            continue
        except READ_ERRORS:
            pass
        for first in range(start, stop, chunk):  # narrow down to the chunks that fail
            last = min(stop, first + chunk)
            try:
                view[first:last]
            except READ_ERRORS as exc:
                bad.append((first, last, _reason(exc)))
                if first_only:
                    return bad
    return bad


def _reason(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0].strip() or type(exc).__name__


class RunFile:
    """A run file opened read-only in SWMR mode, so it can be read while it is written."""

    def __init__(self, path: str | Path, *, check: bool = True) -> None:
        """Open ``path``; ``check`` (default) refuses a damaged file with DamagedRunFileError
        (``bench repair`` opens with ``check=False`` to salvage what is intact)."""
        self.path = Path(path)
        self._raw_attrs_cache: dict[str, Any] | None = None
        self._steps_cache: list[dict[str, Any]] | None = None
        if not self.path.exists():
            raise RunFileError(f"{self.path}: no such run file")
        if not self.path.is_file():
            raise RunFileError(f"{self.path}: not a file")
        self.file_size = self.path.stat().st_size
        try:
            eof = stored_end_of_file(self.path)
        except OSError as exc:
            raise RunFileError(f"{self.path}: cannot read: {exc.strerror or exc}") from None
        #: Bytes missing at the end (the superblock's end-of-file address beyond the file's size).
        self.missing_bytes = max(0, (eof or 0) - self.file_size)
        try:
            self._file = open_swmr_reader(self.path)
        except READ_ERRORS as exc:
            raise self._damaged_or_foreign(exc) from None
        try:
            if "samples" not in self._file:
                raise RunFileError(f"{self.path}: not a CellBench run file (no /samples)")
            if check:
                self.verify()
        except BaseException:
            self._file.close()
            raise

    def _damaged_or_foreign(self, exc: BaseException) -> RunFileError:
        if self.missing_bytes:
            return DamagedRunFileError(self._truncated_message())
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        return RunFileError(f"{self.path}: not a readable HDF5 run file ({first})")

    def _truncated_message(self) -> str:
        return (f"{self.path}: damaged run file: truncated ({self.file_size} of "
                f"{self.file_size + self.missing_bytes} bytes); 'bench repair' salvages the intact rows")

    def guarded(self, what: str, read: Callable[[], _T]) -> _T:
        """``read()``, with an HDF5 error turned into DamagedRunFileError naming ``what``."""
        try:
            return read()
        except RunFileError:
            raise  # already one line naming the damage (not wrapped twice)
        except READ_ERRORS as exc:
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            how = "fails its checksum" if "filter returned failure" in first else "unreadable"
            raise DamagedRunFileError(f"{self.path}: damaged run file: {what} {how} ({first}); "
                                      "'bench repair' salvages the chunks that verify") from None

    def verify(self) -> None:
        """Refuse a damaged file: truncated, a table's rows beyond the end of the file, an
        unreadable attribute or table, a chunk that fails its Fletcher32 checksum. Reads the
        attributes, each table's chunk index and every chunk (one numeric field of each table:
        the whole chunk is checked; the text of events and journal rows lives in HDF5's global
        heap, which has no checksum, and is checked when parsed)."""
        stopped_by_write_error = self.path.with_name(self.path.name + ".write-failure").exists()
        if self.missing_bytes and not stopped_by_write_error:
            raise DamagedRunFileError(self._truncated_message())
        # (a write error leaves the superblock's end address beyond the last bytes written: the
        # rows the journal confirmed are checked chunk by chunk below instead)
        self.guarded("the attributes", lambda: self.attrs)
        for name in TABLES:
            if name not in self._file:
                continue
            dataset = self._file[name]

            def row_count(d: h5py.Dataset = dataset) -> int:
                d.refresh()
                return d.shape[0]

            n = self.guarded(f"table /{name}", row_count)
            if name == "samples":  # rows after the trustworthy ones are never read
                trusted = self.guarded("table /journal", self.trusted_rows)
                n = n if trusted is None else min(n, trusted)

            def intact_count(d: h5py.Dataset = dataset, n: int = n) -> int:
                return intact_rows(d, self.file_size, n)

            intact = self.guarded(f"table /{name}", intact_count)
            if intact < n:
                raise DamagedRunFileError(f"{self.path}: damaged run file: /{name} rows {intact}-{n - 1} "
                                          "lie beyond the end of the file; 'bench repair' salvages the intact rows")
            def bad_chunks(d: h5py.Dataset = dataset, n: int = n) -> list[tuple[int, int, str]]:
                return failing_chunks(d, n, first_only=True)

            bad = self.guarded(f"table /{name}", bad_chunks)
            if bad:
                start, stop, why = bad[0]
                raise DamagedRunFileError(f"{self.path}: damaged run file: /{name} rows {start}-{stop - 1} fail their "
                                          f"checksum ({why}); 'bench repair' salvages the chunks that verify")

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __enter__(self) -> RunFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _raw_attrs(self) -> dict[str, Any]:
        """The file's attributes as HDF5 gives them, read once per open file: they cannot change
        while it is open (``set_final_attributes`` waits for a reader's file lock to go). Each
        ``attrs`` decodes them afresh, so callers never share (or mutate) one another's values."""
        if self._raw_attrs_cache is not None:
            return self._raw_attrs_cache
        raw: dict[str, Any] = {}
        for key in self._file.attrs:

            def attribute(k: str = key) -> Any:
                return self._file.attrs[k]

            raw[key] = self.guarded(f"attribute {key!r}", attribute)
        self._raw_attrs_cache = raw  # only once every attribute was read (a damaged one raises each time)
        return raw

    @property
    def attrs(self) -> dict[str, Any]:
        """File attributes (provenance, status), JSON texts decoded."""
        out: dict[str, Any] = {}
        for key, value in self._raw_attrs().items():
            if isinstance(value, bytes):
                value = value.decode()
            if isinstance(value, str) and value[:1] in "{[":
                try:
                    value = json.loads(value)
                except json.JSONDecodeError:
                    pass
            elif isinstance(value, np.generic):
                value = value.item()
            elif isinstance(value, np.ndarray):
                value = value.copy()  # the cached array stays as read
            out[key] = value
        marker = self.path.with_name(self.path.name + ".write-failure")
        if out.get("status") in ("running", None) and marker.exists():
            out["status"] = "write_failure"
            out["status_message"] = marker.read_text(encoding="utf-8", errors="replace").strip() or \
                "the run file could not be written (disk full or I/O error); the run stopped"
        return out

    def trusted_rows(self) -> int | None:
        """Sample rows whose data were confirmed written (the newest journal row's
        ``samples_rows``), or None when the journal does not count them (older files)."""
        journal = self.last_journal()
        if journal is None or "samples_rows" not in journal:
            return None
        return int(journal["samples_rows"])

    def stored_rows(self) -> int:
        """Rows /samples holds, trustworthy or not."""
        dataset = self._file["samples"]
        dataset.refresh()
        return int(dataset.shape[0])

    def table(self, name: str) -> np.ndarray:
        """A whole table (``samples``, ``steps``, ``events``, ``journal``, ``eis/spectra``, ``eis/points``)."""
        dataset = self._file[name]

        def read() -> np.ndarray:
            dataset.refresh()
            if name == "samples":
                trusted = self.trusted_rows()
                if trusted is not None and trusted < dataset.shape[0]:
                    return dataset[:trusted]
            return dataset[()]
        return self.guarded(f"table /{name}", read)

    @property
    def samples(self) -> np.ndarray:
        """All samples (fields named by the BDF labels)."""
        return self.table("samples")

    def column(self, label: str) -> np.ndarray:
        """One sample column by BDF label, e.g. ``"Voltage / V"``."""
        dataset = self._file["samples"]

        def read() -> np.ndarray:
            dataset.refresh()
            trusted = self.trusted_rows()
            if trusted is not None and trusted < dataset.shape[0]:
                return dataset.fields(label)[:trusted]
            return dataset.fields(label)[()]
        return self.guarded(f"column {label!r} of /samples", read)

    def _ended(self) -> bool:
        """The run's end-of-run status is in the file: its writer closed, and no writer can
        reopen it while this reader holds it (HDF5's file lock), so its tables are final."""
        status = self._raw_attrs().get("status")
        if isinstance(status, bytes):
            status = status.decode()
        return bool(status) and status != "running"

    @property
    def steps(self) -> list[dict[str, Any]]:
        """Finished steps as dicts (a fresh list of fresh dicts on every call). A run that has
        ended is read once per open file (a report reads the steps a dozen times); a running one
        (SWMR: the table grows) is read afresh every time."""
        if self._steps_cache is not None:
            return [dict(row) for row in self._steps_cache]
        rows = [_row(r) for r in self.table("steps")]
        if self._ended():
            self._steps_cache = rows
            return [dict(row) for row in rows]
        return rows

    @property
    def events(self) -> list[dict[str, Any]]:
        """Events as dicts (``data`` decoded from JSON)."""
        rows = []
        for r in self.table("events"):
            row = _row(r)
            if not row["kind"]:  # a placeholder row (the table grew, its data never came)
                continue
            try:
                row["data"] = json.loads(row["data"]) if row["data"] else {}
            except json.JSONDecodeError:
                raise DamagedRunFileError(f"{self.path}: damaged run file: /events row at "
                                          f"{row['time_s']} s holds no valid JSON") from None
            rows.append(row)
        return rows

    def last_journal(self) -> dict[str, Any] | None:
        """The newest valid resume state, or None (placeholder or damaged rows are skipped)."""
        return self.guarded("table /journal", lambda: _last_journal_state(self._file["journal"]))


def _row(record: np.void) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in record.dtype.names or ():
        value = record[name]
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, np.generic):
            value = value.item()
        out[name] = value
    return out
