"""Catalog writes for a running bench, off the sample path.

The run calls three methods that only append to an in-memory queue and return at once; a
background thread writes to the catalog. A database that is down, slow or refuses the credentials
costs one warning in the log; the thread retries every ``retry_s`` seconds and catches up (the
start row, the newest heartbeat only, the finish). Whatever is still unwritten when the run ends
is in the run file anyway: ``bench runs sync DIR`` registers it later with the same run id.

Use (what ``bench run`` / ``bench resume`` do)::

    recorder = CatalogRecorder.for_run(args.catalog)       # None: $CELLBENCH_CATALOG or the user catalog
    run_id = recorder.run_started(attributes, run_file)    # the run file's provenance attributes
    recorder.heartbeat({"step": 3, "test_time_s": 5400})   # every few seconds, from any thread
    recorder.run_finished("completed", "pass", report["criteria"], report["metrics"], run_file)
    recorder.close(timeout_s=5)                            # waits at most 5 s, never raises
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.lab.db import safe_url
from bench.lab.provenance import FILE_STATUS, file_sha256, measured_capacity_ah, provenance_row

logger = logging.getLogger(__name__)

#: Seconds between attempts to reach a catalog that failed.
RETRY_S = 5.0
#: At most one heartbeat written per this many seconds (calls in between only update the state).
HEARTBEAT_S = 10.0
#: ``--catalog`` / ``CELLBENCH_CATALOG`` values that turn the catalog off for a run.
DISABLED = ("off", "none")


class CatalogRecorder:
    """Queue a run's catalog rows and write them from a daemon thread (see the module docstring)."""

    def __init__(self, url: str | None = None, *, retry_s: float = RETRY_S, heartbeat_s: float = HEARTBEAT_S,
                 job_id: int | None = None, host: str | None = None) -> None:
        from bench.lab.db import resolve_url

        self.url = resolve_url(url)
        self.enabled = self.url.strip().lower() not in DISABLED
        self.retry_s = retry_s
        self.heartbeat_s = heartbeat_s
        self._last_beat = -float("inf")
        self.job_id = job_id
        self.host = host or socket.gethostname()
        self.run_id: str | None = None
        self._ops: list[tuple[str, dict[str, Any]]] = []
        self._heartbeat: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self._finished = False
        self._warned = False
        self._failing = False
        #: Attempts to write that failed so far (the database down, slow or refusing).
        self.failed_attempts = 0
        self._catalog: Any = None
        self._idle = threading.Event()
        self._idle.set()
        self._thread: threading.Thread | None = None

    @classmethod
    def for_run(cls, catalog: str | None = None, job_id: int | str | None = None) -> CatalogRecorder:
        """The recorder ``bench run`` / ``bench resume`` make: ``--catalog`` (else $CELLBENCH_CATALOG,
        else the user catalog in ~/.local/share/cellbench; ``off`` disables it) and the job id (else $CELLBENCH_JOB_ID, which
        ``bench worker`` sets for its job processes)."""
        from bench.lab.db import JOB_ENV_VAR

        job = job_id if job_id is not None else os.environ.get(JOB_ENV_VAR) or None
        return cls(catalog, job_id=int(job) if job is not None else None)

    # -- the run's side: never blocks, never raises on database trouble --------------------------
    def run_started(self, provenance: Mapping[str, Any], run_file: str | Path | None = None) -> str:
        """Queue the run's row (status running); return its catalog id (known without the database)."""
        row = provenance_row(provenance, run_file)
        row.update(status="running", host=row.get("host") or self.host, job_id=self.job_id)
        self.run_id = row["run_id"]
        if self.enabled:
            self._put("start", row)
        return self.run_id

    def heartbeat(self, state: Mapping[str, Any] | None = None) -> None:
        """Queue a heartbeat with the run's latest state (only the newest unwritten one is kept)."""
        if self.run_id is None or not self.enabled:
            return
        with self._lock:
            self._heartbeat = dict(state or {})
            self._idle.clear()
        now = time.monotonic()
        if now - self._last_beat >= self.heartbeat_s:  # else the state waits for the next write
            self._last_beat = now
            self._start_thread()
            self._wake.set()

    def run_finished(self, status: str, verdict: str | None = None, claims: Sequence[Mapping[str, Any]] | None = None,
                     metrics: Mapping[str, Any] | None = None, run_file: str | Path | None = None, *,
                     status_message: str | None = None, test_time_s: float | None = None) -> None:
        """Queue the final row: status (a run-file status such as ``safety_trip`` or a catalog one),
        verdict, claims (the report's ``criteria``), metrics; the file's SHA-256 is computed by the
        background thread."""
        if self.run_id is None:
            raise RuntimeError("run_finished() before run_started()")
        row = {"run_id": self.run_id, "status": FILE_STATUS.get(status, status), "verdict": verdict,
               "claims": json.dumps(list(claims), default=str, sort_keys=True) if claims is not None else None,
               "metrics": json.dumps(dict(metrics), default=str, sort_keys=True) if metrics is not None else None,
               "ended_utc": dt.datetime.now(dt.UTC).replace(tzinfo=None), "status_message": status_message,
               "test_time_s": test_time_s, "run_file": str(Path(run_file).resolve()) if run_file else None,
               "capacity_ah": measured_capacity_ah(metrics or {})}
        if self.enabled:
            self._put("finish", row)

    def close(self, timeout_s: float = 5.0) -> bool:
        """Wait up to ``timeout_s`` for the queue to drain; True when everything was written.

        What is left is logged once (``bench runs sync`` registers it from the run file later)."""
        thread = self._thread
        if thread is None:
            return True
        self._wake.set()
        drained = self._idle.wait(timeout_s)
        with self._lock:
            self._stop = True
        self._wake.set()
        if not drained:  # a warning only if the outage has not had its one warning yet (a slow database)
            logger.log(logging.INFO if self._warned else logging.WARNING,
                       "catalog %s: %d write(s) of run %s not done; the run file has everything "
                       "(bench runs sync registers it)", safe_url(self.url), self.pending, self.run_id)
        return drained

    @property
    def pending(self) -> int:
        """Writes queued and not yet done."""
        with self._lock:
            return len(self._ops) + (self._heartbeat is not None)

    def _put(self, kind: str, row: dict[str, Any]) -> None:
        with self._lock:
            self._ops.append((kind, row))
            self._idle.clear()
        self._start_thread()
        self._wake.set()

    def _start_thread(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="catalog-recorder", daemon=True)
                self._thread.start()

    # -- the background thread ---------------------------------------------------------------
    def _loop(self) -> None:
        healthy = True
        while True:
            # after a failure: retry every retry_s (or sooner when new work or close() wakes us)
            self._wake.wait(None if healthy else self.retry_s)
            self._wake.clear()
            with self._lock:
                if self._stop:
                    break
            healthy = self._drain()
        if self._catalog is not None:
            self._catalog.close()

    def _drain(self) -> bool:
        """Write what is queued; False after a database error (everything unwritten stays queued)."""
        try:
            if self._catalog is None:
                from bench.lab.catalog import Catalog

                self._catalog = Catalog(self.url)
            while True:
                with self._lock:
                    op = self._ops[0] if self._ops else None
                    beat = self._heartbeat
                if op is not None:
                    kind, row = op
                    if kind == "finish" and row.get("run_file") and "run_file_sha256" not in row:
                        row["run_file_sha256"] = _sha_or_none(row["run_file"])
                    self._catalog.upsert_run(row)
                    with self._lock:
                        self._ops.pop(0)
                        if kind == "finish":
                            self._finished = True
                    continue
                if beat is not None:
                    if not self._finished:
                        self._catalog.heartbeat_run(self.run_id, beat)
                    with self._lock:
                        if self._heartbeat is beat:
                            self._heartbeat = None
                    continue
                break
        except Exception as exc:  # noqa: BLE001 - any database trouble: keep the queue, retry later
            if self._catalog is not None:
                self._catalog.engine.dispose()
            if not self._warned:
                self._warned = True
                logger.warning("catalog %s unreachable (%s: %s); the run goes on, its file is complete, and "
                               "the catalog catches up when the database answers again", safe_url(self.url),
                               type(exc).__name__, _first_line(exc))
            else:
                logger.debug("catalog still unreachable: %s", _first_line(exc))
            self._failing = True
            self.failed_attempts += 1
            return False
        if self._failing:
            self._failing = False
            logger.info("catalog %s reachable again: run %s caught up", safe_url(self.url), self.run_id)
        with self._lock:
            if not self._ops and self._heartbeat is None:
                self._idle.set()
        return True


def _sha_or_none(path: str) -> str | None:
    try:
        return file_sha256(path) if os.path.exists(path) else None
    except OSError:
        return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""
