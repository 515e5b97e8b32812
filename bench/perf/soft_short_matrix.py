"""Soft internal shorts (5-50 Ω) x every step type x high and low SOC, and clean cycles per preset.

The claim (issue 18): a soft short is tripped within one cycle of its onset, in 100 % of the
cases, with 0 false trips over clean noisy cycles on every cell preset.

* :func:`soft_matrix` - a cycling protocol (a hold to full, then cycles of discharge, rest,
  charge, hold, rest) on the simulated NMC 21700; the short starts inside one step of the first
  cycle, placed by a fraction of that step's length in a clean reference run of the same
  protocol (so "late in the discharge" is late on any cell). Detected: the first trip at or after
  the onset and no later than one cycle (the reference cycle's length) after it.
* :func:`clean_preset_cycles` - the clean-cycling conditions of :mod:`bench.perf.safety_matrix`
  grouped by preset, ``cycles`` on each preset, each run with its own noise seed.

Every run goes through :func:`bench.engine.runner.execute` on the production engine and supervisor.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.fault_specs import FaultSpec
from bench.perf.safety_matrix import CLEAN_CONDITIONS, CleanRun, _map, _protocol_text, clean_run

#: Short resistances of the soft matrix, Ω (on a 5 Ah NMC 21700: 0.8 A down to 0.07 A of drain).
SOFT_SEVERITIES_OHM = (5.0, 10.0, 20.0, 50.0)
#: One cycle of the matrix protocol (after a first hold to full).
CYCLE_STEPS = ["Discharge at 1C until {vmin} V", "Rest for 20 minutes", "Charge at 0.5C until {vmax} V",
               "Hold at {vmax} V until C/20", "Rest for 20 minutes"]
#: (step type, SOC) -> (position of the step in the cycle, fraction of the step at the onset).
SOFT_CASES: dict[tuple[str, str], tuple[int, float]] = {
    ("cc_discharge", "high"): (0, 0.1),
    ("cc_discharge", "low"): (0, 0.85),
    ("rest", "low"): (1, 0.3),
    ("cc_charge", "low"): (2, 0.1),
    ("cc_charge", "high"): (2, 0.9),
    ("cv_hold", "high"): (3, 0.3),  # a hold at the maximum voltage is at high SOC only
    ("rest", "high"): (4, 0.3),
}
#: The last cycle of the late-onset protocol, shaped as puncture_safe_cycling's (it ends on a
#: discharge and a rest, with no charge after them): after a hold to full, a discharge and a rest.
LATE_STEPS = ["Discharge at 1C until {vmin} V", "Rest for 20 minutes", "Charge at 0.5C until {vmax} V",
              "Hold at {vmax} V until C/20", "Rest for 20 minutes", "Discharge at 1C until {vmin} V",
              "Rest for 20 minutes"]
#: Late onsets (issue 26): (step type, where) -> (position of the step in the protocol's last five
#: steps, fraction of the step at the onset). No charge follows them: the charge balance cannot
#: judge; only the rest rules, in the last rest and the final observation, can.
LATE_CASES: dict[tuple[str, str], tuple[int, float]] = {
    ("last_charge", "mid"): (0, 0.5),
    ("last_charge", "end"): (0, 0.9),
    ("last_hold", "mid"): (1, 0.5),
    ("last_discharge", "mid"): (3, 0.5),
    ("last_discharge", "end"): (3, 0.9),
    ("final_rest", "mid"): (4, 0.5),
    ("final_rest", "end"): (4, 0.95),
}
#: Late onsets are run at these resistances, Ω: 5-50 must all be caught; 100 caught or reported
#: not testable (the final observation ends without judging the last stretch).
LATE_SEVERITIES_OHM = (5.0, 10.0, 20.0, 50.0, 100.0)
#: The matrix protocol samples every this many seconds.
PERIOD_S = 2.0


@dataclass
class SoftCase:
    """One soft-matrix case and its outcome (``delay_s``: trip time - onset, s)."""

    step_type: str
    soc: str
    resistance_ohm: float
    onset_s: float
    horizon_s: float
    detected: bool = False
    false_trip: bool = False
    rule: str = ""
    delay_s: float = math.nan
    #: No trip, and the final observation did not judge the last stretch (reported "not tested").
    untestable: bool = False
    #: The final observation's ``final_observation_end`` data (judged, reason, excess_k), if any.
    last_stretch: dict | None = None


def matrix_protocol(preset: str = "nmc_21700", cycles: int = 2) -> str:
    """The matrix protocol's text: a hold to full, then ``cycles`` cycles of :data:`CYCLE_STEPS`."""
    loop = f"repeat: {cycles}\n    steps:\n" + "".join(f"      - {s}\n" for s in CYCLE_STEPS)
    return _protocol_text("soft_short_matrix", preset, ["Hold at {vmax} V until C/20", loop], period_s=PERIOD_S)


