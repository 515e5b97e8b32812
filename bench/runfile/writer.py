"""Run-file writer: HDF5 with SWMR, readable while written, intact after a crash.

The file is opened ``libver="latest"``, every table is created up front (SWMR forbids creating
objects later), then SWMR mode is switched on. Rows are buffered and appended in batches; each
batch is followed by ``flush()`` at least every ``flush_interval_s`` of wall time, and ``fsync``
every ``fsync_interval_s``: after a ``kill -9`` every row before the last flush is readable
with ``h5py.File(path, "r", swmr=True)``.

``RunWriter.reopen`` continues a run file left by a crash (``bench resume``): it clears the
superblock's open-for-write flags, opens the file for append, creates tables a newer layout
added (before SWMR mode), and switches SWMR on again; existing rows are never rewritten.
Whenever samples (or other rows) are flushed, a journal row from ``journal_source`` is written
in the same flush, so the last journal row always describes the last sample in the file.

Trustworthy rows. HDF5 grows a table before its data reach the disk; when a write fails (disk
full, I/O error) the table can end in placeholder rows of zeros. So samples are flushed first and
only then is the journal row written, carrying ``samples_rows``: the count of /samples rows whose
data were flushed. Readers (bench.runfile.reader) never show rows beyond it. On the first write
error the writer raises :class:`RunFileWriteError` (one line: file and cause), drops every later
row, and on close cuts /samples back to the trustworthy rows where the file still allows it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from bench.runfile.layout import FORMAT_VERSION, SAMPLE_DTYPE, TABLES

logger = logging.getLogger(__name__)

#: What h5py raises when HDF5 cannot write (ENOSPC, EFBIG, EIO ...): OSError or RuntimeError.
_H5_WRITE_ERRORS = (OSError, RuntimeError)
_H5_ERRNO_MESSAGE = re.compile(r"error message = '([^']*)'")


#: Events written with the next batch of rows (at most ``flush_interval_s`` later, with the journal
#: row that counts them) instead of at once: one flush per executed step made a step cost a flush
#: and a journal row, and grew HDF5's memory by ~0.8 kB per step (SWMR appends of single rows).
BATCHED_EVENTS = frozenset({"step_start", "step_continued", "eis_spectrum"})


class RunFileWriteError(OSError):
    """The run file could not be written (disk full, file too large, read-only, I/O error).

    The message is one line naming the file and the cause."""


def describe_write_error(path: str | Path, exc: BaseException) -> str:
    """``path: cannot write the run file: No space left on device`` from an h5py/OS error."""
    found = _H5_ERRNO_MESSAGE.search(str(exc))
    if found:
        cause = found.group(1)
    elif isinstance(exc, OSError) and exc.strerror:
        cause = exc.strerror.splitlines()[0]
    else:
        cause = (str(exc).splitlines() or [type(exc).__name__])[0]
    return f"{path}: cannot write the run file: {cause}"


class RunWriter:
    """Appends samples, steps, events, journal rows and EIS spectra to one run file."""

    def __init__(
        self,
        path: str | Path,
        attrs: Mapping[str, Any],
        *,
        batch_rows: int = 4096,
        flush_interval_s: float = 1.0,
        fsync_interval_s: float = 5.0,
        _reopen: bool = False,
        blobs: Mapping[str, bytes] | None = None,
    ) -> None:
        """``blobs``: byte strings kept as uint8 datasets by path (e.g. ``delegated/step_file``,
        the step file a cycler ran), created with the tables (SWMR allows no new dataset later)."""
        self.path = Path(path)
        self.batch_rows = batch_rows
        self.flush_interval_s = flush_interval_s
        self.fsync_interval_s = fsync_interval_s
        #: Called at each flush that writes rows: returns (time_s, state) for a journal row.
        self.journal_source: Callable[[], tuple[float, Mapping[str, Any]]] | None = None
        #: The first write error (one line), after which every row is dropped; None while healthy.
        self.failed: str | None = None
        #: Called before a flush that has rows to write; a multi-channel scheduler parks the
        #: channel there until no other channel's sample is due (:meth:`TaskClock.defer
        #: <bench.multichannel.scheduler.TaskClock.defer>`). None: flush at once.
        self.before_flush: Callable[[], None] | None = None
        created = False
        existed = self.path.exists()
        try:
            if _reopen:
                self._file = h5py.File(self.path, "r+", libver="latest")
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = h5py.File(self.path, "w", libver="latest")
                created = True
                self._file.attrs["format_version"] = FORMAT_VERSION
            for key, value in attrs.items():
                self._file.attrs[key] = _attr(value)
            self._tables: dict[str, h5py.Dataset] = {}
            for name, dtype in TABLES.items():
                if name in self._file:
                    self._tables[name] = self._file[name]
                    continue
                chunk = 4096 if name in ("samples", "eis/points") else 64
                # Fletcher32: every chunk carries a checksum readers verify (bench.runfile.reader).
                self._tables[name] = self._file.create_dataset(
                    name, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(chunk,), fletcher32=True)
            for name, data in (blobs or {}).items():
                if name not in self._file:
                    self._file.create_dataset(name, data=np.frombuffer(data, dtype=np.uint8))
            self._file.swmr_mode = True
            self._file.flush()
        except _H5_WRITE_ERRORS as exc:
            # Nothing recorded yet: a run file that cannot even be set up is not left behind.
            handle = getattr(self, "_file", None)
            if handle is not None:
                _close_quietly(handle)
            message = describe_write_error(self.path, exc)
            if created or (not _reopen and not existed):  # h5py may fail after creating an empty file
                try:
                    self.path.unlink(missing_ok=True)
                except OSError:  # it stays: mark it, so no reader takes it for a run
                    write_failure_marker(self.path, message)
            raise RunFileWriteError(message) from None
        #: Queued sample rows, flattened (``_SAMPLE_COLUMNS`` numbers per row): extending a flat list
        #: and converting it to float64 at flush costs a fraction of converting tuples to the
        #: structured dtype.
        self._rows: list[float] = []
        self._queued = 0
        self._pending: dict[str, list[tuple]] = {name: [] for name in TABLES if name != "samples"}
        self._last_flush = time.monotonic()
        self._last_fsync = self._last_flush
        #: The periodic fsync runs in this thread, off the sampling thread (on a busy disk an
        #: fsync can take 100s of ms; kill -9 safety rests on flush(), fsync is for power loss).
        self._fsync_thread: threading.Thread | None = None
        self.rows_written = 0
        #: /samples rows already in the file when it was (re)opened (``bench resume``).
        self.rows_before = int(self._tables["samples"].shape[0])
        self.closed = False

    @classmethod
    def reopen(cls, path: str | Path, attrs: Mapping[str, Any] | None = None, **options: Any) -> RunWriter:
        """Continue writing an existing run file (after a crash, for ``bench resume``).

        ``attrs`` are set before SWMR mode starts (e.g. ``status``). Raises OSError naming the
        file when it cannot be opened for append.
        """
        from bench.runfile.swmr_reopen import clear_write_flags

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such run file")
        clear_write_flags(path)
        return cls(path, attrs or {}, _reopen=True, **options)

    # -- appends -----------------------------------------------------------------------------
    def append_sample_row(self, row: tuple) -> None:
        """Queue one sample row (field order of ``SAMPLE_COLUMNS``); flushes by size or time."""
        if len(row) != _SAMPLE_COLUMNS:
            raise ValueError(f"{self.path}: a sample row has {len(row)} fields, /samples has {_SAMPLE_COLUMNS}")
        rows = self._rows
        rows.extend(row)
        self._queued += 1
        if self._queued >= self.batch_rows or time.monotonic() - self._last_flush >= self.flush_interval_s:
            self.flush()

    def recent_samples(self, count: int) -> np.ndarray:
        """The last ``count`` (or fewer) sample rows written or queued, oldest first, as a
        ``SAMPLE_DTYPE`` array: read back at a step's end (not per sample), e.g. to find where
        a voltage limit was crossed. Empty after a write error."""
        if self.failed or self.closed or count <= 0:
            return np.empty(0, dtype=SAMPLE_DTYPE)
        queued = min(self._queued, count)
        tail = _sample_block(self._rows[len(self._rows) - queued * _SAMPLE_COLUMNS:], queued) if queued \
            else np.empty(0, dtype=SAMPLE_DTYPE)
        need = count - queued
        if need <= 0:
            return tail
        dataset = self._tables["samples"]
        stored = dataset.shape[0]
        try:
            older = dataset[max(0, stored - need):stored]
        except _H5_WRITE_ERRORS:
            logger.debug("%s: recent samples not readable", self.path, exc_info=True)
            return tail
        return np.concatenate([older.astype(SAMPLE_DTYPE), tail]) if len(older) else tail

    def append_sample_block(self, rows: np.ndarray) -> None:
        """Append a block of sample rows (a ``SAMPLE_DTYPE`` array) at once, after any queued rows.

        For bulk writers (imports, ``bench perf``); flushed like any batch.
        """
        if rows.dtype != SAMPLE_DTYPE:
            raise TypeError(f"{self.path}: sample block dtype {rows.dtype} is not the /samples dtype")
        self.flush()
        if self.failed:
            return
        try:
            _extend(self._tables["samples"], rows)
            self._file.flush()
        except _H5_WRITE_ERRORS as exc:
            raise self._fail(exc) from None
        self.rows_written += len(rows)
        self.flush()

    def append(self, table: str, row: tuple, *, flush: bool = True) -> None:
        """Queue one row of ``table`` (``steps``, ``events``, ``journal``, ``eis/...``); after a
        write error rows are dropped (logged), so the bench can still be made safe."""
        if self.failed:
            logger.debug("%s: %s row dropped after a write error", self.path, table)
            return
        self._pending[table].append(row)
        if flush:
            self.flush()

    def event(self, time_s: float, kind: str, step_count: int, message: str, data: Mapping[str, Any] | None = None) -> None:
        """Record an event: at once (safety trips, operator actions, interruptions, faults), or
        with the next batch for the routine ones (:data:`BATCHED_EVENTS`)."""
        self.append("events", (time_s, kind, step_count, message, json.dumps(data or {}, default=float)),
                    flush=kind not in BATCHED_EVENTS)

    def journal(self, time_s: float, state: Mapping[str, Any]) -> None:
        """Record the resume state (flushed at once)."""
        self.append("journal", (time_s, state))

    # -- durability --------------------------------------------------------------------------
    def flush_if_due(self) -> None:
        """Flush when a batch is full or ``flush_interval_s`` has passed since the last flush (the
        engine calls it after each step: thousands of short steps are written in batches)."""
        if self._queued >= self.batch_rows or time.monotonic() - self._last_flush >= self.flush_interval_s:
            self.flush()

    def next_flush_in(self, wall_s: float) -> None:
        """Make the next periodic flush due ``wall_s`` wall seconds from now (then every
        ``flush_interval_s``): a multi-channel run spreads its channels' flushes over the interval."""
        self._last_flush = time.monotonic() + wall_s - self.flush_interval_s

    def flush(self, *, fsync: bool = False) -> None:
        """Append queued rows to the datasets and flush them to the file.

        Raises RunFileWriteError on the first write error (later calls do nothing)."""
        if self.closed or self.failed:
            return
        if self.before_flush is not None and (self._queued or any(self._pending.values())):
            self.before_flush()
            if self.closed or self.failed:
                return
        try:
            self._write_queued()
        except _H5_WRITE_ERRORS as exc:
            raise self._fail(exc) from None
        now = time.monotonic()
        self._last_flush = now
        if fsync or now - self._last_fsync >= self.fsync_interval_s:
            try:
                fd = self._file.id.get_vfd_handle()
            except (OSError, TypeError, ValueError):
                fd = None
                logger.debug("fsync of %s not possible", self.path, exc_info=True)
            if fd is not None and fsync:
                self._join_fsync()
                self._fsync_fd(fd)
            elif fd is not None and (self._fsync_thread is None or not self._fsync_thread.is_alive()):
                self._fsync_thread = threading.Thread(target=self._fsync_fd, args=(fd,), daemon=True,
                                                      name=f"fsync {self.path.name}")
                self._fsync_thread.start()
            self._last_fsync = now

    def _write_queued(self) -> None:
        """Samples first (flushed), then the other tables and the journal row that counts them."""
        if self.journal_source is not None and (self._queued or any(
                rows for name, rows in self._pending.items() if name != "journal")):
            self._pending["journal"].append(self.journal_source())
        if self._queued:
            _extend(self._tables["samples"], _sample_block(self._rows, self._queued))
            self._file.flush()  # the rows' data are in the file before a journal row counts them
            self.rows_written += self._queued
            del self._rows[:]
            self._queued = 0
        for name, rows in self._pending.items():
            if not rows:
                continue
            if name == "journal":  # with a journal source every samples flush has its counting row
                counted = {"samples_rows": self.rows_before + self.rows_written} \
                    if self.journal_source is not None else {}
                rows = [(time_s, json.dumps({**state, **counted}, default=float)) for time_s, state in rows]
            _extend(self._tables[name], _conform(np.array(rows, dtype=TABLES[name]), self._tables[name].dtype))
            self._pending[name].clear()
        self._file.flush()

    def _fail(self, exc: BaseException) -> RunFileWriteError:
        """Record the first write error: queued rows are dropped, later appends ignored."""
        self.failed = describe_write_error(self.path, exc)
        logger.debug("%s", self.failed, exc_info=True)
        del self._rows[:]
        self._queued = 0
        for rows in self._pending.values():
            rows.clear()
        return RunFileWriteError(self.failed)

    def _fsync_fd(self, fd: int) -> None:
        try:
            os.fsync(fd)
        except (OSError, TypeError, ValueError):
            logger.debug("fsync of %s not possible", self.path, exc_info=True)

    def _join_fsync(self) -> None:
        thread = self._fsync_thread
        if thread is not None:
            thread.join()
            self._fsync_thread = None

    def close(self) -> None:
        """Flush everything and close the file (after a write error: cut /samples back to its
        trustworthy rows where possible, close without raising)."""
        if self.closed:
            return
        if not self.failed:
            try:
                self.flush(fsync=True)
            except RunFileWriteError:
                pass
        self._join_fsync()
        self.closed = True
        if self.failed:
            # HDF5's close would write metadata into a file that refuses writes and can leave it
            # unreadable; detached, the file stays as the last good flush left it (as after a
            # kill -9: readable with swmr=True, the journal counting its trustworthy rows).
            _detach(self._file)
            _close_quietly(self._file)
            write_failure_marker(self.path, self.failed)
            return
        self._file.close()

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: Fields of a /samples row.
_SAMPLE_COLUMNS = len(SAMPLE_DTYPE.names or ())


