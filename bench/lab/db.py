"""Opening the catalog database: URL resolution, SQLite pragmas, immediate write transactions.

The URL comes from ``--catalog URL``, else the ``CELLBENCH_CATALOG`` environment variable, else the
user's SQLite file ``~/.local/share/cellbench/catalog.sqlite`` (``$XDG_DATA_HOME``; WAL mode). A PostgreSQL URL is
``postgresql+psycopg://USER@HOST:PORT/DB`` *without* a password: libpq takes it from ``PGPASSWORD``
or ``~/.pgpass``, so no credential is ever written to a run file, a log line or the catalog.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.sql import func
from sqlalchemy.sql.elements import ColumnElement

if TYPE_CHECKING:
    import sqlite3

logger = logging.getLogger(__name__)

ENV_VAR = "CELLBENCH_CATALOG"
#: Environment variable that tells a job's ``bench run`` its job id (set by ``bench worker``).
JOB_ENV_VAR = "CELLBENCH_JOB_ID"


def default_catalog_path() -> Path:
    """The user's catalog when nothing names one: ``$XDG_DATA_HOME/cellbench/catalog.sqlite``
    (XDG Base Directory Specification), else ``~/.local/share/cellbench/catalog.sqlite``; one
    place whatever the current directory (a catalog that followed the working directory showed
    an empty table anywhere else)."""
    base = os.environ.get("XDG_DATA_HOME", "").strip()
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "share"
    return root / "cellbench" / "catalog.sqlite"

#: Seconds a connection attempt may take before the catalog is treated as unreachable.
CONNECT_TIMEOUT_S = 5
#: Seconds an SQLite writer waits for another writer's lock before failing.
SQLITE_BUSY_TIMEOUT_S = 30.0


def resolve_url(url: str | None = None) -> str:
    """``url`` if given, else ``$CELLBENCH_CATALOG``, else the user's catalog
    (:func:`default_catalog_path`)."""
    if url:
        return url
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return env
    return f"sqlite:///{default_catalog_path()}"


def safe_url(url: str | URL) -> str:
    """The URL with any password masked, for log lines and messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL is shown without its text
        return "<catalog URL>"


def open_engine(url: str | None = None) -> Engine:
    """An engine for the catalog; SQLite files get WAL mode and writers that wait for the lock.

    Write transactions on SQLite start with ``BEGIN IMMEDIATE`` when opened through :func:`write`;
    on PostgreSQL they are ordinary transactions (claims use ``FOR UPDATE SKIP LOCKED``).
    """
    resolved = make_url(resolve_url(url))
    if resolved.get_backend_name() == "sqlite":
        database = resolved.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(resolved, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        _sqlite_events(engine)
        return engine
    connect_args: dict[str, object] = {}
    if resolved.get_backend_name() == "postgresql":
        connect_args = {"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "cellbench"}
    # pre-ping: a pooled connection that a restarted server dropped is replaced, not failed
    return create_engine(resolved, pool_pre_ping=True, connect_args=connect_args)


def _sqlite_events(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("cellbench_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A write transaction: ``BEGIN IMMEDIATE`` on SQLite (takes the write lock up front, so two
    claimers never both read the same queued job), an ordinary transaction elsewhere."""
    with engine.connect().execution_options(cellbench_immediate=True) as conn, conn.begin():
        yield conn


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """A read transaction."""
    with engine.connect() as conn, conn.begin():
        yield conn


def db_now(engine: Engine) -> ColumnElement[Any]:
    """The database server's clock as Unix seconds (sub-second), so every bench PC's heartbeats are
    compared on one clock however far the PCs' own clocks drift. (``Any``: SQLAlchemy types
    ``EXTRACT`` as an integer, the SQLite expression as a float; both are seconds with a fraction.)"""
    if engine.dialect.name == "postgresql":
        return func.extract("epoch", func.clock_timestamp())
    if engine.dialect.name == "sqlite":
        return (func.julianday("now") - 2440587.5) * 86400.0
    return func.extract("epoch", func.now())


#: Words of an SQLite error that mean the file itself is damaged (not a lock or a missing server).
_DAMAGED_SQLITE = ("file is not a database", "malformed", "corrupt", "not an error")


def describe_catalog_error(given: str | None, exc: BaseException) -> tuple[str, int]:
    """(one line naming the catalog, exit code) for a database error of the catalog ``given``
    (``--catalog``, else the default): 2 for a damaged SQLite file (invalid input), 4 for a
    database that cannot be reached. The URL is shown without its password."""
    url = resolve_url(given)
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    try:
        parsed = make_url(url)
        sqlite_file = parsed.database if parsed.get_backend_name() == "sqlite" else None
    except Exception:  # noqa: BLE001 - a malformed URL: shown masked below
        sqlite_file = None
    if sqlite_file and any(word in first.lower() for word in _DAMAGED_SQLITE):
        return (f"catalog {sqlite_file}: damaged database file ({first}); move it aside or restore a backup "
                "('bench runs sync DIR' registers the run files again in a new catalog)", 2)
    return f"catalog {safe_url(url)}: unreachable: {first}", 4

