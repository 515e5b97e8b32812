"""Safety figures, measured on the simulated bench with the production engine and supervisor.

* :func:`fault_matrix` - detection rate: internal shorts of several severities injected into
  each step type (CC charge, CV hold, rest, CC discharge) at several instants; a case counts as
  detected when the supervisor trips at or after the injection and within ``horizon_s``; a trip
  before the injection is a false trip.
* :func:`clean_cycles` - false trips: full CC-CV / CC cycles over the cell presets, rates and
  chamber temperatures with the simulators' measurement noise (each run its own noise seed).
* :func:`measure_reaction_latency` - the trip's reaction latency (sample showing the fault ->
  output off acknowledged by the instrument): in virtual time, and in real time on a bench
  paced 1:1 with the wall clock at 100 ms sampling.
* :func:`measure_rule_cost` - microseconds per sample for the whole rule set.

:func:`measure_safety` gathers them for ``bench perf`` (``quick=True``: a small subset).
Every run goes through :func:`bench.engine.runner.execute`: drivers, wire, physics, run file, report.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.engine.runner import execute
from bench.fault_specs import FaultSpec

logger = logging.getLogger(__name__)

#: Short severities of the fault-injection matrix, Ω (hard, medium, soft on a 5 Ah cell).
SEVERITIES_OHM = (0.01, 0.1, 1.0)
#: The matrix's step types: start SOC, steps (each followed by a rest, as in a cycling protocol,
#: so a short near a step's end is still watched), when the step starts (s) and the instants
#: ("early", "mid", "late") after its start at which the short begins, s.
STEP_CASES: dict[str, dict[str, Any]] = {
    "cc_charge": {"soc": 0.3, "steps": ["Charge at 0.5C until {vmax} V", "Rest for 30 minutes"], "offset_s": 0.0,
                  "instants_s": (20.0, 1200.0, 3600.0)},
    "cv_hold": {"soc": 0.9, "steps": ["Hold at {vmax} V until C/50", "Rest for 30 minutes"], "offset_s": 0.0,
                "instants_s": (60.0, 400.0, 800.0)},
    "rest": {"soc": 0.6, "steps": ["Charge at 0.5C for 10 minutes", "Rest for 2 hours"], "offset_s": 600.0,
             "instants_s": (10.0, 1800.0, 5400.0)},
    "cc_discharge": {"soc": 0.9, "steps": ["Discharge at 1C until {vmin} V", "Rest for 30 minutes"],
                     "offset_s": 0.0, "instants_s": (20.0, 1200.0, 2700.0)},
}
#: A short must be detected within this many seconds of its onset.
DETECTION_HORIZON_S = 300.0


@dataclass
class CaseResult:
    """One fault-matrix case: where the short went, whether and how fast it was caught."""

    step_type: str
    instant_s: float
    resistance_ohm: float
    detected: bool
    false_trip: bool
    rule: str = ""
    delay_s: float = math.nan
    latency_s: float = math.nan


@dataclass
class CleanRun:
    """One clean-cycling run: its conditions, cycles done and any trip (a false trip)."""

    preset: str
    charge: str
    discharge: str
    temperature_c: float
    cycles: int
    trips: list[str] = field(default_factory=list)


def _protocol_text(name: str, preset: str, steps: list[str], *, period_s: float = 1.0,
                   temperature_c: float | None = None) -> str:
    from bench.simulated.builtin_bench import cell_datasheet

    sheet = cell_datasheet(preset)
    # the simulated bench's cycler is a Keithley 2460: at most 7.35 A
    current = min(float(sheet["current_max_a"]), 7.0)
    lines = [f"name: {name}", f"cell: {{preset: {preset}, current_max_a: {current:g}}}",
             f"sampling: {{period_s: {period_s}}}", "steps:"]
    if temperature_c is not None:
        lines.append(f"  - Soak at {temperature_c:g} °C for 1 hour")
    lines += [f"  - {s}" for s in steps]
    text = "\n".join(lines) + "\n"
    return text.replace("{vmax}", f"{sheet['voltage_max_v']:g}").replace("{vmin}", f"{sheet['voltage_min_v']:g}")


def run_sim(text: str, *, preset: str, soc: float, faults: Sequence[FaultSpec] = (), seed: int = 0,
            speed: float | None = None, temperature_c: float = 25.0, observe_s: float = 0.0,
            directory: Path | None = None, adaptive: bool = False) -> dict[str, Any]:
    """Run protocol ``text`` on a fresh simulated bench; returns the report (with ``exit_code``);
    ``adaptive``: sampled in strides where quiet (bench/engine/adaptive.py)."""
    from bench.simulated.builtin_bench import build_sim_bench, cell_datasheet, inject_faults
    from protocols.loader import parse_protocol

    protocol = parse_protocol(text, cell_defaults=cell_datasheet)
    bench = build_sim_bench(preset, soc=soc, seed=seed, speed=speed, temperature_c=temperature_c)
    try:
        inject_faults(bench, list(faults))
        with tempfile.TemporaryDirectory(dir=directory) as tmp:
            outcome = execute(protocol, bench, Path(tmp) / "run.h5", observe_s=observe_s, faults=faults,
                              adaptive=adaptive)
    finally:
        bench.close()
    report = dict(outcome.report)
    report["exit_code"] = outcome.exit_code
    return report


# -- detection ---------------------------------------------------------------------------------------
def fault_case(step_type: str, instant_s: float, resistance_ohm: float, *, preset: str = "nmc_21700",
               seed: int = 0, horizon_s: float = DETECTION_HORIZON_S, adaptive: bool = False) -> CaseResult:
    """Inject a short of ``resistance_ohm`` ``instant_s`` into a ``step_type`` step; was it caught?"""
    case = STEP_CASES[step_type]
    onset = case["offset_s"] + instant_s
    text = _protocol_text(f"short_{step_type}", preset, list(case["steps"]))
    fault = FaultSpec("internal_short", onset, {"resistance_ohm": resistance_ohm},
                      f"internal_short@{onset:g}s,resistance_ohm={resistance_ohm:g}")
    report = run_sim(text, preset=preset, soc=case["soc"], faults=[fault], seed=seed, adaptive=adaptive)
    result = CaseResult(step_type, instant_s, resistance_ohm, detected=False, false_trip=False)
    events = report["safety_events"]
    if events:
        event = events[0]
        result.rule = event["rule"]
        result.latency_s = event["latency_s"]
        result.delay_s = event["time_s"] - onset
        if event["time_s"] < onset - 1e-6:
            result.false_trip = True
        else:
            result.detected = result.delay_s <= horizon_s
    return result


def fault_matrix(severities: tuple[float, ...] = SEVERITIES_OHM, step_types: tuple[str, ...] = tuple(STEP_CASES),
                 instants: tuple[int, ...] = (0, 1, 2), *, workers: int = 1) -> list[CaseResult]:
    """Every (severity, step type, instant) case; ``instants`` index each step's instant list."""
    jobs = [(st, STEP_CASES[st]["instants_s"][i], r) for r in severities for st in step_types for i in instants]
    return _map(_fault_job, jobs, workers)


