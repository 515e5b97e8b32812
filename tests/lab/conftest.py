"""Lab fixtures: a real PostgreSQL 15 server for the session, a catalog URL per test on SQLite and
PostgreSQL, a short protocol and one real run file."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.lab import pgserver

pytest.importorskip("sqlalchemy")


@pytest.fixture(scope="session")
def pg():
    """The session's PostgreSQL server (skipped only where the Debian binaries are missing)."""
    reason = pgserver.available()
    if reason:
        pytest.skip(reason)
    server = pgserver.PgServer()
    previous = os.environ.get("PGPASSFILE")
    os.environ["PGPASSFILE"] = str(server.pgpass)  # credentials from .pgpass, as a lab is told to
    yield server
    if previous is None:
        os.environ.pop("PGPASSFILE", None)
    else:
        os.environ["PGPASSFILE"] = previous
    server.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request, tmp_path):
    """A fresh, empty catalog on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    return request.getfixturevalue("pg").create_database()


@pytest.fixture(scope="session")
def short_protocol(tmp_path_factory) -> Path:
    """The sweep benchmark's short protocol (30 min of simulated time, ~0.1 s of wall time)."""
    from bench.lab.perf_sweeps import write_short_protocol

    return write_short_protocol(tmp_path_factory.mktemp("protocol"))


@pytest.fixture(scope="session")
def run_file(tmp_path_factory, short_protocol) -> Path:
    """One real run file from ``bench run`` on the simulated bench."""
    from bench.cli import main

    out = tmp_path_factory.mktemp("run") / "short.h5"
    assert main(["run", str(short_protocol), "--out", str(out), "--no-progress"]) == 0
    return out


@pytest.fixture
def run_dir(tmp_path, run_file) -> Path:
    """A directory with a copy of the real run file."""
    target = tmp_path / "runs"
    target.mkdir()
    shutil.copy2(run_file, target / run_file.name)
    return target
