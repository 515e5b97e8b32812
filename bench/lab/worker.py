"""A bench worker: claim queued jobs that match this bench's tags, one at a time, run them as
``bench run`` does (a subprocess per job), heartbeat, record the outcome and the run.

A job process is never killed because its worker died: the run keeps its own safety supervisor
and run file. The worker holds a lock file on the bench (``RUNS_DIR/.worker-NAME.lock``) that each
job process inherits, so a restarted worker does not start a second run on the same instruments
while an orphaned run is still going; it waits until that run has ended.
"""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bench.cell_identity import CELL_ID
from bench.lab.db import ENV_VAR, JOB_ENV_VAR, safe_url
from bench.lab.jobqueue import HEARTBEAT_S, JobQueue

logger = logging.getLogger(__name__)

#: ``bench run`` exit code -> job status (0 passed and 1 failed its criteria are both "completed").
EXIT_STATUS = {0: "completed", 1: "completed", 2: "failed", 3: "tripped", 4: "failed", 130: "aborted"}


@dataclasses.dataclass
class JobResult:
    """How a job ended."""

    status: str
    exit_code: int | None = None
    run_file: str | None = None
    run_id: str | None = None
    message: str | None = None


class JobContext:
    """What a runner gets besides the job: a cancel flag and a place to report its process id."""

    def __init__(self) -> None:
        self.cancelled = threading.Event()
        self.pid: int | None = None
        self._on_cancel: list[Callable[[], None]] = []

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from the heartbeat thread) when the job is cancelled."""
        self._on_cancel.append(callback)
        if self.cancelled.is_set():
            callback()

    def cancel(self) -> None:
        """Flag the job cancelled and run the callbacks once."""
        if not self.cancelled.is_set():
            self.cancelled.set()
            for callback in self._on_cancel:
                callback()


Runner = Callable[[dict[str, Any], JobContext], JobResult]


class SubprocessRunner:
    """Run a job as ``python -m bench.cli run PROTOCOL --out RUNS_DIR/job-ID_PROTOCOL.h5 ...`` (or
    ``bench resume RUN.h5``), output in ``RUNS_DIR/job-ID.log``; register its run file in the catalog."""

    def __init__(self, url: str, runs_dir: str | Path = "runs", bench_file: str | None = None,
                 extra_args: Iterable[str] = (), pass_fds: tuple[int, ...] = ()) -> None:
        self.url = url
        self.runs_dir = Path(runs_dir)
        self.bench_file = bench_file
        self.extra_args = list(extra_args)
        self.pass_fds = pass_fds

    def argv(self, job: dict[str, Any]) -> tuple[list[str], Path]:
        """The job's command line and its run file."""
        if job["kind"] == "resume":
            run_file = Path(job["run_file"])
            return [sys.executable, "-m", "bench.cli", "resume", str(run_file), "--no-progress"], run_file
        name = Path(job["protocol"]).stem or "run"
        run_file = (self.runs_dir / f"job-{job['job_id']}_{name}.h5").resolve()
        argv = [sys.executable, "-m", "bench.cli", "run", job["protocol"], "--out", str(run_file), "--no-progress"]
        for key, value in sorted(job["settings"].items()):
            argv += ["--set", f"{key}={value}"]
        if self.bench_file:
            argv += ["--bench", self.bench_file]
        if job.get("cell_id") and CELL_ID.match(str(job["cell_id"])):  # the cell's serial into its run file
            argv += ["--cell-id", str(job["cell_id"])]
        return argv + self.extra_args, run_file

    def __call__(self, job: dict[str, Any], ctx: JobContext) -> JobResult:
        argv, run_file = self.argv(job)
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.runs_dir / f"job-{job['job_id']}.log"
        env = {**os.environ, ENV_VAR: self.url, JOB_ENV_VAR: str(job["job_id"])}
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                    pass_fds=self.pass_fds, start_new_session=True)
            ctx.pid = proc.pid
            # SIGTERM is an operator abort in `bench run`: output off, file closed, status "aborted"
            def terminate() -> None:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)

            ctx.on_cancel(terminate)
            code = proc.wait()
        status = EXIT_STATUS.get(code, "interrupted" if code < 0 else "failed")
        if ctx.cancelled.is_set() and status == "aborted":
            status = "cancelled"
        message = f"exit {code}; output in {log_path}"
        return JobResult(status, code, str(run_file) if run_file.exists() else None, None, message)