def _sample_block(flat: list[float], count: int) -> np.ndarray:
    """``count`` flattened sample rows as a ``SAMPLE_DTYPE`` array (integer columns cast back).

    A row holding a non-number raises TypeError naming it; the queue is left as it was.
    """
    try:
        table = np.fromiter(flat, dtype=np.float64, count=count * _SAMPLE_COLUMNS).reshape(count, _SAMPLE_COLUMNS)
    except (TypeError, ValueError):
        bad = next((i for i, v in enumerate(flat) if not isinstance(v, (int, float))), 0)
        row = tuple(flat[bad - bad % _SAMPLE_COLUMNS:][:_SAMPLE_COLUMNS])
        raise TypeError(f"sample row {bad // _SAMPLE_COLUMNS} of the batch holds a non-number: {row!r}") from None
    block = np.empty(count, dtype=SAMPLE_DTYPE)
    for column, name in enumerate(SAMPLE_DTYPE.names or ()):
        block[name] = table[:, column]
    return block


def _conform(rows: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``rows`` in a table's stored ``dtype``: a file written before a column was added (``bench
    resume`` of an older run) gets the fields it has; the new ones are left out."""
    if rows.dtype == dtype:
        return rows
    out = np.zeros(len(rows), dtype=dtype)
    for name in dtype.names or ():
        if name in (rows.dtype.names or ()):
            out[name] = rows[name]
    return out


def _extend(dataset: h5py.Dataset, rows: np.ndarray) -> None:
    start = dataset.shape[0]
    dataset.resize((start + len(rows),))
    dataset[start:] = rows


def write_failure_marker(path: str | Path, message: str) -> Path:
    """``RUN.h5.write-failure`` beside the run file: marks it as stopped by a write error (a
    status attribute cannot be written into a full disk safely). Readers report the status
    ``write_failure``; ``bench resume`` refuses the file. The message is kept when space allows."""
    marker = failure_marker_path(path)
    try:
        with open(marker, "w", encoding="utf-8") as handle:
            handle.write(message + "\n")
    except OSError:
        logger.debug("marker %s without its message", marker, exc_info=True)
    return marker


def failure_marker_path(path: str | Path) -> Path:
    """Where :func:`write_failure_marker` puts its marker for run file ``path``."""
    path = Path(path)
    return path.with_name(path.name + ".write-failure")


def _detach(handle: h5py.File) -> None:
    """Point the HDF5 file's descriptor at /dev/null, so nothing more reaches the disk."""
    try:
        fd = handle.id.get_vfd_handle()
        null = os.open(os.devnull, os.O_RDWR)
    except (OSError, RuntimeError, TypeError, ValueError):
        logger.debug("could not detach %s", handle, exc_info=True)
        return
    try:
        os.dup2(null, int(fd))
    finally:
        os.close(null)


