"""The run catalog: register runs, keep their status current, query them (rows or a DataFrame).

>>> from bench.lab.catalog import runs
>>> df = runs(protocol="cold_capacity", verdict="fail", since="2026-11-01")   # pandas DataFrame
>>> df[["run_id", "cell_id", "started_utc", "run_file"]]

``url`` defaults as everywhere (``CELLBENCH_CATALOG``, else the user's ``~/.local/share/cellbench/catalog.sqlite``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, case, exc, func, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from bench.lab import db
from bench.lab.migrations import upgrade
from bench.lab.provenance import parse_utc, row_from_file
from bench.lab.schema import runs as runs_table

if TYPE_CHECKING:
    import pandas as pd  # (the lab extra; imported when runs() is called)

logger = logging.getLogger(__name__)

#: A run is final once it has one of these statuses; a late heartbeat never turns it back to running.
FINAL_RUN_STATUSES = ("completed", "tripped", "failed", "aborted")
#: Columns shown by ``bench runs list`` and the DataFrame's first columns.
LIST_COLUMNS = ("run_id", "protocol", "cell_id", "cell_preset", "bench", "host", "status", "verdict",
                "started_utc", "ended_utc", "run_file")
JSON_COLUMNS = ("parameters", "instruments", "claims", "metrics", "state")
#: A running run with no heartbeat for this long is marked interrupted (runs heartbeat every 10 s).
RUN_STALE_S = 120.0
FILTERS = ("protocol", "cell", "bench", "status", "verdict", "since", "until", "host", "operator", "job_id", "text")


class Catalog:
    """One catalog database (upgraded to the newest schema when opened)."""

    def __init__(self, url: str | None = None, *, engine: Engine | None = None, migrate: bool = True) -> None:
        self.url = db.resolve_url(url)
        self.engine = engine if engine is not None else db.open_engine(self.url)
        if migrate:
            upgrade(self.engine)

    def close(self) -> None:
        """Release the connections."""
        self.engine.dispose()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- writing -------------------------------------------------------------------------------
    def upsert_run(self, row: Mapping[str, Any]) -> None:
        """Insert the run or update the columns given (None values leave a column as it is).

        A ``running`` status never replaces a final one (a late heartbeat after the finish)."""
        values = {k: v for k, v in row.items() if v is not None and k in runs_table.c}
        values["updated_utc"] = _utcnow()
        run_id = values["run_id"]
        for _attempt in range(3):
            with db.write(self.engine) as conn:
                changes = dict(values)
                changes.pop("run_id")
                if changes.get("status") == "running":
                    changes["status"] = case((runs_table.c.status.in_(FINAL_RUN_STATUSES), runs_table.c.status),
                                             else_="running")
                done = conn.execute(update(runs_table).where(runs_table.c.run_id == run_id).values(**changes))
                if done.rowcount:
                    return
            try:
                with db.write(self.engine) as conn:
                    conn.execute(runs_table.insert().values(**{"status": "running", "protocol": "", **values}))
                return
            except exc.IntegrityError:  # another writer inserted it first: update it
                continue
        raise RuntimeError(f"run {run_id}: could not insert or update the catalog row")

    def heartbeat_run(self, run_id: str, state: Mapping[str, Any] | None = None) -> bool:
        """Record that the run is alive (database clock), with its latest state; False if unknown."""
        values: dict[str, Any] = {"heartbeat_s": db.db_now(self.engine), "updated_utc": _utcnow(),
                                  "status": case((runs_table.c.status.in_(FINAL_RUN_STATUSES), runs_table.c.status),
                                                 else_="running")}
        if state is not None:
            values["state"] = json.dumps(dict(state), default=str, sort_keys=True)
        with db.write(self.engine) as conn:
            return bool(conn.execute(update(runs_table).where(runs_table.c.run_id == run_id).values(**values)).rowcount)

    def reap_runs(self, stale_after_s: float) -> int:
        """Mark running runs whose heartbeat is older than ``stale_after_s`` interrupted; return how many."""
        with db.write(self.engine) as conn:
            done = conn.execute(update(runs_table).where(
                runs_table.c.status == "running", runs_table.c.heartbeat_s.is_not(None),
                runs_table.c.heartbeat_s < db.db_now(self.engine) - stale_after_s,
            ).values(status="interrupted", status_message=f"no heartbeat for {stale_after_s:g} s",
                     updated_utc=_utcnow()))
            return int(done.rowcount or 0)

    def register_file(self, path: str | Path, **extra: Any) -> dict[str, Any]:
        """Register (or update) a run from its file's own provenance; return the row written."""
        row = row_from_file(path)
        row.update({k: v for k, v in extra.items() if v is not None})
        self.upsert_run(row)
        return row

    def sync(self, directory: str | Path, *, pattern: str = "**/*.h5") -> dict[str, Any]:
        """Register the run files under ``directory`` that the catalog has not seen (or has seen
        unfinished). Returns counts and the files that could not be read."""
        from bench.lab.provenance import provenance_row, read_attributes

        counts: dict[str, Any] = {"registered": 0, "updated": 0, "unchanged": 0, "errors": []}
        for path in sorted(Path(directory).glob(pattern)):
            if path.name.endswith(".repaired.h5"):
                continue  # a copy of another run file, not a run of its own
            try:
                run_id = provenance_row(read_attributes(path), path)["run_id"]
                known = self.run(run_id)
                if known and known["status"] in FINAL_RUN_STATUSES and known.get("run_file_sha256"):
                    counts["unchanged"] += 1
                    continue
                self.register_file(path)
                counts["updated" if known else "registered"] += 1
            except Exception as error:  # noqa: BLE001 - one bad file must not stop the others
                logger.warning("%s: not registered: %s", path, error)
                counts["errors"].append(f"{path}: {error}")
        return counts

    # -- reading -------------------------------------------------------------------------------
    def run(self, run_id: str) -> dict[str, Any] | None:
        """One run by id or unique id prefix (JSON columns decoded), or None."""
        with db.read(self.engine) as conn:
            rows = conn.execute(select(runs_table).where(runs_table.c.run_id.like(f"{_escape(run_id)}%", escape="\\"))
                                .limit(2)).mappings().all()
        if len(rows) > 1:
            exact = [r for r in rows if r["run_id"] == run_id]
            if not exact:
                raise LookupError(f"run id prefix {run_id!r} is ambiguous")
            rows = exact
        return _decode(rows[0]) if rows else None

    def list_runs(self, *, limit: int | None = None, **filters: Any) -> list[dict[str, Any]]:
        """Runs matching the filters, newest first (see :data:`FILTERS`)."""
        query = select(runs_table).where(*self._conditions(filters)).order_by(
            runs_table.c.started_utc.desc(), runs_table.c.run_id)
        if limit:
            query = query.limit(limit)
        with db.read(self.engine) as conn:
            return [_decode(r) for r in conn.execute(query).mappings()]

    def counts(self) -> dict[str, int]:
        """Number of runs by status."""
        with db.read(self.engine) as conn:
            rows = conn.execute(select(runs_table.c.status, func.count()).group_by(runs_table.c.status)).all()
        return {status: int(n) for status, n in rows}

    def _conditions(self, filters: Mapping[str, Any]) -> list[ColumnElement[bool]]:
        unknown = set(filters) - set(FILTERS)
        if unknown:
            raise ValueError(f"unknown run filter {sorted(unknown)[0]!r}; filters: {', '.join(FILTERS)}")
        c = runs_table.c
        out: list[ColumnElement[bool]] = []
        for name in ("protocol", "bench", "host", "operator"):
            if filters.get(name):
                out.append(_match(getattr(c, name), filters[name]))
        if filters.get("cell"):
            out.append(or_(_match(c.cell_id, filters["cell"]), _match(c.cell_preset, filters["cell"])))
        for name in ("status", "verdict"):
            values = filters.get(name)
            if values:
                out.append(getattr(c, name).in_(_as_list(values)))
        if filters.get("job_id") is not None:
            out.append(c.job_id == int(filters["job_id"]))
        if filters.get("since"):
            out.append(c.started_utc >= _as_datetime(filters["since"], "since"))
        if filters.get("until"):
            until = _as_datetime(filters["until"], "until")
            if isinstance(filters["until"], str) and len(filters["until"]) == 10:
                until += dt.timedelta(days=1)  # a date means "through that day"
            out.append(c.started_utc < until)
        if filters.get("text"):
            pattern = f"%{_escape(str(filters['text']))}%"
            out.append(or_(*(func.lower(col).like(pattern.lower(), escape="\\") for col in (
                c.run_id, c.protocol, c.cell_id, c.cell_preset, c.bench, c.host, c.operator, c.parameters,
                c.instruments, c.run_file, c.status_message))))
        return out


