"""The peer anchor: the same protocol on the simulated bench with the PyBaMM cell instead of the
ECM (``pybamm_ratio`` = ECM bench acceleration / PyBaMM-cell bench acceleration), plus, for
reference, PyBaMM's single-particle model (SPM) solving the same protocol's steps on its own.

PyBaMM (optional: ``pip install cellbench[pybamm]``) integrates the SPM with the Chen2020 LG M50
parameters through the same electrical steps (PyBaMM experiment strings, which the protocol
grammar accepts verbatim; soaks become rests at the model's fixed temperature), sampled every
second. It has no wire protocol, safety supervisor or run file: it is the cost of the physics a
peer tool pays, against which ``bench``'s whole-bench acceleration is compared as a ratio.
"""

from __future__ import annotations

import time
from typing import Any


def experiment_steps(protocol: Any) -> tuple[list[str], list[str]]:
    """PyBaMM experiment strings for the protocol's flattened steps, and notes on what changed."""
    steps, notes = [], []
    for step, _cycle in protocol.flat_steps():
        if step.kind in ("cc", "cv", "cp", "rest"):
            steps.append(step.text)
        elif step.kind == "soak" and step.duration_s:
            steps.append(f"Rest for {step.duration_s:g} seconds")
            notes.append(f"{step.text!r} -> rest (SPM at fixed temperature)")
        else:
            notes.append(f"{step.text!r} skipped")
    return steps, notes


def measure_pybamm(protocol: Any, bench_wall_s: float | None) -> dict[str, Any]:
    """The same protocol on the simulated bench with the PyBaMM cell (``cell_backend="pybamm"``:
    SPMe + lumped thermal, ORegan2022, behind the same instruments and drivers); raises ImportError
    when PyBaMM is not installed. ``acceleration_x`` is test time / wall time of that run, so the
    runner's ``pybamm_ratio`` (ECM acceleration / this) is how many times slower the PyBaMM cell
    makes the whole bench; ``wall_ratio_same_run`` is the like-for-like figure (both cells from
    full, same protocol). The standalone SPM solve of the same steps is kept as ``standalone``."""
    import pybamm

    # Both cells start full (soc 1.0): the SPMe with ORegan2022 cannot charge far at 0.5C (see
    # docs/calibration.md), so from the acceleration section's 50 % it would trip, not finish.
    pybamm_run = _timed_run(protocol, "pybamm")
    ecm_run = _timed_run(protocol, "ecm")
    wall = pybamm_run["wall_s"]
    return {
        "pybamm_version": pybamm.__version__,
        "model": "bench with PyBaMM SPMe + lumped thermal cell, ORegan2022, from full",
        **pybamm_run,
        "acceleration_x": round(pybamm_run["test_time_s"] / wall, 1) if wall > 0 else None,
        "bench_vs_pybamm": round(wall / bench_wall_s, 3) if bench_wall_s else None,
        "ecm_same_start": ecm_run,
        # only like-for-like when both runs did the same work (a PyBaMM charge may trip)
        "wall_ratio_same_run": (round(wall / ecm_run["wall_s"], 2) if ecm_run["wall_s"] > 0
                                and pybamm_run["test_time_s"] == ecm_run["test_time_s"] else None),
        "standalone": _standalone_spm(protocol),
    }


def _timed_run(protocol: Any, backend: str) -> dict[str, Any]:
    """Build a simulated bench with this cell backend (soc 1.0) and time the protocol on it."""
    import tempfile
    from pathlib import Path

    from bench.engine.runner import execute
    from bench.simulated.builtin_bench import build_sim_bench

    with tempfile.TemporaryDirectory(prefix="cellbench-perf-anchor-") as tmp:
        t0 = time.perf_counter()
        bench = build_sim_bench(protocol.cell.preset, soc=1.0, cell_backend=backend)
        build_s = time.perf_counter() - t0
        try:
            t0 = time.perf_counter()
            outcome = execute(protocol, bench, Path(tmp) / "run.h5", observe_s=600.0)
            wall = time.perf_counter() - t0
        finally:
            bench.close()
    result = outcome.result
    return {"status": result.status.value, "build_s": round(build_s, 3), "wall_s": round(wall, 3),
            "test_time_s": round(result.test_time_s, 1)}


def _standalone_spm(protocol: Any) -> dict[str, Any]:
    """Wall time of PyBaMM's SPM (Chen2020) solving the protocol's steps on its own, no bench."""
    import pybamm

    steps, notes = experiment_steps(protocol)
    experiment = pybamm.Experiment(steps, period="1 second")
    sim = pybamm.Simulation(pybamm.lithium_ion.SPM(), experiment=experiment,
                            parameter_values=pybamm.ParameterValues("Chen2020"))
    t0 = time.perf_counter()
    solution = sim.solve()
    wall = time.perf_counter() - t0
    test_time_s = float(solution["Time [s]"].entries[-1])
    return {
        "model": "SPM, Chen2020",
        "wall_s": round(wall, 3),
        "test_time_s": round(test_time_s, 1),
        "acceleration_x": round(test_time_s / wall, 1) if wall > 0 else None,
        "notes": notes,
    }