def late_protocol(preset: str = "nmc_21700") -> str:
    """The late-onset protocol's text: a hold to full, then :data:`LATE_STEPS`."""
    return _protocol_text("late_soft_short", preset, ["Hold at {vmax} V until C/20", *LATE_STEPS], period_s=PERIOD_S)


def _run(text: str, preset: str, faults: list[FaultSpec], seed: int,
         adaptive: bool = False) -> tuple[list[dict], list[dict], dict | None]:
    """Run ``text`` on a fresh simulated bench at 97 % SOC: (steps, safety_trip events, the data of
    the final observation's end event or None); ``adaptive``: strides in quiet stretches
    (bench/engine/adaptive.py)."""
    from bench.engine.runner import execute
    from bench.runfile.reader import RunFile
    from bench.simulated.builtin_bench import build_sim_bench, cell_datasheet, inject_faults
    from protocols.loader import parse_protocol

    protocol = parse_protocol(text, cell_defaults=cell_datasheet)
    bench = build_sim_bench(preset, soc=0.97, seed=seed)
    try:
        inject_faults(bench, faults)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "run.h5"
            execute(protocol, bench, path, observe_s=0.0, faults=faults, adaptive=adaptive)
            with RunFile(path) as run:
                events = run.events
                end = next((e["data"] for e in events if e["kind"] == "final_observation_end"), None)
                return run.steps, [e for e in events if e["kind"] == "safety_trip"], end
    finally:
        bench.close()


def reference_onsets(preset: str = "nmc_21700", seed: int = 0) -> tuple[dict[tuple[str, str], float], float]:
    """Onset of each case (test time, s) and the cycle length (s), from a clean run."""
    onsets, cycle_s, _ = _reference(preset, seed, SOFT_CASES, last=False)
    return onsets, cycle_s


def late_onsets(preset: str = "nmc_21700", seed: int = 0) -> tuple[dict[tuple[str, str], float], float]:
    """Onset of each late case (test time, s, in the last cycle) and the horizon (s): the rest of
    the protocol after the last cycle starts, plus the longest final observation."""
    onsets, cycle_s, end_s = _reference(preset, seed, LATE_CASES, last=True)
    return onsets, cycle_s + end_s


def _reference(preset: str, seed: int, cases: dict[tuple[str, str], tuple[int, float]], *,
               last: bool) -> tuple[dict[tuple[str, str], float], float, float]:
    """Onsets of ``cases`` in the first (or ``last``) cycle of a clean run, the cycle length and the
    final observation's maximum, s."""
    from protocols.steps import Limits

    steps, trips, _ = _run(late_protocol(preset) if last else matrix_protocol(preset), preset, [], seed)
    if trips:
        raise RuntimeError(f"the clean reference run tripped: {trips[0]['message']}")
    n = len(CYCLE_STEPS)
    cycle = steps[-n:] if last else steps[1:1 + n]  # steps[0] is the first hold
    cycle_s = cycle[-1]["end_time_s"] - cycle[0]["start_time_s"]
    onsets = {}
    for key, (position, fraction) in cases.items():
        step = cycle[position]
        onsets[key] = step["start_time_s"] + fraction * (step["end_time_s"] - step["start_time_s"])
    final_s = float(Limits.final_observation_s)  # the dataclass field's default
    return onsets, cycle_s, final_s


def soft_case(step_type: str, soc: str, resistance_ohm: float, onset_s: float, horizon_s: float, *,
              preset: str = "nmc_21700", seed: int = 0, late: bool = False, adaptive: bool = False) -> SoftCase:
    """Inject a ``resistance_ohm`` short at ``onset_s``; was it tripped within ``horizon_s``?
    (``late``: on :func:`late_protocol`, else :func:`matrix_protocol`; ``adaptive``: sampled in
    strides where quiet, bench/engine/adaptive.py.)"""
    fault = FaultSpec("internal_short", onset_s, {"resistance_ohm": resistance_ohm},
                      f"internal_short@{onset_s:g}s,resistance_ohm={resistance_ohm:g}")
    text = late_protocol(preset) if late else matrix_protocol(preset)
    _, trips, stretch = _run(text, preset, [fault], seed, adaptive)
    case = SoftCase(step_type, soc, resistance_ohm, onset_s, horizon_s, last_stretch=stretch)
    case.untestable = not trips and stretch is not None and not stretch.get("judged")
    if trips:
        trip = trips[0]
        case.rule = trip["data"]["rule"] if "rule" in trip["data"] else ""
        case.delay_s = trip["time_s"] - onset_s
        case.false_trip = case.delay_s < -1e-6
        case.detected = not case.false_trip and case.delay_s <= horizon_s
    return case


def soft_matrix(severities: tuple[float, ...] = SOFT_SEVERITIES_OHM, *, preset: str = "nmc_21700",
                workers: int = 1) -> list[SoftCase]:
    """Every (severity, step type, SOC) case of :data:`SOFT_CASES`."""
    onsets, cycle_s = reference_onsets(preset)
    jobs = [(st, soc, r, onsets[(st, soc)], cycle_s, preset) for r in severities for (st, soc) in SOFT_CASES]
    return _map(_soft_job, jobs, workers)


