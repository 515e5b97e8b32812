"""What one study run measured, read from its run file (the same file any analysis reads).

* ``time_10_80_s``: the slowest of the run's fast charges, 10 -> 80 % SOC (coulomb counting
  against the rated capacity, anchored by each discharge to the cut-off:
  :mod:`bench.analysis.fast_charge`); infinite when a fast charge never reached 80 %;
* ``fade_pct``: 100 x (1 - last / first) over the reference checks: the full discharges (to the
  cut-off) whose step is the first full discharge's (the C/3 checks before and after the cycling);
* ``capacities_ah``: every other full discharge (each cycle's own, e.g. at 1C), in order;
* ``temperature_max_c``: the hottest the cell got in any fast charge;
* ``status``: the run file's status (``completed``, ``safety_trip``, ...).

Units: s, Ah, %, °C.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.analysis.cycles import full_discharges
from bench.analysis.fast_charge import analyse_fast_charge, find_fast_charges, soc_at_step_starts
from bench.runfile.reader import RunFile


@dataclass
class RunMeasurement:
    """The figures a study scores a run by (NaN where the run did not measure them)."""

    status: str
    time_10_80_s: float = math.nan
    fade_pct: float = math.nan
    reference_capacity_ah: float = math.nan
    final_capacity_ah: float = math.nan
    capacities_ah: list[float] = field(default_factory=list)
    temperature_max_c: float = math.nan
    fast_charges: int = 0
    reached_80: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN and infinity -> None)."""
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            out[key] = value
        return out


def measure_run(path: str | Path) -> RunMeasurement:
    """Read ``path`` and measure it (see the module docstring)."""
    with RunFile(path) as run:
        attrs = run.attrs
        status = str(attrs.get("status", "unknown"))
        cell = dict(attrs.get("cell") or {})
        capacity = float(cell.get("capacity_ah", math.nan))
        v_min = float(cell.get("voltage_min_v", math.inf))
        steps = run.steps
        socs = soc_at_step_starts(steps, cell)
        charges = [analyse_fast_charge(run, idx, steps, socs, capacity) for idx in find_fast_charges(steps)]
        checks = full_discharges(run, v_min)
        samples = run.samples if checks else None
        capacities = {c["step_count"]: capacity_to_cutoff(samples, c, v_min) for c in checks}
    out = RunMeasurement(status=status, fast_charges=len(charges))
    if charges:
        times = [c["time_10_80_s"] for c in charges]
        out.reached_80 = all(t is not None for t in times)
        out.time_10_80_s = max(t for t in times if t is not None) if out.reached_80 else math.inf
        temps = [c["temperature_max_c"] for c in charges if c["temperature_max_c"] is not None]
        out.temperature_max_c = max(temps) if temps else math.nan
    if checks:
        # The reference-rate checks share the first full discharge's step text (the C/3 checks
        # around the cycling); the other full discharges are the cycles' own.
        reference_text = checks[0]["text"]
        references = [c for c in checks if c["text"] == reference_text]
        out.reference_capacity_ah = capacities[references[0]["step_count"]]
        out.capacities_ah = [capacities[c["step_count"]] for c in checks if c["text"] != reference_text]
        if len(references) >= 2:
            out.final_capacity_ah = capacities[references[-1]["step_count"]]
            out.fade_pct = 100.0 * (1.0 - out.final_capacity_ah / out.reference_capacity_ah)
    return out


def capacity_to_cutoff(samples: Any, step: dict[str, Any], cutoff_v: float) -> float:
    """The Ah a discharge step delivered down to ``cutoff_v``: the step's ``discharge_ah``, which
    the engine takes at the crossing (``crossing_time_s`` set, :mod:`bench.engine.crossing`). A
    file written before that holds the Ah at the first sample at or below the cut-off (up to one
    sample period of current more: 0.28 % at 1C and 10 s): the crossing is then interpolated
    between the step's last two ``samples`` (the run file's /samples)."""
    total = float(step["discharge_ah"])
    crossing = step.get("crossing_time_s")
    if crossing is not None and math.isfinite(crossing):
        return total
    mine = samples[samples["Step Count / 1"] == step["step_count"]]
    if len(mine) < 2 or not math.isfinite(cutoff_v):
        return total
    t = np.asarray(mine["Test Time / s"][-2:], dtype=float)
    v = np.asarray(mine["Voltage / V"][-2:], dtype=float)
    i = np.asarray(mine["Current / A"][-2:], dtype=float)
    if not v[1] <= cutoff_v < v[0] or t[1] <= t[0]:
        return total
    crossing_s = t[0] + (v[0] - cutoff_v) / (v[0] - v[1]) * (t[1] - t[0])
    overshoot_ah = 0.5 * abs(i[0] + i[1]) * (t[1] - crossing_s) / 3600.0
    return float(total - overshoot_ah)
