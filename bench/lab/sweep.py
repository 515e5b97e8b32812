"""Parameter sweeps on the simulated bench as Dask tasks: every combination of a grid (and of cell
presets) is one ``bench run`` in a Dask worker, with its run file and its catalog row.

Default executor: a ``LocalCluster`` of worker processes on this machine (scheduler on 127.0.0.1,
no dashboard); ``scheduler="tcp://HOST:8786"`` uses a running cluster (its workers must see the
protocol file and the output directory at the same paths, e.g. a shared file system).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import io
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from distributed import Client  # (the lab extra; imported when a sweep starts)

logger = logging.getLogger(__name__)

#: ``bench run`` exit code -> run status in the results table.
EXIT_STATUS = {0: "completed", 1: "completed", 2: "invalid", 3: "tripped", 4: "failed", 130: "aborted"}
_CATALOGS: dict[str, Any] = {}


class SweepError(ValueError):
    """A sweep that cannot start (bad grid, invalid protocol); the message names the culprit."""


def parse_grid(specs: Iterable[str]) -> dict[str, list[str]]:
    """``["rate=0.5A,1A", "soak=1h"]`` -> ``{"rate": ["0.5A", "1A"], "soak": ["1h"]}``."""
    grid: dict[str, list[str]] = {}
    for spec in specs:
        name, eq, values = spec.partition("=")
        items = [v.strip() for v in values.split(",") if v.strip()]
        if not eq or not name.strip() or not items:
            raise SweepError(f"--grid {spec!r}: expected NAME=V1,V2,...")
        if name.strip() in grid:
            raise SweepError(f"--grid {name.strip()!r} given twice")
        grid[name.strip()] = items
    return grid


def combinations(grid: Mapping[str, Sequence[str]], cells: Sequence[str] = (), repeat: int = 1) -> list[dict[str, str]]:
    """Every combination of the grid's values and the cell presets (``cell`` setting), ``repeat`` times."""
    names = list(grid)
    combos = [dict(zip(names, values, strict=True)) for values in itertools.product(*(grid[n] for n in names))]
    if cells:
        combos = [{**combo, "cell": preset} for preset in cells for combo in combos]
    return [dict(combo) for _ in range(repeat) for combo in combos]


@dataclasses.dataclass
class SweepTask:
    """One run of the sweep."""

    index: int
    protocol: str
    settings: dict[str, str]
    out: str
    catalog: str | None


def run_task(task: SweepTask) -> dict[str, Any]:
    """Run one combination through the public ``bench run`` entry point (in this process) and
    register its run file in the catalog. Runs inside a Dask worker."""
    from bench.cli import main

    argv = ["run", task.protocol, "--out", task.out, "--no-progress"]
    for key, value in task.settings.items():
        argv += ["--set", f"{key}={value}"]
    out, err = io.StringIO(), io.StringIO()
    t0, cpu0 = time.perf_counter(), time.process_time()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = int(main(argv))
    except SystemExit as exc:  # argparse
        code = int(exc.code or 2)
    except Exception as exc:  # noqa: BLE001 - one broken run is a row of the table, not a lost sweep
        code = 4
        err.write(f"{type(exc).__name__}: {exc}\n")
    result: dict[str, Any] = {"index": task.index, "settings": task.settings, "exit_code": code,
                              "status": EXIT_STATUS.get(code, "failed"), "verdict": None, "run_file": None,
                              "run_id": None, "wall_s": round(time.perf_counter() - t0, 3),
                              "cpu_s": round(time.process_time() - cpu0, 3), "metrics": {},
                              "message": (err.getvalue().strip().splitlines() or [""])[-1]}
    if Path(task.out).exists():
        result["run_file"] = task.out
        try:
            row = _catalog(task.catalog).register_file(task.out)
        except Exception as exc:  # noqa: BLE001 - the run is done; `bench runs sync` registers it later
            logger.warning("%s: not registered in the catalog: %s", task.out, exc)
            from bench.lab.provenance import row_from_file

            row = row_from_file(task.out)
        result.update(run_id=row["run_id"], verdict=row.get("verdict"),
                      metrics=_loads(row.get("metrics")) or {})
    return result


