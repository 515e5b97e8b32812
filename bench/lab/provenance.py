"""A run file's provenance as a catalog row, read from its own HDF5 attributes (h5py only).

Used by ``bench runs sync DIR`` (register files the catalog has not seen), by the bench worker after
each job and by the recorder. The run id is the ``run_id`` attribute when the file has one, else a
UUID derived from what identifies the run (protocol hash, start time, file name, cell id), so the
recorder and a later sync of the same file always agree on the id.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import logging
import math
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

_NAMESPACE = uuid.UUID("6f1c3a52-1d1e-4c55-9b8e-5c0e11be0c01")
#: Run-file status -> catalog status.
FILE_STATUS = {
    "completed": "completed",
    "safety_trip": "tripped",
    "instrument_failure": "failed",
    "error": "failed",
    "aborted": "aborted",
    "interrupted": "interrupted",
    "running": "running",
}
#: A file still marked ``running`` whose last write is older than this was left by a crash (s).
STALE_RUNNING_FILE_S = 120.0


def run_id_for(provenance: Mapping[str, Any], run_file: str | Path | None) -> str:
    """The catalog id of a run: its ``run_id`` attribute, else a UUID5 of its identifying facts."""
    given = provenance.get("run_id")
    if given:
        return str(given)
    key = "|".join(str(x) for x in (provenance.get("protocol_sha256", ""), provenance.get("start_time_utc", ""),
                                     Path(run_file).name if run_file else "", provenance.get("cell_id", "")))
    return str(uuid.uuid5(_NAMESPACE, key))


def parse_utc(text: Any) -> dt.datetime | None:
    """ISO 8601 text -> naive UTC datetime (None for empty or malformed text)."""
    if not text:
        return None
    if isinstance(text, dt.datetime):
        value = text
    else:
        try:
            value = dt.datetime.fromisoformat(str(text))
        except ValueError:
            return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, default=str)


def _finite(value: Any) -> float | None:
    """``value`` as a float, None when absent or not a finite number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def measured_capacity_ah(metrics: Mapping[str, Any]) -> float | None:
    """The capacity a run measured: its last capacity check (``capacity_check_ah``: a full
    discharge from a full charge to the cut-off, the RPT's when it repeats one), else None."""
    return _finite(metrics.get("capacity_check_ah"))


def provenance_row(provenance: Mapping[str, Any], run_file: str | Path | None) -> dict[str, Any]:
    """Catalog columns known when a run starts, from its run-file attributes (``run_attributes``)."""
    cell = provenance.get("cell") or {}
    if isinstance(cell, str):
        cell = json.loads(cell) if cell.startswith("{") else {}
    bench_config = provenance.get("bench_config") or {}
    bench = provenance.get("bench_name") or provenance.get("bench_description") or ""
    if isinstance(bench_config, Mapping) and bench_config.get("name"):
        bench = str(bench_config["name"])
    return {
        "run_id": run_id_for(provenance, run_file),
        "protocol": str(provenance.get("protocol", "")),
        "protocol_sha256": provenance.get("protocol_sha256"),
        "parameters": _json(provenance.get("parameters", {})),
        "cell_id": provenance.get("cell_id") or cell.get("cell_id") or None,
        "cell_preset": cell.get("preset"),
        "rated_capacity_ah": _finite(cell.get("capacity_ah")),
        "bench": bench,
        "instruments": _json(provenance.get("instruments", {})),
        "operator": provenance.get("operator") or None,
        "host": provenance.get("host") or None,
        "software": provenance.get("software"),
        "started_utc": parse_utc(provenance.get("start_time_utc")),
        "run_file": str(Path(run_file).resolve()) if run_file else None,
    }


def read_attributes(path: str | Path) -> dict[str, Any]:
    """The run file's root attributes, JSON texts decoded (h5py only; works while it is written)."""
    import numpy as np

    out: dict[str, Any] = {}
    from bench.runfile.h5open import open_swmr_reader

    with open_swmr_reader(path) as handle:
        if "samples" not in handle:
            raise ValueError(f"{path}: not a CellBench run file (no /samples)")
        for key, value in handle.attrs.items():
            if isinstance(value, bytes):
                value = value.decode()
            if isinstance(value, str) and value[:1] in "{[":
                with contextlib.suppress(json.JSONDecodeError):
                    value = json.loads(value)
            elif isinstance(value, np.generic):
                value = value.item()
            out[key] = value
    return out


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_report(path: str | Path) -> dict[str, Any]:
    """The run's report object (verdict, criteria, metrics) through the public ``bench report --json``."""
    from bench.cli import main

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(["report", str(path), "--json"])
    if code != 0:
        raise ValueError(f"{path}: bench report failed (exit {code})")
    return json.loads(buffer.getvalue())


def row_from_file(path: str | Path, *, with_report: bool = True) -> dict[str, Any]:
    """Everything the catalog keeps about a run file: provenance, status, verdict, claims, metrics,
    and (for a closed run) its SHA-256."""
    path = Path(path)
    attrs = read_attributes(path)
    row = provenance_row(attrs, path)
    file_status = str(attrs.get("status", "running"))
    status = FILE_STATUS.get(file_status, "failed")
    if status == "running" and time.time() - path.stat().st_mtime > STALE_RUNNING_FILE_S:
        status = "interrupted"  # nothing has written it for a while: a crash left it "running"
    row.update({"status": status, "status_message": attrs.get("status_message"),
                "ended_utc": parse_utc(attrs.get("end_time_utc")), "test_time_s": attrs.get("test_time_s")})
    if status != "running" and with_report:
        try:
            report = build_report(path)
        except Exception as exc:  # noqa: BLE001 - a report failure must not stop the registration
            logger.warning("%s: no report for the catalog: %s", path, exc)
        else:
            row.update(verdict=report.get("verdict"), claims=_json(report.get("criteria", [])),
                       metrics=_json(report.get("metrics", {})),
                       capacity_ah=measured_capacity_ah(report.get("metrics") or {}))
    if status != "running":
        row["run_file_sha256"] = file_sha256(path)
    return row