class Worker:
    """Claims and runs jobs until stopped (or ``max_jobs`` / ``idle_exit_s``)."""

    def __init__(self, url: str | None = None, *, name: str | None = None, tags: Iterable[str] = (),
                 runner: Runner | None = None, heartbeat_s: float = HEARTBEAT_S, poll_s: float | None = None,
                 runs_dir: str | Path = "runs", bench_file: str | None = None) -> None:
        self.queue = JobQueue(url)
        self.url = self.queue.url
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.tags = sorted(set(tags))
        self.heartbeat_s = heartbeat_s
        self.poll_s = heartbeat_s if poll_s is None else poll_s
        self.runs_dir = Path(runs_dir)
        self.bench_file = bench_file
        self._lock_fd: int | None = None
        self.runner = runner if runner is not None else SubprocessRunner(self.url, runs_dir, bench_file)
        self.stop = threading.Event()
        self.jobs_run = 0
        self._db_warned = False

    def acquire_bench(self, timeout_s: float | None = None) -> None:
        """Take the bench lock (waits while an earlier worker's job process still runs)."""
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        path = self.runs_dir / f".worker-{self.name}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        warned = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not warned:
                    logger.warning("%s: bench busy (an earlier job process still runs); waiting", path)
                    warned = True
                if deadline is not None and time.monotonic() > deadline:
                    os.close(fd)
                    raise TimeoutError(f"{path}: bench still busy after {timeout_s} s") from None
                if self.stop.wait(1.0):
                    os.close(fd)
                    raise InterruptedError("worker stopped while waiting for the bench") from None
        self._lock_fd = fd
        if isinstance(self.runner, SubprocessRunner):
            self.runner.pass_fds = (fd,)  # job processes inherit the lock

    def run(self, *, max_jobs: int | None = None, idle_exit_s: float | None = None) -> int:
        """Work until :attr:`stop` is set, ``max_jobs`` jobs ran, or nothing was claimable for
        ``idle_exit_s``; return the number of jobs run."""
        if isinstance(self.runner, SubprocessRunner) and self._lock_fd is None:
            self.acquire_bench()
        self.queue.register_worker(self.name, host=socket.gethostname(), pid=os.getpid(),
                                   bench_file=self.bench_file, tags=self.tags)
        logger.info("worker %s on %s: tags %s, heartbeat %g s", self.name, safe_url(self.url),
                    ",".join(self.tags) or "-", self.heartbeat_s)
        idle_since = time.monotonic()
        next_reap = 0.0
        try:
            while not self.stop.is_set() and (max_jobs is None or self.jobs_run < max_jobs):
                if time.monotonic() >= next_reap:
                    self._guard(self.queue.reap)
                    self._guard(self._reap_runs)
                    self._guard(self.queue.worker_idle, self.name)
                    next_reap = time.monotonic() + self.heartbeat_s
                job = self._guard(self.queue.claim, self.name, self.tags, self.heartbeat_s)
                if job is None:
                    if idle_exit_s is not None and time.monotonic() - idle_since >= idle_exit_s:
                        break
                    self.stop.wait(min(self.poll_s, max(next_reap - time.monotonic(), 0.0)) or self.poll_s)
                    continue
                self._run_job(job)
                self.jobs_run += 1
                idle_since = time.monotonic()
        finally:
            self._guard(self.queue.worker_idle, self.name, "stopped")
            self.queue.close()
            self.release_bench()
        logger.info("worker %s stopped after %d job(s)", self.name, self.jobs_run)
        return self.jobs_run

    def release_bench(self) -> None:
        """Drop the bench lock and remove its file (no lock file outlives its worker). The file
        is removed while the lock is still held, so a worker waiting on it takes a new file."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is None:
            return
        try:
            (self.runs_dir / f".worker-{self.name}.lock").unlink(missing_ok=True)
        except OSError as exc:
            logger.warning("worker %s: could not remove its lock file: %s", self.name, exc)
        finally:
            os.close(fd)

    def _run_job(self, job: dict[str, Any]) -> None:
        ctx = JobContext()
        done = threading.Event()
        logger.info("job %d claimed: %s %s%s", job["job_id"], job["kind"], job["protocol"],
                    f" (cell {job['cell_id']})" if job.get("cell_id") else "")

        def beat() -> None:
            while not done.wait(self.heartbeat_s):
                if self._guard(self.queue.heartbeat, job["job_id"], self.name, ctx.pid):
                    ctx.cancel()
                self._guard(self.queue.reap)

        thread = threading.Thread(target=beat, name=f"heartbeat-job-{job['job_id']}", daemon=True)
        thread.start()
        try:
            result = self.runner(job, ctx)
        except Exception as exc:  # noqa: BLE001 - a broken job must not stop the worker
            logger.exception("job %d failed to run", job["job_id"])
            result = JobResult("failed", message=f"{type(exc).__name__}: {exc}")
        finally:
            done.set()
            thread.join()
        self._record(job, result)

    def _record(self, job: dict[str, Any], result: JobResult) -> None:
        """Register the job's run file in the catalog and record the job's end, retrying every
        heartbeat period while the database is away (the run file already has everything)."""
        recorded = None
        row = None
        if result.run_file:
            try:  # the file's provenance, verdict and SHA-256 (no database needed)
                from bench.lab.provenance import row_from_file

                row = row_from_file(result.run_file)
                row.update(job_id=job["job_id"], host=socket.gethostname(), cell_id=row.get("cell_id") or job.get("cell_id"))
            except Exception as exc:  # noqa: BLE001 - an unreadable file is reported, the job still ends
                logger.warning("job %d: run file %s not readable for the catalog: %s", job["job_id"], result.run_file, exc)
        while True:
            if row is not None and result.run_id is None and self._guard(self._upsert, row):
                result.run_id = row["run_id"]
            if result.run_id is not None or row is None:
                recorded = self._guard(self.queue.finish, job["job_id"], self.name, result.status,
                                       exit_code=result.exit_code, run_id=result.run_id, run_file=result.run_file,
                                       message=result.message)
                if recorded is not None:
                    break
            if self.stop.wait(self.heartbeat_s):
                logger.warning("job %d: worker stopped before the catalog took its end (%s); `bench runs sync` "
                               "registers the run file", job["job_id"], result.status)
                return
        if recorded is False:
            logger.warning("job %d: finished (%s) after it had been given to another worker", job["job_id"],
                           result.status)
            return
        verdict = (row or {}).get("verdict")
        logger.info("job %d finished: %s, verdict %s, exit code %s%s", job["job_id"], result.status,
                    verdict or "none", result.exit_code, f", run file {result.run_file}" if result.run_file else "")

    def _reap_runs(self) -> int:
        from bench.lab.catalog import RUN_STALE_S, Catalog

        return Catalog(engine=self.queue.engine, migrate=False).reap_runs(RUN_STALE_S)

    def _upsert(self, row: dict[str, Any]) -> bool:
        from bench.lab.catalog import Catalog

        Catalog(engine=self.queue.engine, migrate=False).upsert_run(row)
        return True

    def _guard(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call a queue method; database trouble is logged once and returns None (the job goes on)."""
        try:
            value = fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the database may be down; the bench keeps working
            if not self._db_warned:
                self._db_warned = True
                logger.warning("worker %s: catalog %s unreachable (%s: %s); retrying", self.name,
                               safe_url(self.url), type(exc).__name__, str(exc).splitlines()[0][:200] if str(exc) else "")
            return None
        if self._db_warned:
            self._db_warned = False
            logger.info("worker %s: catalog reachable again", self.name)
        return value