def _catalog(url: str | None) -> Any:
    from bench.lab.catalog import Catalog
    from bench.lab.db import resolve_url

    key = resolve_url(url)
    if key not in _CATALOGS:
        _CATALOGS[key] = Catalog(key)
    return _CATALOGS[key]


def _loads(text: Any) -> Any:
    import json

    return json.loads(text) if isinstance(text, str) else text


def validate(protocol: str, combos: Sequence[Mapping[str, str]]) -> None:
    """Check each distinct combination with the public ``bench validate`` before dispatching."""
    from bench.cli import main

    seen: set[tuple[tuple[str, str], ...]] = set()
    for combo in combos:
        key = tuple(sorted(combo.items()))
        if key in seen:
            continue
        seen.add(key)
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            code = main(["validate", protocol] + [f"--set={k}={v}" for k, v in combo.items()])
        if code != 0:
            detail = (err.getvalue().strip().splitlines() or ["invalid"])[-1].removeprefix("bench: error: ")
            raise SweepError(f"{protocol} with {', '.join(f'{k}={v}' for k, v in combo.items()) or 'its defaults'}: "
                             f"{detail}")


def default_out_dir(protocol: str) -> Path:
    """``runs/sweep-<UTC stamp>_<protocol>``."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path("runs") / f"sweep-{stamp}_{Path(protocol).stem}"


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int = 2) -> Iterator[Client]:
    """A client of the cluster at ``scheduler``, or of a new LocalCluster of ``workers`` processes
    (one thread each, scheduler on 127.0.0.1, no dashboard), closed afterwards."""
    from distributed import Client, LocalCluster

    quiet = logging.getLogger("distributed")
    level = quiet.level
    quiet.setLevel(max(level, logging.WARNING))  # no INFO lines about nannies and comms on the terminal
    try:
        if scheduler:
            with Client(scheduler, timeout="20s") as client:
                yield client
            return
        # no dashboard; the scheduler's small HTTP endpoint (health, metrics) on a free loopback port
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                          silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
            yield client
    finally:
        quiet.setLevel(level)


def run_sweep(protocol: str, grid: Mapping[str, Sequence[str]], *, cells: Sequence[str] = (), repeat: int = 1,
              out_dir: str | Path | None = None, catalog: str | None = None, scheduler: str | None = None,
              workers: int = 2, client: Any = None, check: bool = True,
              progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run every combination as a Dask task; return ``{"results": [...], "wall_s", "runs_per_min", ...}``
    with the results in combination order."""
    if Path(protocol).suffix in (".yaml", ".yml", ".py") or Path(protocol).exists():
        protocol = str(Path(protocol).resolve())  # workers resolve paths themselves
    combos = combinations(grid, cells, repeat)
    if check:
        validate(protocol, combos)
    out = Path(out_dir) if out_dir else default_out_dir(protocol)
    out.mkdir(parents=True, exist_ok=True)
    existing = sorted(out.glob("*.h5"))
    if existing:
        raise SweepError(f"{out}: already holds run files ({existing[0].name}); runs are never overwritten")
    stem = Path(protocol).stem
    tasks = [SweepTask(i, protocol, combo, str((out / f"{i:04d}_{stem}.h5").resolve()), catalog)
             for i, combo in enumerate(combos)]
    with contextlib.ExitStack() as stack:
        if client is None:
            client = stack.enter_context(dask_client(scheduler, workers))
        from distributed import as_completed

        n_workers = len(client.scheduler_info().get("workers", {}))
        t0 = time.perf_counter()
        futures = client.map(run_task, tasks, pure=False)
        results: list[dict[str, Any]] = []
        for future in as_completed(futures):
            result = future.result()
            results.append(result)
            if progress is not None:
                progress(result)
        wall_s = time.perf_counter() - t0
    results.sort(key=lambda r: r["index"])
    return {"protocol": protocol, "grid": {k: list(v) for k, v in grid.items()}, "cells": list(cells),
            "runs": len(results), "workers": n_workers, "out_dir": str(out), "wall_s": round(wall_s, 3),
            "runs_per_min": round(60.0 * len(results) / wall_s, 2) if wall_s > 0 else None,
            "counts": _counts(results), "results": results}


def _counts(results: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in results:
        key = r["verdict"] or r["status"]
        counts[key] = counts.get(key, 0) + 1
    return counts
