"""``bench perf`` figures of the lab layer: sweep throughput on Dask (runs per minute on 2 workers vs
1, target >= 1.8x) and a long sweep of short runs that must finish without a single failure.

A "short run" is :data:`SHORT_PROTOCOL` on the simulated bench: 30 minutes of simulated time
(~1,800 samples), each run a real ``bench run`` with its run file, report and catalog row.
"""

from __future__ import annotations

import logging
import tempfile
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


def _summary(results: list[dict[str, Any]], wall_s: float, workers: int) -> dict[str, Any]:
    failures = [r for r in results if r["verdict"] != "pass"]
    cpu_s = sum(r.get("cpu_s") or 0.0 for r in results)
    return {"runs": len(results), "workers": workers, "wall_s": round(wall_s, 3),
            "runs_per_min": round(60.0 * len(results) / wall_s, 2) if wall_s > 0 else None,
            "cpu_s_per_run": round(cpu_s / len(results), 4) if results else None,
            # CPU the workers got / what `workers` idle cores would give: < 1 when the machine is shared
            "cpu_share": round(cpu_s / (wall_s * workers), 3) if wall_s > 0 else None,
            "failures": len(failures),
            "failure_examples": [f"{r['run_file']}: {r['status']} {r['message']}" for r in failures[:3]]}


def _speed(protocol: Path, runs: int, rounds: int, root: Path) -> dict[str, Any]:
    """1 worker vs 2 workers, interleaved in ``rounds`` rounds (both clusters up, one busy at a
    time) so that a change in the machine's other load hits both alike."""
    from bench.lab.sweep import dask_client, run_sweep

    catalog = f"sqlite:///{root / 'catalog.sqlite'}"
    per_round = max(len(RATES), runs // rounds)
    results: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    walls = {1: 0.0, 2: 0.0}
    with dask_client(None, 1) as one, dask_client(None, 2) as two:
        for workers, client in ((1, one), (2, two)):  # warm-up: imports of fresh worker processes
            run_sweep(str(protocol), {"rate": list(RATES[:1])}, repeat=2 * workers, out_dir=root / f"warm{workers}",
                      catalog=catalog, client=client, check=False)
        for index in range(rounds):
            for workers, client in ((1, one), (2, two)) if index % 2 == 0 else ((2, two), (1, one)):
                summary = run_sweep(str(protocol), {"rate": list(RATES)}, repeat=per_round // len(RATES),
                                    out_dir=root / f"speed{workers}-{index}", catalog=catalog, client=client,
                                    check=False)
                results[workers] += summary["results"]
                walls[workers] += summary["wall_s"]
    return {f"speed_{w}w": _summary(results[w], walls[w], w) for w in (1, 2)}


def _long(protocol: Path, runs: int, root: Path) -> dict[str, Any]:
    from bench.lab.sweep import dask_client, run_sweep

    with dask_client(None, 2) as client:
        summary = run_sweep(str(protocol), {"rate": list(RATES)}, repeat=-(-runs // len(RATES)), out_dir=root / "long",
                            catalog=f"sqlite:///{root / 'catalog.sqlite'}", client=client, check=False)
    return _summary(summary["results"], summary["wall_s"], 2)


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
        if progress:
            progress(f"{n_speed} short runs on 1 Dask worker and {n_speed} on 2, interleaved in 4 rounds")
        out.update(_speed(protocol, n_speed, 4, root))
        one, two = out["speed_1w"]["runs_per_min"], out["speed_2w"]["runs_per_min"]
        out["sweep_runs_per_min_1w"], out["sweep_runs_per_min_2w"] = one, two
        out["sweep_speedup_2w"] = round(two / one, 3) if one and two else None
        if progress:
            progress(f"sweep of {n_long} short runs on 2 workers")
        out["long"] = _long(protocol, n_long, root)
        out["sweep_runs_long"] = out["long"]["runs"]
        out["sweep_failures"] = out["long"]["failures"]
    return out
