"""Versioned DDL for the catalog: an old catalog is upgraded in place, never dropped.

Each migration is frozen as it was released (it declares the tables it creates itself, so a later
change to bench/lab/schema.py never rewrites history). ``schema_version`` holds one row per applied
migration. The whole upgrade runs in one transaction (DDL is transactional in SQLite and PostgreSQL),
under ``BEGIN IMMEDIATE`` on SQLite and an advisory lock on PostgreSQL, so two bench PCs starting at
once against a new catalog do not both migrate it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    select,
    text,
)
from sqlalchemy.types import TypeEngine

from bench.lab.db import write

logger = logging.getLogger(__name__)

#: ``pg_advisory_xact_lock`` key of the migration lock (arbitrary, fixed).
_PG_LOCK_KEY = 0x0CE11BE4C


class CatalogVersionError(RuntimeError):
    """The catalog was written by a newer CellBench than this one."""


def _v1(conn: Connection) -> None:
    """The run catalog."""
    md = MetaData()
    Table(
        "runs", md,
        Column("run_id", String(36), primary_key=True),
        Column("protocol", Text, nullable=False, default=""),
        Column("protocol_sha256", String(64)),
        Column("parameters", Text),
        Column("cell_id", Text),
        Column("cell_preset", Text),
        Column("bench", Text),
        Column("instruments", Text),
        Column("operator", Text),
        Column("host", Text),
        Column("status", String(16), nullable=False),
        Column("verdict", String(32)),
        Column("claims", Text),
        Column("metrics", Text),
        Column("started_utc", DateTime),
        Column("ended_utc", DateTime),
        Column("run_file", Text),
        Column("run_file_sha256", String(64)),
    )
    md.create_all(conn)


def _add_column(conn: Connection, table: str, name: str, type_: TypeEngine) -> None:
    conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {name} {type_.compile(dialect=conn.dialect)}"))


def _v2(conn: Connection) -> None:
    """Heartbeats and run state; the job queue and its workers; indexes for the usual filters."""
    for name, type_ in (("heartbeat_s", Float()), ("state", Text()), ("job_id", Integer()), ("software", Text()),
                        ("status_message", Text()), ("test_time_s", Float()), ("updated_utc", DateTime())):
        _add_column(conn, "runs", name, type_)
    md = MetaData()
    runs = Table("runs", md, Column("run_id", String(36), primary_key=True), Column("protocol", Text),
                 Column("started_utc", DateTime), Column("status", String(16)))
    jobs = Table(
        "jobs", md,
        Column("job_id", Integer, primary_key=True, autoincrement=True),
        Column("kind", String(16), nullable=False),
        Column("protocol", Text, nullable=False),
        Column("settings", Text, nullable=False),
        Column("cell_id", Text),
        Column("priority", Integer, nullable=False),
        Column("status", String(16), nullable=False),
        Column("submitted_utc", DateTime, nullable=False),
        Column("submitted_by", Text),
        Column("pin_worker", Text),
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
        Column("pid", Integer),
    )
    Table("job_needs", md,
          Column("job_id", Integer, ForeignKey("jobs.job_id", ondelete="CASCADE"), primary_key=True),
          Column("tag", String(64), primary_key=True))
    Table("workers", md,
          Column("name", String(128), primary_key=True),
          Column("host", Text), Column("pid", Integer), Column("bench_file", Text), Column("tags", Text),
          Column("status", String(16), nullable=False), Column("job_id", Integer),
          Column("started_utc", DateTime), Column("heartbeat_s", Float))
    md.create_all(conn, tables=[md.tables["jobs"], md.tables["job_needs"], md.tables["workers"]])
    Index("ix_runs_protocol", runs.c.protocol).create(conn)
    Index("ix_runs_started", runs.c.started_utc).create(conn)
    Index("ix_runs_status", runs.c.status).create(conn)
    Index("ix_jobs_claim", jobs.c.status, jobs.c.priority, jobs.c.job_id).create(conn)


def _v3(conn: Connection) -> None:
    """Cell history (issue 24): each run's measured capacity (its last capacity check or RPT, Ah)
    and the cell's rated capacity (Ah), and an index for one cell's runs in time order."""
    for name, type_ in (("capacity_ah", Float()), ("rated_capacity_ah", Float())):
        _add_column(conn, "runs", name, type_)
    md = MetaData()
    runs = Table("runs", md, Column("run_id", String(36), primary_key=True), Column("cell_id", Text),
                 Column("started_utc", DateTime))
    Index("ix_runs_cell", runs.c.cell_id, runs.c.started_utc).create(conn)


#: (version, description, function), in order. Append only; never edit a released migration.
MIGRATIONS: tuple[tuple[int, str, Callable[[Connection], None]], ...] = (
    (1, "run catalog", _v1),
    (2, "heartbeats, run state, job queue, workers, indexes", _v2),
    (3, "cell history: measured and rated capacity per run, index by cell id", _v3),
)
HEAD = MIGRATIONS[-1][0]

_VERSION_MD = MetaData()
_schema_version = Table(
    "schema_version", _VERSION_MD,
    Column("version", Integer, primary_key=True),
    Column("description", Text, nullable=False),
    Column("applied_utc", DateTime, nullable=False),
)


def current_version(conn: Connection) -> int:
    """The newest applied migration (0 for an empty database)."""
    if not inspect(conn).has_table("schema_version"):
        return 0
    version = conn.execute(select(_schema_version.c.version).order_by(_schema_version.c.version.desc())).first()
    return int(version[0]) if version else 0


def upgrade(engine: Engine, target: int = HEAD) -> int:
    """Apply every migration above the catalog's version up to ``target``; return the new version.

    Raises CatalogVersionError when the catalog is newer than this software (never downgraded)."""
    with write(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        _VERSION_MD.create_all(conn)
        version = current_version(conn)
        if version > HEAD:
            raise CatalogVersionError(f"catalog schema version {version} is newer than this CellBench "
                                      f"(knows up to {HEAD}); upgrade CellBench")
        for number, description, migrate in MIGRATIONS:
            if version < number <= target:
                logger.info("catalog: applying migration %d (%s)", number, description)
                migrate(conn)
                conn.execute(_schema_version.insert().values(
                    version=number, description=description,
                    applied_utc=dt.datetime.now(dt.UTC).replace(tzinfo=None)))
                version = number
        return version