def _fault_job(job: tuple[str, float, float]) -> CaseResult:
    return fault_case(*job)


# -- false trips --------------------------------------------------------------------------------------
#: (preset, charge rate, discharge rate, chamber °C, sampling period s) of the clean-cycling runs,
#: in turn. The simulated cycler is a Keithley 2460 (7.35 A), hence the slow 60 Ah pouch cycles,
#: sampled every 30 s (its time constants are long).
CLEAN_CONDITIONS: tuple[tuple[str, str, str, float, float], ...] = (
    ("nmc_21700", "0.5C", "1C", 25.0, 10.0),
    ("nmc_21700", "0.65C", "1.4C", 25.0, 10.0),
    ("nmc_21700", "0.3C", "0.5C", 40.0, 10.0),
    # LFP's end-of-discharge cliff falls ~0.3 V in 10 s at 2C (and past 100 mV at 1C): sampled every
    # 10 s the discharge ends below the 100 mV protection margin (a true voltage-limit excursion,
    # not a short), so the LFP conditions sample every 2 s
    ("lfp_26650", "1C", "2C", 25.0, 2.0),
    ("lfp_26650", "2C", "1C", 40.0, 2.0),
    ("nmc_pouch_60ah", "0.1C", "0.1C", 25.0, 30.0),
    ("solid_state_pouch", "0.5C", "0.7C", 25.0, 10.0),
    ("solid_state_pouch", "0.3C", "0.5C", 40.0, 10.0),
)