def late_matrix(severities: tuple[float, ...] = LATE_SEVERITIES_OHM, *, preset: str = "nmc_21700",
                workers: int = 1) -> list[SoftCase]:
    """Every (severity, late case) of :data:`LATE_CASES`: onsets in the last cycle."""
    onsets, horizon = late_onsets(preset)
    jobs = [(st, where, r, onsets[(st, where)], horizon, preset) for r in severities for (st, where) in LATE_CASES]
    return _map(_late_job, jobs, workers)


def _late_job(job: tuple[str, str, float, float, float, str]) -> SoftCase:
    step_type, where, r, onset, horizon, preset = job
    return soft_case(step_type, where, r, onset, horizon, preset=preset, late=True)


def _soft_job(job: tuple[str, str, float, float, float, str]) -> SoftCase:
    step_type, soc, r, onset, horizon, preset = job
    return soft_case(step_type, soc, r, onset, horizon, preset=preset)


def clean_preset_cycles(cycles: int, *, per_run: int = 25, workers: int = 1) -> list[CleanRun]:
    """``cycles`` clean cycles on every preset of :data:`CLEAN_CONDITIONS` (its conditions for that
    preset taken in turn), ``per_run`` cycles per run, each run with its own noise seed."""
    jobs = []
    presets = sorted({c[0] for c in CLEAN_CONDITIONS})
    for preset in presets:
        conditions = [c for c in CLEAN_CONDITIONS if c[0] == preset]
        runs = max(1, math.ceil(cycles / per_run))
        for n in range(runs):
            count = min(per_run, cycles - n * per_run)
            jobs.append((conditions[n % len(conditions)], count, 1000 * (presets.index(preset) + 1) + n))
    return _map(_clean_job, jobs, workers)


def _clean_job(job: tuple[tuple[str, str, str, float, float], int, int]) -> CleanRun:
    condition, cycles, seed = job
    return clean_run(condition, cycles, seed=seed)


def summarise(cases: list[SoftCase], runs: list[CleanRun]) -> dict[str, Any]:
    """The figures: detection rate within one cycle, worst delay, misses, false trips, cycles per preset."""
    detected = [c for c in cases if c.detected]
    per_preset: dict[str, int] = {}
    for run in runs:
        per_preset[run.preset] = per_preset.get(run.preset, 0) + run.cycles
    return {
        "soft_detection_rate": len(detected) / len(cases) if cases else None,
        "soft_detection_cases": len(cases),
        "soft_detection_delay_max_s": max((c.delay_s for c in detected), default=None),
        "soft_missed": [vars(c) for c in cases if not c.detected],
        "soft_rules": sorted({c.rule for c in detected}),
        "soft_false_trips": sum(len(r.trips) for r in runs) + sum(c.false_trip for c in cases),
        "soft_false_trip_details": [t for r in runs for t in r.trips],
        "clean_cycles_per_preset": per_preset,
    }


def summarise_late(cases: list[SoftCase]) -> dict[str, Any]:
    """The late-onset figures: 5-50 Ω must be caught; 100 Ω caught or reported not testable (the
    final observation ended without judging: the report says "not tested", never "met")."""
    ok = [c for c in cases if c.detected or (c.resistance_ohm > 50.0 and c.untestable)]
    return {
        "late_detection_rate": len(ok) / len(cases) if cases else None,
        "late_cases": len(cases),
        "late_caught": sum(c.detected for c in cases),
        "late_not_testable": [f"{c.step_type}/{c.soc} {c.resistance_ohm:g} ohm" for c in cases if c.untestable],
        "late_missed": [vars(c) for c in cases if c not in ok],
        "late_false_trips": sum(c.false_trip for c in cases),
    }


def measure_soft_shorts(quick: bool = False) -> dict[str, Any]:
    """The soft-short figures for ``bench perf`` (section ``safety``): the whole matrix and 1,000
    clean cycles on every preset (``quick``: 5 and 50 Ω, 4 clean cycles per preset)."""
    workers = max(1, min(4, os.cpu_count() or 1))
    t0 = time.perf_counter()
    if quick:
        cases = soft_matrix((5.0, 50.0), workers=workers)
        runs = clean_preset_cycles(4, per_run=2, workers=workers)
        late = late_matrix((50.0, 100.0), workers=workers)
    else:
        cases = soft_matrix(SOFT_SEVERITIES_OHM, workers=workers)
        runs = clean_preset_cycles(1000, workers=workers)
        late = late_matrix(LATE_SEVERITIES_OHM, workers=workers)
    result = summarise(cases, runs)
    result.update(summarise_late(late))
    result["soft_wall_s"] = time.perf_counter() - t0
    return result
