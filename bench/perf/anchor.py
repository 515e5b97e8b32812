"""The peer anchor: PyBaMM's single-particle model (SPM) solving the same protocol's steps.

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
    """Wall time of PyBaMM SPM on the protocol; raises ImportError when PyBaMM is not installed."""
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
        "pybamm_version": pybamm.__version__,
        "model": "SPM, Chen2020",
        "wall_s": round(wall, 3),
        "test_time_s": round(test_time_s, 1),
        "acceleration_x": round(test_time_s / wall, 1) if wall > 0 else None,
        "bench_vs_pybamm": round(wall / bench_wall_s, 3) if bench_wall_s else None,
        "notes": notes,
    }
