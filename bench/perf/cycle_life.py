"""``bench perf --only cycle_life``: whole cycle-life protocols in CI time (issue 31 item 3).

The shipped ``cycle_life`` (10 blocks x 50 CC-CV / 1C cycles with RPTs) and
``fast_charge_cycling`` (5 blocks x 100 fast charges with RPTs): 500 cycles each, on the full
simulated stack (production drivers over pyvisa, the simulators' wire front ends, physics,
supervisor, run file), in virtual time with adaptive acquisition (bench/engine/adaptive.py).
``--quick`` runs 2 blocks of 3 cycles of each, adaptive and fixed-step, for the sample ratio.

Each figure is the wall time of :func:`bench.engine.runner.execute` (identify, run file, engine,
report), s. The interpreter's speed index (``call_ns``, bench/perf/interpreter.py) is measured in
the same section before and after, so figures from a loaded machine compare as ratios to it.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

#: (protocol, overrides for the full 500 cycles, overrides for --quick).
PROTOCOLS: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "cycle_life": ({"rpt_blocks": "10", "rpt_every": "50"}, {"rpt_blocks": "2", "rpt_every": "3"}),
    "fast_charge_cycling": ({"blocks": "5", "cycles": "100"}, {"blocks": "2", "cycles": "3"}),
}
#: The issue's target: wall time per 500-cycle protocol on an idle 2-core machine, s.
TARGET_WALL_S = 20.0


def run_protocol(name: str, overrides: dict[str, str], *, adaptive: bool) -> dict[str, Any]:
    """One run of shipped protocol ``name`` with ``overrides``: wall, CPU, samples, test time,
    cycles, status and the last capacity check."""
    from bench.engine.runner import execute
    from bench.simulated.builtin_bench import cell_datasheet, sim_bench_for
    from protocols.loader import load_protocol

    protocol = load_protocol(name, overrides=overrides, cell_defaults=cell_datasheet)
    with tempfile.TemporaryDirectory(prefix="cellbench-perf-") as tmp:
        bench = sim_bench_for(protocol)  # as `bench run` builds it
        try:
            wall0, cpu0 = time.perf_counter(), time.process_time()
            outcome = execute(protocol, bench, Path(tmp) / "run.h5", observe_s=0.0, adaptive=adaptive)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        finally:
            bench.close()
    result, metrics = outcome.result, outcome.report.get("metrics", {})
    return {
        "adaptive": adaptive,
        "status": result.status.value,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "samples": result.samples,
        "test_time_h": round(result.test_time_s / 3600.0, 1),
        "cycles": metrics.get("cycles"),
        "capacity_last_check_ah": metrics.get("capacity_last_check_ah"),
    }


def measure_cycle_life(quick: bool = False) -> dict[str, Any]:
    """Wall time of each protocol of :data:`PROTOCOLS` (500 cycles; ``quick``: 6 cycles, adaptive
    and fixed-step), with the interpreter's speed index before and after."""
    from bench.perf.interpreter import method_call_ns

    out: dict[str, Any] = {"call_ns_before": round(method_call_ns(), 1), "target_wall_s": TARGET_WALL_S}
    for name, (full, short) in PROTOCOLS.items():
        runs = {"adaptive": run_protocol(name, short if quick else full, adaptive=True)}
        if quick:
            runs["fixed_step"] = run_protocol(name, short, adaptive=False)
        out[name] = runs
    out["call_ns_after"] = round(method_call_ns(), 1)
    return out
