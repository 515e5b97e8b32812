"""Study objectives: what a run is scored by (lower is better for every objective).

* ``fade``: the measured fade (%) after M cycles: the C/3 capacity after the M fast-charge cycles
  against the C/3 capacity before them. Each run cycles M times (``cycles=M``).
* ``early_fade``: the fade (%) after M cycles estimated from the capacities of the first n cycles
  (:mod:`bench.optimize.early_life`); each run cycles only n times (``cycles=n``), the way
  Attia et al. cut a study from months to days.
* ``plating_time``: the 10 -> 80 % time (s) plus a penalty for every fast charge whose cycle shows
  a plating signature at the terminals: a capacity that drops faster from one cycle to the next
  than the run's own median drop by more than ``plating_drop_pct`` (lithium lost to plating
  and dead lithium shows first as a step loss of capacity), ``penalty_s`` each.

Every objective is subject to the claim: the profile must charge 10 -> 80 % within the claim's
time (``claim_time_s``); a run that does not is scored but marked infeasible (a constraint the
sampler respects), and a run that tripped or failed is not scored at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bench.optimize.early_life import METHOD as EARLY_METHOD
from bench.optimize.early_life import estimate_fade_pct
from bench.optimize.measure import RunMeasurement


@dataclass(frozen=True)
class ObjectiveSpec:
    """An objective: its name, unit, how it is computed, and the cycles each run makes."""

    name: str
    unit: str
    method: str


OBJECTIVES: dict[str, ObjectiveSpec] = {
    "fade": ObjectiveSpec("fade", "%", "C/3 capacity fade after M fast-charge cycles (measured)"),
    "early_fade": ObjectiveSpec("early_fade", "%", "fade after M cycles estimated from the first n: " + EARLY_METHOD),
    "plating_time": ObjectiveSpec("plating_time", "s", "10->80 % time + penalty_s per cycle with a capacity "
                                                        "step loss above plating_drop_pct (plating signature)"),
}


@dataclass(frozen=True)
class ObjectiveSettings:
    """The numbers an objective needs: M, n, the claim's time, the plating penalty."""

    cycles_m: int
    early_cycles: int
    claim_time_s: float
    penalty_s: float = 120.0
    plating_drop_pct: float = 0.2


def cycles_per_run(objective: str, settings: ObjectiveSettings) -> int:
    """How many fast-charge cycles each run of the study makes."""
    return settings.early_cycles if objective == "early_fade" else settings.cycles_m


def plating_cycles(capacities_ah: list[float], drop_pct: float) -> int:
    """Cycles whose capacity fell from the previous one by more than the run's median drop plus
    ``drop_pct`` percent of the first capacity (a step loss: the plating signature)."""
    q = np.asarray(capacities_ah, dtype=float)
    if q.size < 3:
        return 0
    drops = -np.diff(q)
    threshold = float(np.median(drops)) + drop_pct / 100.0 * q[0]
    return int(np.count_nonzero(drops > threshold))


def score(objective: str, m: RunMeasurement, settings: ObjectiveSettings) -> float:
    """The objective value of a completed run (NaN when the run did not measure what it needs)."""
    if objective == "fade":
        return m.fade_pct
    if objective == "early_fade":
        return estimate_fade_pct(m.capacities_ah, settings.cycles_m)
    if objective == "plating_time":
        if not math.isfinite(m.time_10_80_s):
            return math.nan
        return m.time_10_80_s + settings.penalty_s * plating_cycles(m.capacities_ah, settings.plating_drop_pct)
    raise ValueError(f"unknown objective {objective!r} (known: {', '.join(OBJECTIVES)})")


def claim_violation(m: RunMeasurement, settings: ObjectiveSettings) -> float:
    """<= 0 when the run met the time claim (every fast charge 10 -> 80 % within ``claim_time_s``);
    else how far over, as a fraction of the claim (infinite when 80 % was never reached)."""
    if not m.reached_80 or not math.isfinite(m.time_10_80_s):
        return math.inf
    return (m.time_10_80_s - settings.claim_time_s) / settings.claim_time_s
