"""One physical cell's history in the catalog (``bench runs list --cell-id ID``), and the check a
run makes before it starts: is this cell already running on another channel?

Capacity: each run's ``capacity_ah`` is the capacity it measured (its last capacity check or RPT,
see :func:`bench.lab.provenance.measured_capacity_ah`). Fade = 1 - (last measured) / (first
measured), %, over the cell's runs in time order: the first measurement is the first check of the
cell's earliest run that measured one (``capacity_first_check_ah`` when that run checked several
times). With one measurement only, fade is None and the capacity is compared with the rating.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import or_, select

from bench.lab import db
from bench.lab.catalog import RUN_STALE_S, Catalog, _decode
from bench.lab.schema import runs as runs_table

logger = logging.getLogger(__name__)

#: Columns ``bench runs list --cell-id`` shows, oldest run first.
HISTORY_COLUMNS = ("run_id", "started_utc", "protocol", "bench", "status", "verdict", "capacity_ah", "run_file")


def cell_runs(catalog: Catalog, cell_id: str) -> list[dict[str, Any]]:
    """Every run of the cell ``cell_id`` (exact id), in time order (oldest first)."""
    query = (select(runs_table).where(runs_table.c.cell_id == cell_id)
             .order_by(runs_table.c.started_utc, runs_table.c.ended_utc, runs_table.c.run_id))
    with db.read(catalog.engine) as conn:
        return [_decode(r) for r in conn.execute(query).mappings()]


def cell_history(catalog: Catalog, cell_id: str) -> dict[str, Any]:
    """``cell_id``, ``runs`` (oldest first), ``capacity_ah`` (last measured, Ah), ``measured_utc`` and
    ``measured_run_id`` (where), ``first_capacity_ah``, ``fade_pct`` (None with fewer than two
    measurements), ``rated_capacity_ah`` and ``capacity_of_rated_pct``."""
    rows = cell_runs(catalog, cell_id)
    measured = [r for r in rows if r.get("capacity_ah") is not None]
    out: dict[str, Any] = {"cell_id": cell_id, "runs": rows, "capacity_ah": None, "measured_utc": None,
                           "measured_run_id": None, "first_capacity_ah": None, "fade_pct": None,
                           "rated_capacity_ah": None, "capacity_of_rated_pct": None, "measurements": 0}
    rated = [r["rated_capacity_ah"] for r in rows if r.get("rated_capacity_ah")]
    if rated:
        out["rated_capacity_ah"] = rated[-1]
    if not measured:
        return out
    first, last = measured[0], measured[-1]
    metrics: dict[str, Any] = first["metrics"] if isinstance(first.get("metrics"), dict) else {}
    first_ah = float(metrics.get("capacity_first_check_ah") or first["capacity_ah"])
    checks = len(measured) + (1 if metrics.get("capacity_first_check_ah") else 0)
    out.update(capacity_ah=float(last["capacity_ah"]), measured_utc=last.get("ended_utc") or last.get("started_utc"),
               measured_run_id=last["run_id"], first_capacity_ah=first_ah, measurements=checks)
    if checks >= 2 and first_ah > 0:
        out["fade_pct"] = round(100.0 * (1.0 - float(last["capacity_ah"]) / first_ah), 4)
    if out["rated_capacity_ah"]:
        out["capacity_of_rated_pct"] = round(100.0 * float(last["capacity_ah"]) / float(out["rated_capacity_ah"]), 3)
    return out


def running_with_cell(catalog: Catalog, cell_id: str, *, stale_after_s: float = RUN_STALE_S) -> list[dict[str, Any]]:
    """Runs of ``cell_id`` the catalog holds as running (a heartbeat within ``stale_after_s``, or
    none yet), newest first."""
    c = runs_table.c
    fresh = or_(c.heartbeat_s.is_(None), c.heartbeat_s >= db.db_now(catalog.engine) - stale_after_s)
    query = select(runs_table).where(c.cell_id == cell_id, c.status == "running", fresh).order_by(
        c.started_utc.desc())
    with db.read(catalog.engine) as conn:
        return [_decode(r) for r in conn.execute(query).mappings()]


def warn_if_running(url: str | None, cell_ids: Sequence[str]) -> list[str]:
    """Warnings (also logged) for every id in ``cell_ids`` that the catalog at ``url`` holds as
    running already, or that is given for two channels. Never raises: an unreachable catalog
    costs one log line, never the run."""
    from bench.cell_identity import duplicates
    from bench.lab.recorder import DISABLED

    warnings = [f"cell {cell_id} is given for more than one channel of this run" for cell_id in duplicates(cell_ids)]
    if cell_ids and str(url or "").strip().lower() not in DISABLED:
        try:
            with Catalog(url) as catalog:
                for cell_id in dict.fromkeys(cell_ids):
                    for run in running_with_cell(catalog, cell_id):
                        started = run.get("started_utc")
                        when = f", started {started:%Y-%m-%d %H:%M} UTC" if started is not None else ""
                        warnings.append(f"cell {cell_id} is already running: run {str(run['run_id'])[:8]} "
                                        f"({run.get('protocol')}) on {run.get('bench') or '?'} at "
                                        f"{run.get('host') or '?'}{when}; check which cell is on this channel")
        except Exception as exc:  # noqa: BLE001 - the catalog never holds up a run
            logger.info("catalog: could not check whether the cell is running elsewhere: %s", exc)
    for line in warnings:
        logger.warning(line)
    return warnings