def clean_run(condition: tuple[str, str, str, float, float], cycles: int, *, seed: int = 0,
              adaptive: bool = False) -> CleanRun:
    """``cycles`` full CC-CV / rest / CC / rest cycles under one condition; every trip is false
    (``adaptive``: sampled in strides where quiet, bench/engine/adaptive.py)."""
    preset, charge, discharge, temperature, period_s = condition
    body = [f"Charge at {charge} until {{vmax}} V", "Hold at {vmax} V until C/20", "Rest for 20 minutes",
            f"Discharge at {discharge} until {{vmin}} V", "Rest for 20 minutes"]
    loop = f"repeat: {cycles}\n    steps:\n" + "".join(f"      - {b}\n" for b in body)
    text = _protocol_text("clean_cycles", preset, [loop], period_s=period_s, temperature_c=temperature)
    report = run_sim(text, preset=preset, soc=0.5, seed=seed, temperature_c=temperature, adaptive=adaptive)
    trips = [f"{e['rule']} at {e['time_s']:.0f} s: {e['message']}" for e in report["safety_events"]]
    done = int(report["metrics"].get("cycles", 0)) - 1  # cycle 1 is the soak
    return CleanRun(preset, charge, discharge, temperature, max(done, 0), trips)


def clean_cycles(total_cycles: int = 1000, *, per_run: int = 25, workers: int = 1) -> list[CleanRun]:
    """About ``total_cycles`` clean cycles, ``per_run`` per run, conditions taken in turn."""
    runs = max(1, math.ceil(total_cycles / per_run))
    jobs = [(CLEAN_CONDITIONS[n % len(CLEAN_CONDITIONS)], min(per_run, total_cycles - n * per_run), n + 1)
            for n in range(runs)]
    return _map(_clean_job, jobs, workers)


def _clean_job(job: tuple[tuple[str, str, str, float, float], int, int]) -> CleanRun:
    condition, cycles, seed = job
    return clean_run(condition, cycles, seed=seed)


# -- latency and cost ------------------------------------------------------------------------------------
def measure_reaction_latency(*, speed: float | None, period_s: float = 0.1, runs: int = 3,
                             onset_s: float = 2.0) -> list[tuple[float, float]]:
    """``runs`` hard-short trips at ``period_s`` sampling: (reaction s, fault-to-off s) each.

    Reaction: from the timestamp of the sample that shows the fault to the instrument's
    acknowledgement of output off (``:OUTP?`` read back), in bench-clock seconds.
    Fault-to-off: from the short's onset to that acknowledgement (adds the wait for the next
    sample, at most one period). ``speed=None``: virtual time; ``speed=1``: the simulated world
    paced with the wall clock, so both are real time (wire, supervisor, output-off write and read).
    """
    from bench.engine.core import Engine
    from bench.engine.runner import run_attributes
    from bench.runfile.reader import RunFile
    from bench.runfile.writer import RunWriter
    from bench.simulated.builtin_bench import build_sim_bench, cell_datasheet, inject_faults
    from protocols.loader import parse_protocol

    text = _protocol_text("latency", "nmc_21700", ["Discharge at 1C for 1 minute"], period_s=period_s)
    protocol = parse_protocol(text, cell_defaults=cell_datasheet)
    out = []
    for n in range(runs):
        delay_s = onset_s + period_s * n / max(runs, 1)  # spread the onset over the sampling phase
        bench = build_sim_bench("nmc_21700", soc=0.8, seed=n, speed=speed)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "latency.h5"
                writer = RunWriter(path, run_attributes(protocol, bench, bench.identify()))
                try:
                    t0 = bench.clock.now_s()  # the engine's test time starts here (within µs)
                    engine = Engine(protocol, bench, writer, observe_s=0.0)
                    onset = bench.clock.now_s() - t0 + delay_s  # the short's onset in test time
                    inject_faults(bench, [FaultSpec("internal_short", delay_s, {"resistance_ohm": 0.01})])
                    result = engine.run()
                finally:
                    writer.close()
                with RunFile(path) as run:
                    trips = [e for e in run.events if e["kind"] == "safety_trip"]
        finally:
            bench.close()
        if result.trip is not None and trips:
            reaction = float(trips[0]["data"]["latency_s"])
            out.append((reaction, result.trip.time_s + reaction - onset))
    return out