def _close_quietly(handle: h5py.File) -> None:
    """Close an h5py file whose writes failed; HDF5's further errors are logged, not raised."""
    try:
        handle.close()
    except _H5_WRITE_ERRORS:
        logger.debug("closing %s after a write error", handle, exc_info=True)


def _attr(value: Any) -> Any:
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str)
    if value is None:
        return ""
    return value


def set_final_attributes(path: str | Path, attrs: Mapping[str, Any]) -> None:
    """After the writer closed: add end-of-run attributes (status, end time) to the file.

    A reader that has the file open at that instant (``bench plot --live``, a catalog sync, an
    analysis script) holds HDF5's file lock: the write waits for it, up to ``FINAL_LOCK_WAIT_S``.
    Raises RunFileWriteError (one line) when the file refuses them."""
    deadline = time.monotonic() + FINAL_LOCK_WAIT_S
    while True:
        try:
            with h5py.File(path, "r+", libver="latest") as handle:
                for key, value in attrs.items():
                    handle.attrs[key] = _attr(value)
            return
        except _H5_WRITE_ERRORS as exc:
            if _locked_by_reader(exc) and time.monotonic() < deadline:
                _wait_for_reader(0.05)  # another process reads the file: wait for it to let go
                continue
            raise RunFileWriteError(describe_write_error(path, exc)) from None


#: How long the end-of-run attributes wait for a reader to release the file, s.
FINAL_LOCK_WAIT_S = 10.0


def _wait_for_reader(seconds: float) -> None:
    """Wait while another process has the run file open (a seam for the tests)."""
    time.sleep(seconds)


def _locked_by_reader(exc: BaseException) -> bool:
    """True for HDF5's "unable to lock file" (another process has the file open)."""
    import errno

    return getattr(exc, "errno", None) in (errno.EAGAIN, errno.EWOULDBLOCK) or "unable to lock file" in str(exc).lower()
