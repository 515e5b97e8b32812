"""The catalog schema at its newest version (SQLAlchemy Core tables used by every query).

Migrations (bench/lab/migrations.py) build it step by step; a test checks that an upgraded
catalog has exactly these columns. Times: ``*_utc`` are naive UTC datetimes; ``heartbeat_s`` is
the database server's clock in Unix seconds (one clock for every bench PC). JSON values are
stored as text so they can be searched with LIKE on every backend.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

#: Run statuses in the catalog (run files say ``safety_trip`` / ``instrument_failure``; see provenance).
RUN_STATUSES = ("queued", "running", "completed", "tripped", "failed", "aborted", "interrupted")
#: Job statuses: a run's statuses plus ``cancelled``.
JOB_STATUSES = (*RUN_STATUSES, "cancelled")
FINAL_JOB_STATUSES = ("completed", "tripped", "failed", "aborted", "interrupted", "cancelled")

schema_version = Table(
    "schema_version", metadata,
    Column("version", Integer, primary_key=True),
    Column("description", Text, nullable=False),
    Column("applied_utc", DateTime, nullable=False),
)

runs = Table(
    "runs", metadata,
    Column("run_id", String(36), primary_key=True),
    Column("protocol", Text, nullable=False, default=""),
    Column("protocol_sha256", String(64)),
    Column("parameters", Text),          # JSON object
    Column("cell_id", Text),
    Column("cell_preset", Text),
    Column("bench", Text),
    Column("instruments", Text),         # JSON: role -> *IDN? reply
    Column("operator", Text),
    Column("host", Text),
    Column("status", String(16), nullable=False),
    Column("verdict", String(32)),
    Column("claims", Text),              # JSON list: the pass criteria with observed values
    Column("metrics", Text),             # JSON object
    Column("started_utc", DateTime),
    Column("ended_utc", DateTime),
    Column("run_file", Text),
    Column("run_file_sha256", String(64)),
    # version 2
    Column("heartbeat_s", Float),
    Column("state", Text),               # JSON: the last heartbeat's state (step, test time, ...)
    Column("job_id", Integer),
    Column("software", Text),
    Column("status_message", Text),
    Column("test_time_s", Float),
    Column("updated_utc", DateTime),
    # version 3
    Column("capacity_ah", Float),        # the run's measured capacity: its last capacity check or RPT, Ah
    Column("rated_capacity_ah", Float),  # the cell's rated capacity (its cell block), Ah
)
Index("ix_runs_protocol", runs.c.protocol)
Index("ix_runs_cell", runs.c.cell_id, runs.c.started_utc)
Index("ix_runs_started", runs.c.started_utc)
Index("ix_runs_status", runs.c.status)

jobs = Table(
    "jobs", metadata,
    Column("job_id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),          # run | resume
    Column("protocol", Text, nullable=False),
    Column("settings", Text, nullable=False),            # JSON: --set NAME=VALUE pairs
    Column("cell_id", Text),
    Column("priority", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("submitted_utc", DateTime, nullable=False),
    Column("submitted_by", Text),
    Column("pin_worker", Text),                          # only this worker may claim it (resume)
    Column("worker", Text),
    Column("started_utc", DateTime),
    Column("ended_utc", DateTime),
    Column("heartbeat_s", Float),
    Column("heartbeat_period_s", Float),
    Column("attempts", Integer, nullable=False),
    Column("cancel_requested", Boolean, nullable=False),
    Column("exit_code", Integer),
    Column("run_id", String(36)),
    Column("run_file", Text),
    Column("message", Text),
    Column("retry_of", Integer),
    Column("pid", Integer),                              # the job process on the worker's host
)
Index("ix_jobs_claim", jobs.c.status, jobs.c.priority, jobs.c.job_id)

job_needs = Table(
    "job_needs", metadata,
    Column("job_id", Integer, ForeignKey("jobs.job_id", ondelete="CASCADE"), primary_key=True),
    Column("tag", String(64), primary_key=True),
)

workers = Table(
    "workers", metadata,
    Column("name", String(128), primary_key=True),
    Column("host", Text),
    Column("pid", Integer),
    Column("bench_file", Text),
    Column("tags", Text),                                # JSON list
    Column("status", String(16), nullable=False),        # idle | busy | stopped
    Column("job_id", Integer),
    Column("started_utc", DateTime),
    Column("heartbeat_s", Float),
)