def runs(url: str | None = None, **filters: Any) -> pd.DataFrame:
    """The catalog's runs matching the filters as a pandas DataFrame, newest first.

    Filters: ``protocol``, ``cell`` (id or preset), ``bench``, ``status``, ``verdict`` (a value or a
    list), ``since`` / ``until`` (date, ISO text or datetime, UTC), ``host``, ``operator``, ``job_id``,
    ``text`` (substring anywhere), ``limit``. ``*`` in protocol / cell / bench / host / operator is a
    wildcard. JSON columns (parameters, metrics, claims, instruments, state) are dicts / lists;
    ``run_file`` is the path to open with h5py."""
    import pandas as pd

    limit = filters.pop("limit", None)
    with Catalog(url) as catalog:
        rows = catalog.list_runs(limit=limit, **filters)
    columns = list(LIST_COLUMNS) + [c.name for c in runs_table.c if c.name not in LIST_COLUMNS]
    return pd.DataFrame(rows, columns=columns)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _match(column: Any, value: str) -> ColumnElement[bool]:
    value = str(value)
    if "*" in value:
        return column.like(_escape(value).replace("*", "%"), escape="\\")
    return column == value


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, Iterable):
        return [str(v) for v in value]
    return [str(value)]


def _as_datetime(value: Any, name: str) -> dt.datetime:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    parsed = parse_utc(value)
    if parsed is None:
        raise ValueError(f"{name}: {value!r} is not a date or ISO 8601 time (e.g. 2026-11-30 or 2026-11-30T08:00)")
    return parsed


def _decode(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A row (a SQLAlchemy ``RowMapping``: keys are column names) with its JSON columns parsed."""
    out: dict[str, Any] = dict(row)
    for name in JSON_COLUMNS:
        if isinstance(out.get(name), str):
            try:
                out[name] = json.loads(out[name])
            except json.JSONDecodeError:
                pass
    return out

