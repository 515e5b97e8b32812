"""The job queue: submit, claim atomically, heartbeat, finish, cancel, retry, reap.

Claiming takes the highest-priority queued job (FIFO within a priority) whose needed tags are all
among the worker's tags: on PostgreSQL ``SELECT ... FOR UPDATE SKIP LOCKED`` (concurrent claimers
skip each other's row instead of waiting), on SQLite inside ``BEGIN IMMEDIATE`` (one claimer at a
time holds the write lock from the read to the update). A claimed job carries its worker's
heartbeat period; a running job whose heartbeat is older than ``STALE_PERIODS`` periods is marked
``interrupted`` by whoever reaps next (every worker reaps once per period), so a dead worker's job
is marked within ``STALE_PERIODS + 1`` periods.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Engine, exists, func, insert, or_, select, update

from bench.lab import db
from bench.lab.migrations import upgrade
from bench.lab.schema import FINAL_JOB_STATUSES, job_needs, jobs, runs, workers

logger = logging.getLogger(__name__)

#: A running job is stale (its worker presumed dead) after this many missed heartbeat periods.
STALE_PERIODS = 2.0
#: Default worker heartbeat period (s): a dead worker's job is marked interrupted within ~30 s.
HEARTBEAT_S = 10.0


class JobError(ValueError):
    """A job request that cannot be done (unknown id, wrong state); the message says why."""


class JobQueue:
    """The queue in one catalog database."""

    def __init__(self, url: str | None = None, *, engine: Engine | None = None) -> None:
        self.url = db.resolve_url(url)
        self.engine = engine if engine is not None else db.open_engine(self.url)
        upgrade(self.engine)

    def close(self) -> None:
        """Release the connections."""
        self.engine.dispose()

    def __enter__(self) -> JobQueue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- submitting ------------------------------------------------------------------------------
    def submit(self, protocol: str, *, settings: Mapping[str, str] | None = None, cell_id: str | None = None,
               needs: Iterable[str] = (), priority: int = 0, kind: str = "run", pin_worker: str | None = None,
               run_file: str | None = None, retry_of: int | None = None, submitted_by: str | None = None) -> int:
        """Queue a job; return its id."""
        if kind not in ("run", "resume"):
            raise JobError(f"job kind {kind!r}: expected 'run' or 'resume'")
        tags = sorted({t.strip() for t in needs if t.strip()})
        with db.write(self.engine) as conn:
            job_id = conn.execute(insert(jobs).values(
                kind=kind, protocol=protocol, settings=json.dumps(dict(settings or {}), sort_keys=True),
                cell_id=cell_id, priority=int(priority), status="queued", submitted_utc=_utcnow(),
                submitted_by=submitted_by or _user(), pin_worker=pin_worker, attempts=0, cancel_requested=False,
                run_file=run_file, retry_of=retry_of,
            ).returning(jobs.c.job_id)).scalar_one()
            if tags:
                conn.execute(insert(job_needs), [{"job_id": job_id, "tag": t} for t in tags])
        return int(job_id)

    # -- the worker's side -------------------------------------------------------------------------
    def claim(self, worker: str, tags: Iterable[str], heartbeat_period_s: float = HEARTBEAT_S) -> dict[str, Any] | None:
        """Atomically take the next job this worker can run (or None): status -> running."""
        tag_list = sorted(set(tags))
        unmet = select(job_needs.c.tag).where(job_needs.c.job_id == jobs.c.job_id)
        if tag_list:
            unmet = unmet.where(job_needs.c.tag.not_in(tag_list))
        candidate = (select(jobs.c.job_id)
                     .where(jobs.c.status == "queued", ~exists(unmet),
                            or_(jobs.c.pin_worker.is_(None), jobs.c.pin_worker == worker))
                     .order_by(jobs.c.priority.desc(), jobs.c.job_id)
                     .limit(1)
                     .with_for_update(skip_locked=True)
                     .scalar_subquery())
        # one statement: UPDATE ... WHERE job_id = (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING *
        take = (update(jobs).where(jobs.c.job_id == candidate, jobs.c.status == "queued").values(
            status="running", worker=worker, started_utc=_utcnow(), heartbeat_s=db.db_now(self.engine),
            heartbeat_period_s=float(heartbeat_period_s), attempts=jobs.c.attempts + 1, message=None)
            .returning(*jobs.c))
        with db.write(self.engine) as conn:
            row = conn.execute(take).mappings().first()
        return _decode(row) if row is not None else None

    def heartbeat(self, job_id: int, worker: str, pid: int | None = None) -> bool:
        """Record that the worker is alive on this job (and the job's process id); return True if a
        cancel was requested."""
        values: dict[str, Any] = {"heartbeat_s": db.db_now(self.engine)}
        if pid is not None:
            values["pid"] = pid
        with db.write(self.engine) as conn:
            conn.execute(update(jobs).where(jobs.c.job_id == job_id, jobs.c.worker == worker,
                                            jobs.c.status == "running").values(**values))
            conn.execute(update(workers).where(workers.c.name == worker).values(
                heartbeat_s=db.db_now(self.engine), status="busy", job_id=job_id))
            return bool(conn.execute(select(jobs.c.cancel_requested).where(jobs.c.job_id == job_id)).scalar())

    def finish(self, job_id: int, worker: str, status: str, *, exit_code: int | None = None,
               run_id: str | None = None, run_file: str | None = None, message: str | None = None) -> bool:
        """Record the job's end; False if the job was no longer this worker's (reaped meanwhile)."""
        if status not in FINAL_JOB_STATUSES:
            raise JobError(f"job {job_id}: {status!r} is not a final status")
        with db.write(self.engine) as conn:
            done = conn.execute(update(jobs).where(jobs.c.job_id == job_id, jobs.c.worker == worker,
                                                   jobs.c.status.in_(("running", "interrupted"))).values(
                status=status, ended_utc=_utcnow(), exit_code=exit_code, run_id=run_id,
                run_file=run_file, message=message))
            return bool(done.rowcount)

    def register_worker(self, name: str, *, host: str, pid: int, bench_file: str | None, tags: Iterable[str]) -> None:
        """Announce a worker (insert or refresh its row)."""
        values = {"host": host, "pid": pid, "bench_file": bench_file, "tags": json.dumps(sorted(tags)),
                  "status": "idle", "job_id": None, "started_utc": _utcnow(), "heartbeat_s": db.db_now(self.engine)}
        with db.write(self.engine) as conn:
            if not conn.execute(update(workers).where(workers.c.name == name).values(**values)).rowcount:
                conn.execute(insert(workers).values(name=name, **values))

    def worker_idle(self, name: str, status: str = "idle") -> None:
        """Heartbeat of a worker without a job (``stopped`` when it exits)."""
        with db.write(self.engine) as conn:
            conn.execute(update(workers).where(workers.c.name == name).values(
                status=status, job_id=None, heartbeat_s=db.db_now(self.engine)))

    def reap(self) -> list[int]:
        """Mark running jobs whose worker stopped heartbeating interrupted; return their ids."""
        stale = jobs.c.heartbeat_s < db.db_now(self.engine) - STALE_PERIODS * jobs.c.heartbeat_period_s
        with db.write(self.engine) as conn:
            ids = [int(i) for i in conn.execute(select(jobs.c.job_id).where(jobs.c.status == "running", stale)).scalars()]
            if ids:
                conn.execute(update(jobs).where(jobs.c.job_id.in_(ids), jobs.c.status == "running").values(
                    status="interrupted", ended_utc=_utcnow(),
                    message=f"worker stopped heartbeating (no heartbeat for {STALE_PERIODS:g} periods); "
                            "resume on that bench with `bench jobs retry --resume ID` or `bench resume RUN.h5`"))
                conn.execute(update(workers).where(workers.c.job_id.in_(ids)).values(status="lost", job_id=None))
        for job_id in ids:
            logger.warning("job %d: worker stopped heartbeating; marked interrupted", job_id)
        return ids

    # -- people's side ---------------------------------------------------------------------------
    def job(self, job_id: int) -> dict[str, Any]:
        """One job (JobError if unknown)."""
        with db.read(self.engine) as conn:
            row = conn.execute(select(jobs).where(jobs.c.job_id == job_id)).mappings().first()
            if row is None:
                raise JobError(f"job {job_id}: no such job")
            needs = sorted(conn.execute(select(job_needs.c.tag).where(job_needs.c.job_id == job_id)).scalars())
        return {**_decode(row), "needs": needs}

    def list_jobs(self, *, status: Iterable[str] | None = None, worker: str | None = None,
                  limit: int | None = None, ended_since: dt.datetime | None = None) -> list[dict[str, Any]]:
        """Jobs by priority (highest first), then in submission order. ``ended_since``: queued and
        running jobs plus those that ended at or after that time (naive UTC)."""
        query = select(jobs)
        if status:
            query = query.where(jobs.c.status.in_(list(status)))
        if ended_since is not None:
            query = query.where(or_(jobs.c.status.in_(("queued", "running")), jobs.c.ended_utc >= ended_since))
        if worker:
            query = query.where(jobs.c.worker == worker)
        query = query.order_by(jobs.c.priority.desc(), jobs.c.job_id)
        if limit:
            query = query.limit(limit)
        with db.read(self.engine) as conn:
            rows = [_decode(r) for r in conn.execute(query).mappings()]
            needs: dict[int, list[str]] = {}
            for job_id, tag in conn.execute(select(job_needs.c.job_id, job_needs.c.tag).order_by(job_needs.c.tag)):
                needs.setdefault(job_id, []).append(tag)
            run_ids = [r["run_id"] for r in rows if r.get("run_id")]
            verdicts = dict(conn.execute(select(runs.c.run_id, runs.c.verdict).where(runs.c.run_id.in_(run_ids))).all()) \
                if run_ids else {}
        for row in rows:
            row["needs"] = needs.get(row["job_id"], [])
            row["verdict"] = verdicts.get(row.get("run_id"))  # the run's verdict (catalog), beside the exit code
        return rows

    def list_workers(self) -> list[dict[str, Any]]:
        """Workers with the seconds since their last heartbeat (database clock)."""
        with db.read(self.engine) as conn:
            rows = conn.execute(select(workers, (db.db_now(self.engine) - workers.c.heartbeat_s).label("silent_s"))
                                .order_by(workers.c.name)).mappings().all()
        return [dict(r) for r in rows]

    def cancel(self, job_id: int) -> str:
        """Cancel a queued job now, or ask a running job's worker to stop it; return the new state."""
        with db.write(self.engine) as conn:
            status = conn.execute(select(jobs.c.status).where(jobs.c.job_id == job_id)).scalar()
            if status is None:
                raise JobError(f"job {job_id}: no such job")
            if status == "queued":
                conn.execute(update(jobs).where(jobs.c.job_id == job_id).values(
                    status="cancelled", ended_utc=_utcnow(), message="cancelled before it started"))
                return "cancelled"
            if status == "running":
                conn.execute(update(jobs).where(jobs.c.job_id == job_id).values(cancel_requested=True))
                return "cancel requested"
            raise JobError(f"job {job_id}: already {status}; nothing to cancel")

    def retry(self, job_id: int, *, resume: bool = False, priority: int | None = None) -> int:
        """Queue a new job like a finished one (``resume``: continue its run file on the same worker)."""
        old = self.job(job_id)
        if old["status"] not in FINAL_JOB_STATUSES or old["status"] == "completed" and resume:
            raise JobError(f"job {job_id}: is {old['status']}; retry takes a finished job"
                           + (" that did not complete" if resume else ""))
        if resume:
            if not old.get("run_file") or not old.get("worker"):
                raise JobError(f"job {job_id}: has no run file on a worker to resume")
            return self.submit(old["protocol"], settings=old["settings"], cell_id=old["cell_id"], needs=old["needs"],
                               priority=old["priority"] if priority is None else priority, kind="resume",
                               pin_worker=old["worker"], run_file=old["run_file"], retry_of=job_id)
        return self.submit(old["protocol"], settings=old["settings"], cell_id=old["cell_id"], needs=old["needs"],
                           priority=old["priority"] if priority is None else priority, retry_of=job_id)

    def counts(self) -> dict[str, int]:
        """Number of jobs by status."""
        with db.read(self.engine) as conn:
            return {s: int(n) for s, n in conn.execute(select(jobs.c.status, func.count()).group_by(jobs.c.status))}


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in a bare container
        return ""


def _decode(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A row (a SQLAlchemy ``RowMapping``: keys are column names) with its JSON columns parsed."""
    out: dict[str, Any] = dict(row)
    if isinstance(out.get("settings"), str):
        out["settings"] = json.loads(out["settings"])
    return out
