"""A throwaway PostgreSQL cluster for the tests: initdb into a temporary directory as an
unprivileged user, listen on 127.0.0.1 and a free port only, password auth (scram-sha-256) with the
password in a ``.pgpass`` file named by PGPASSFILE (never in a URL), removed at the end."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

PG_BIN = Path(os.environ.get("CELLBENCH_PG_BIN", "/usr/lib/postgresql/15/bin"))
USER = "cellbench"


def available() -> str | None:
    """None when a server can be started here, else why not."""
    if not (PG_BIN / "initdb").exists():
        return f"PostgreSQL binaries not found in {PG_BIN} (apt-get install postgresql-15)"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _os_user() -> str:
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("no unprivileged user (postgres / nobody) to run PostgreSQL as")


class PgServer:
    """One cluster; ``url(db)`` gives an SQLAlchemy URL without the password."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="cellbench-pg-"))
        self.root.chmod(0o755)
        self.data = self.root / "data"
        self.sock = self.root / "sock"
        self.logs = self.root / "log"
        self.port = _free_port()
        self.password = uuid.uuid4().hex
        self.os_user = _os_user() if os.geteuid() == 0 else None
        self.pgpass = self.root / "pgpass"
        self.pgpass.write_text(f"127.0.0.1:{self.port}:*:{USER}:{self.password}\n")
        self.pgpass.chmod(0o600)
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        for path in (self.data, self.sock, self.logs):
            path.mkdir()
        if self.os_user:
            entry = pwd.getpwnam(self.os_user)
            for path in (self.data, self.sock, self.logs, pwfile):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        try:
            self._run("initdb", "-D", str(self.data), "-U", USER, f"--pwfile={pwfile}", "--auth-host=scram-sha-256",
                      "--auth-local=trust", "-E", "UTF8", "--no-sync", "--no-instructions")
            pwfile.unlink()
            self.start()
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)  # nothing left behind by a server that never ran
            raise

    def _run(self, tool: str, *args: str) -> None:
        argv = [str(PG_BIN / tool), *args]
        if self.os_user:
            argv = ["runuser", "-u", self.os_user, "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=self.root)
        if done.returncode != 0:
            log = self.logs / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr.strip()} {tail}")

    def start(self) -> None:
        """Start (or restart) the server and wait until it accepts connections."""
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.sock} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.logs / "server.log"), "-w", "-t", "30",
                  "-o", options, "start")

    def stop(self) -> None:
        """Stop the server now (fast shutdown: open connections are closed)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")

    def url(self, database: str = "postgres", user: str = USER) -> str:
        return f"postgresql+psycopg://{user}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(host="127.0.0.1", port=self.port, user=USER, dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def close(self) -> None:
        try:
            self.stop()
        except Exception:  # noqa: BLE001 - already stopped
            pass
        shutil.rmtree(self.root, ignore_errors=True)