def measure_rule_cost(samples: int = 20000) -> float:
    """Microseconds per sample for :meth:`Supervisor.check` with every rule of a typical protocol."""
    import random

    from bench.safety.supervisor import Supervisor
    from bench.sample import Sample
    from bench.simulated.builtin_bench import cell_datasheet
    from protocols.loader import parse_protocol

    protocol = parse_protocol(_protocol_text("cost", "nmc_21700", ["Discharge at 1C for 2 hours"]),
                              cell_defaults=cell_datasheet)
    supervisor = Supervisor.for_protocol(protocol)
    supervisor.begin_step(protocol.steps[0], 0.0)  # type: ignore[arg-type]  # that protocol's first node is a Step
    rng = random.Random(1)
    rows = [Sample(0.1 * n, 4.0 - 1e-6 * n + rng.gauss(0, 2e-4), -5.0, 25.0 + 1e-4 * n + rng.gauss(0, 0.05),
                   25.0 + rng.gauss(0, 0.05), 0, 1, 1, 0.1 * n, -5.0 * 0.1 * n / 3600.0) for n in range(samples)]
    check = supervisor.check
    start = time.perf_counter()
    for row in rows:
        check(row)
    elapsed = time.perf_counter() - start
    assert supervisor.tripped is None, supervisor.tripped
    return 1e6 * elapsed / samples


# -- all together -------------------------------------------------------------------------------------
def measure_safety(quick: bool = False) -> dict[str, Any]:
    """The safety figures for ``bench perf`` (see the module docstring); ``quick`` runs a subset.

    Keys: ``safety_latency_ms`` (virtual time, max), ``safety_latency_realtime_ms`` (max of real-time
    runs at 100 ms sampling), ``fault_to_off_realtime_ms`` (short onset -> output off acknowledged,
    real time, max), ``realtime_budget_ms`` (period + 5 ms), ``detection_rate``,
    ``detection_cases``, ``missed``, ``false_trips``, ``clean_cycles``, ``rule_cost_us``. The
    soft-short figures are :func:`bench.perf.soft_short_matrix.measure_soft_shorts`.
    """

    workers = max(1, min(4, os.cpu_count() or 1))
    t0 = time.perf_counter()
    if quick:
        cases = fault_matrix((0.01, 1.0), instants=(1,), workers=workers)
        runs = clean_cycles(16, per_run=2, workers=workers)
        realtime = measure_reaction_latency(speed=1.0, runs=2)
    else:
        cases = fault_matrix(workers=workers)
        runs = clean_cycles(1000, workers=workers)
        realtime = measure_reaction_latency(speed=1.0, runs=10)
    virtual = measure_reaction_latency(speed=None, runs=3)
    detected = [c for c in cases if c.detected]
    reaction_rt = [r for r, _ in realtime]
    fault_to_off_rt = [f for _, f in realtime]
    false_in_matrix = [c for c in cases if c.false_trip]
    false_trips = sum(len(r.trips) for r in runs) + len(false_in_matrix)
    return {
        "safety_latency_ms": 1000.0 * max(r for r, _ in virtual) if virtual else None,
        "safety_latency_realtime_ms": 1000.0 * max(reaction_rt) if reaction_rt else None,
        "fault_to_off_realtime_ms": 1000.0 * max(fault_to_off_rt) if fault_to_off_rt else None,
        "realtime_budget_ms": 100.0 + 5.0,
        "realtime_runs": len(realtime),
        "detection_rate": len(detected) / len(cases) if cases else None,
        "detection_cases": len(cases),
        "detection_delay_max_s": max((c.delay_s for c in detected), default=None),
        "missed": [asdict(c) for c in cases if not c.detected],
        "false_trips": false_trips,
        "false_trip_details": [t for r in runs for t in r.trips] + [asdict(c) for c in false_in_matrix],
        "clean_cycles": sum(r.cycles for r in runs),
        "rule_cost_us": measure_rule_cost(),
        "wall_s": time.perf_counter() - t0,
    }


def _map(function: Any, jobs: list[Any], workers: int) -> list[Any]:
    if workers <= 1 or len(jobs) <= 1:
        return [function(job) for job in jobs]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(function, jobs))
