"""False trips over clean runs of every shipped protocol on every cell preset, 0-45 °C (issue 26 item 6).

A clean run (no fault injected) that ends in a safety trip is a false trip. Each shipped protocol
runs on each preset of the simulated bench through the ``bench run`` command (so the cell, its
limits and the cycler are chosen as a user's run chooses them), at each chamber temperature of
:data:`TEMPERATURES_C` where the protocol has a chamber-temperature parameter, once at its own
temperature otherwise; long loops are cut to one block (:data:`SHORTEN`). A run the protocol
refuses at load (exit 2: e.g. a charge below the cell's charge window) is counted as refused, not
run. The abuse test (``nail_penetration``) trips by design and is left out; ``fade_to_80`` runs
until the cell has faded (hundreds of cycles) and is left out too (its cycles are cycle_life's).
Virtual time; each run its own process-free call of :func:`bench.cli.main`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.perf.safety_matrix import _map

#: Chamber temperatures of the matrix, °C.
TEMPERATURES_C = (0.0, 10.0, 15.0, 25.0, 45.0)
#: Presets of the simulated bench.
PRESETS = ("nmc_21700", "lfp_26650", "nmc_pouch_60ah", "solid_state_pouch", "xfc_nmc_pouch")
#: Protocol -> the parameter that sets its chamber temperature.
TEMPERATURE_PARAMETER = {
    "capacity_check": "temperature_c", "fast_charge": "temperature_c", "fast_charge_cccv": "temperature_c",
    "fast_charge_gb38031": "temperature_c", "fast_charge_cycling": "temperature_c",
    "fast_charge_profile_cycling": "temperature_c", "cold_capacity": "cold_temperature_c",
    "cold_capacity_eis": "cold_temperature_c",
}
#: Settings that cut a protocol's long loops to one block (the safety rules see every step kind).
SHORTEN: dict[str, tuple[str, ...]] = {
    "fast_charge_cycling": ("cycles=1", "blocks=1"), "fast_charge_profile_cycling": ("cycles=1",),
    "cold_capacity": ("soak=2 hours",), "cold_capacity_eis": ("soak=2 hours",),
    "puncture_safe_cycling": ("cycles=1",), "cycle_life": ("rpt_every=1", "rpt_blocks=1"),
}
#: Protocols left out, with why.
LEFT_OUT = {"nail_penetration": "an abuse test: it trips by design",
            "fade_to_80": "runs until the cell has faded 20 % (hundreds of cycles; its cycles are cycle_life's)"}


@dataclass
class CleanCondition:
    """One clean run: ``outcome`` is ``pass``/``fail``/``not tested`` (no trip), ``refused`` (exit 2)
    or ``false trip`` (with ``rule`` and ``message``)."""

    protocol: str
    preset: str
    temperature_c: float | None
    exit_code: int = -1
    outcome: str = ""
    rule: str = ""
    message: str = ""


def conditions(temperatures: tuple[float, ...] = TEMPERATURES_C, presets: tuple[str, ...] = PRESETS,
               protocols: tuple[str, ...] | None = None) -> list[tuple[str, str, float | None]]:
    """(protocol, preset, temperature or None) of the matrix."""
    from protocols.loader import shipped_protocols

    names = protocols or tuple(p for p in shipped_protocols() if p not in LEFT_OUT)
    out: list[tuple[str, str, float | None]] = []
    for name in names:
        temps: tuple[float | None, ...] = temperatures if name in TEMPERATURE_PARAMETER else (None,)
        out += [(name, preset, t) for preset in presets for t in temps]
    return out


def clean_condition(job: tuple[str, str, float | None]) -> CleanCondition:
    """Run one condition through ``bench run`` and classify it."""
    from bench.cli import main

    name, preset, temperature = job
    result = CleanCondition(name, preset, temperature)
    settings = [f"cell={preset}", *SHORTEN.get(name, ())]
    if temperature is not None:
        settings.append(f"{TEMPERATURE_PARAMETER[name]}={temperature:g}")
    args = [a for s in settings for a in ("--set", s)]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run.h5"
        sink = io.StringIO()
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            result.exit_code = main(["run", name, "--out", str(out), "--no-progress", "--observe", "0s", *args])
            if result.exit_code == 2 or not out.exists():
                lines = sink.getvalue().strip().splitlines()
                result.outcome, result.message = "refused", lines[-1] if lines else ""
                return result
            report_sink = io.StringIO()
            with contextlib.redirect_stdout(report_sink):
                main(["report", str(out), "--json"])
    report = json.loads(report_sink.getvalue())
    events = report.get("safety_events") or []
    if events:
        result.outcome, result.rule, result.message = "false trip", events[0]["rule"], events[0]["message"]
    else:
        result.outcome = str(report.get("verdict", ""))
    return result


def clean_temperature_matrix(*, quick: bool = False, workers: int = 1) -> list[CleanCondition]:
    """The matrix (``quick``: the conditions issue 26 found tripping, at 10 and 15 °C)."""
    if quick:
        jobs: list[tuple[str, str, float | None]] = [
            ("fast_charge", "lfp_26650", 15.0), ("fast_charge", "lfp_26650", 10.0),
            ("fast_charge", "nmc_pouch_60ah", 10.0), ("fast_charge", "xfc_nmc_pouch", 10.0)]
    else:
        jobs = conditions()
    return _map(clean_condition, jobs, workers)


def measure_clean_temperatures(quick: bool = False) -> dict[str, Any]:
    """``clean_0_45_false_trips`` (count), ``clean_0_45_runs``, ``clean_0_45_refused`` and the
    details of every false trip, for ``bench perf`` (section ``safety``)."""
    workers = max(1, min(4, os.cpu_count() or 1))
    t0 = time.perf_counter()
    runs = clean_temperature_matrix(quick=quick, workers=workers)
    trips = [asdict(r) for r in runs if r.outcome == "false trip"]
    return {
        "clean_0_45_false_trips": len(trips),
        "clean_0_45_runs": sum(r.outcome != "refused" for r in runs),
        "clean_0_45_refused": sum(r.outcome == "refused" for r in runs),
        "clean_0_45_false_trip_details": trips,
        "clean_0_45_left_out": LEFT_OUT,
        "clean_0_45_wall_s": time.perf_counter() - t0,
    }
