"""``bench perf`` figures of the lab layer: sweep throughput on Dask (runs per minute on 2 workers vs
1, target >= 1.8x) and a long sweep of short runs that must finish without a single failure.

A "short run" is :data:`SHORT_PROTOCOL` on the simulated bench: 30 minutes of simulated time
(~1,800 samples), each run a real ``bench run`` with its run file, report and catalog row.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

SHORT_PROTOCOL = """\
# A short run for sweep throughput: rest, a 20-minute discharge at the chosen rate, rest.
name: sweep_short
cell:
  preset: nmc_21700
  capacity_ah: 5.0
  voltage_max_v: 4.2
  voltage_min_v: 2.5
  current_max_a: 7.0
limits:
  voltage_max_v: 4.25
  voltage_min_v: 2.4
  current_max_a: 7.35
  temperature_max_c: 60
  temperature_min_c: -30
parameters:
  rate: 1 A
  min_discharge_ah: 0.3
sampling:
  period_s: 1
steps:
  - Rest for 5 minutes
  - Discharge at {rate} for 20 minutes
  - Rest for 5 minutes
pass:
  - discharge_capacity_ah >= {min_discharge_ah}
"""
#: Discharge rates of the sweep grid (every one passes its criterion on the default cell).
RATES = ("1A", "1.5A", "2A", "2.5A")


def write_short_protocol(directory: str | Path) -> Path:
    """Write :data:`SHORT_PROTOCOL` as ``sweep_short.yaml`` in ``directory``; return its path."""
    path = Path(directory) / "sweep_short.yaml"
    path.write_text(SHORT_PROTOCOL, encoding="utf-8")
    return path


def _sweep(protocol: Path, runs: int, workers: int, root: Path, label: str) -> dict[str, Any]:
    from bench.lab.sweep import dask_client, run_sweep

    repeat = -(-runs // len(RATES))
    catalog = f"sqlite:///{root / 'catalog.sqlite'}"
    with dask_client(None, workers) as client:
        # one warm-up run per worker first: the imports of a fresh worker process are not throughput
        run_sweep(str(protocol), {"rate": list(RATES[:1])}, repeat=workers, out_dir=root / f"{label}-warmup",
                  catalog=catalog, client=client)
        summary = run_sweep(str(protocol), {"rate": list(RATES)}, repeat=repeat, out_dir=root / label,
                            catalog=catalog, client=client, check=False)
    results = summary["results"][:runs] if len(summary["results"]) > runs else summary["results"]
    failures = [r for r in results if r["verdict"] != "pass"]
    return {"runs": summary["runs"], "workers": summary["workers"], "wall_s": summary["wall_s"],
            "runs_per_min": summary["runs_per_min"], "failures": len(failures),
            "failure_examples": [f"{r['run_file']}: {r['status']} {r['message']}" for r in failures[:3]]}


def measure_sweeps(quick: bool = False, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Runs per minute of 64 short runs (16 with ``quick``) on 1 and on 2 Dask workers, and a sweep
    of 1,000 short runs (100 with ``quick``) on 2 workers: every run must pass.

    Returns ``sweep_speedup_2w`` (2-worker / 1-worker runs per minute), the runs per minute, and
    ``sweep_failures`` (runs that did not complete and pass among the long sweep)."""
    n_speed, n_long = (16, 100) if quick else (64, 1000)
    with tempfile.TemporaryDirectory(prefix="cellbench-perf-sweeps-") as tmp:
        root = Path(tmp)
        protocol = write_short_protocol(root)
        out: dict[str, Any] = {"protocol": "sweep_short (30 min simulated, 1 s sampling)", "quick": quick}
        for workers in (1, 2):
            if progress:
                progress(f"sweep of {n_speed} short runs on {workers} worker(s)")
            t0 = time.perf_counter()
            out[f"speed_{workers}w"] = _sweep(protocol, n_speed, workers, root, f"speed{workers}")
            out[f"speed_{workers}w"]["total_wall_s"] = round(time.perf_counter() - t0, 2)
        one, two = out["speed_1w"]["runs_per_min"], out["speed_2w"]["runs_per_min"]
        out["sweep_runs_per_min_1w"], out["sweep_runs_per_min_2w"] = one, two
        out["sweep_speedup_2w"] = round(two / one, 3) if one and two else None
        if progress:
            progress(f"sweep of {n_long} short runs on 2 workers")
        out["long"] = _sweep(protocol, n_long, 2, root, "long")
        out["sweep_runs_long"] = out["long"]["runs"]
        out["sweep_failures"] = out["long"]["failures"]
    return out
