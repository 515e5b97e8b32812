"""Per-sample cost in bytecodes, by stage: a figure that does not drift with the machine.

Wall time per sample moves 10-15 % over a day on a shared VM, which hides changes of a few per
cent. The number of bytecodes the interpreter executes per sample does not: the same code on
the same inputs executes the same instructions. This module counts them with the interpreter's
own opcode trace (``sys.settrace`` with ``frame.f_trace_opcodes``) over a window of samples of
an ordinary simulated run, and attributes each to a stage by the file of the function running
it. Functions outside the project (the standard library, pyvisa) count for the project frame
that called them. The stages are those of the timed split in :mod:`bench.perf.stages`:

``driver``     drivers above the transport (command text, reply parsing)
``pyvisa``     the transport's pyvisa path and the in-process VISA library
``sim_wire``   simulator side: byte-stream endpoint, SCPI front end, instrument command handlers
``physics``    the simulated world: cell, chamber
``safety``     the supervisor and its rules
``logging``    the run file writer
``engine``     the rest: the engine's loop, counters, end conditions, clock

C functions (``math.exp``, ``str.split``, h5py's writes) run no bytecode, so the count measures
the interpreted work only. The count is the same on every machine for one interpreter version
(another version compiles to other bytecodes), except for the run file's flushes, which follow the
wall clock (one per second of wall time at most): ``logging`` varies by a few bytecodes per sample. ``ns_per_bytecode`` of a timed run (wall time per sample / bytecodes
per sample) says what one costs on a given machine and interpreter.
"""

from __future__ import annotations

import gc
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

STAGES = ("driver", "pyvisa", "sim_wire", "physics", "safety", "logging", "engine")

#: Files (relative to the project root) whose stage is not their package's.
_FILE_STAGES = {
    "drivers/transport.py": "pyvisa",
    "sim_instruments/wire/visa_library.py": "pyvisa",
    "sim_instruments/world/sim_world.py": "physics",
    "sim_instruments/world/chamber_air.py": "physics",
    "sim_instruments/world/clock.py": "engine",
    "bench/runfile/writer.py": "logging",
}
#: Directories (relative to the project root) and their stage, first match wins.
_DIR_STAGES = (("sim_instruments/cell/", "physics"), ("sim_instruments/", "sim_wire"), ("drivers/", "driver"))

_ROOT = str(Path(__file__).resolve().parents[2]) + os.sep


def stage_of(filename: str) -> str | None:
    """The stage of a project source file (None for a file outside the project)."""
    if not filename.startswith(_ROOT):
        return None
    rel = filename[len(_ROOT):].replace(os.sep, "/")
    stage = _FILE_STAGES.get(rel)
    if stage is not None:
        return stage
    for prefix, name in _DIR_STAGES:
        if rel.startswith(prefix):
            return name
    if rel.startswith("bench/safety"):
        return "safety"
    if rel.startswith(("bench/", "protocols/")):
        return "engine"
    return None  # tests, scripts: count for their caller


class OpcodeCounter:
    """Counts bytecodes by stage between :meth:`start` and :meth:`stop` (this thread only)."""

    def __init__(self, skip: tuple[CodeType, ...] = ()) -> None:
        """``skip``: code of harness functions whose own bytecodes are not counted (the
        functions they call are)."""
        self.counts = dict.fromkeys(STAGES, 0)
        self._stage_by_code: dict[CodeType, str | None] = {}
        self._skip = {*skip, OpcodeCounter.stop.__code__}

    def skip(self, code: CodeType) -> None:
        """Do not count the bytecodes of ``code`` itself (a harness function)."""
        self._skip.add(code)

    def _stage(self, frame: FrameType) -> str:
        """The stage of ``frame``: its file's, or the nearest project caller's."""
        probe: FrameType | None = frame
        while probe is not None:
            code = probe.f_code
            try:
                stage = self._stage_by_code[code]
            except KeyError:
                stage = self._stage_by_code[code] = stage_of(code.co_filename)
            if stage is not None:
                return stage
            probe = probe.f_back
        return "engine"

    def _make_local(self, stage: str) -> Callable[[FrameType, str, Any], Any]:
        counts = self.counts

        def local(frame: FrameType, event: str, arg: Any) -> Any:
            if event == "opcode":
                counts[stage] += 1
            return local

        return local

    def _global(self, frame: FrameType, event: str, arg: Any) -> Any:
        if frame.f_code in self._skip:
            return None
        frame.f_trace_opcodes = True
        frame.f_trace_lines = False
        return self._make_local(self._stage(frame))

    def start(self) -> None:
        """Count from the next function call on (frames already running are not traced)."""
        sys.settrace(self._global)

    def stop(self) -> None:
        """Stop counting (frames still running stop reporting at once)."""
        sys.settrace(None)

    @property
    def total(self) -> int:
        """Bytecodes counted so far."""
        return sum(self.counts.values())


def _run_counted(duration: str, warmup_samples: int, samples: int | None,
                 counter: OpcodeCounter | None) -> tuple[int, float, Any]:
    """Run the short protocol on a fresh simulated bench, counting bytecodes with ``counter``
    over the window of samples (None: no counting). Returns (samples read, wall seconds of the
    engine run, the run's result)."""
    import time

    from bench.perf.stages import engine_on_sim_bench

    seen = 0
    # no wall-clock flushes: the run file flushes every batch of rows only, so the count does not
    # depend on the machine's speed (a wall-clock flush journals the simulated world)
    with engine_on_sim_bench(duration, "bytecodes", flush_interval_s=math.inf) as (engine, _label):
        if counter is not None:
            window = counter
            acquire = engine.acquire
            end = None if samples is None else warmup_samples + samples

            def counted_acquire(*args: Any) -> Any:
                # The window opens before sample warmup_samples + 1 is read and closes before
                # sample end + 1: whole samples, the engine's loop included.
                nonlocal seen
                if seen == warmup_samples:
                    window.start()
                elif seen == end:
                    window.stop()
                seen += 1
                return acquire(*args)

            window.skip(counted_acquire.__code__)
            engine.acquire = counted_acquire
        # The garbage collector runs finalizers of earlier objects (closed resources of a previous
        # bench) at arbitrary points of this thread, counted in whatever stage is running: collect
        # first and hold it off while counting, so the count is the per-sample path's alone.
        gc_was_enabled = gc.isenabled()
        if counter is not None:
            gc.collect()
            gc.disable()
        wall0 = time.perf_counter()
        try:
            result = engine.run()
        finally:
            wall = time.perf_counter() - wall0
            if counter is not None:
                counter.stop()
                if gc_was_enabled:
                    gc.enable()
    return (seen if counter is not None else result.samples), wall, result


def measure_bytecodes(duration: str = "15 minutes", warmup_samples: int = 0,
                      samples: int | None = None, timed: bool = True) -> dict[str, Any]:
    """Bytecodes per sample by stage on the short protocol of the stage split (soak, CC charge
    for ``duration``, rest, CC discharge for ``duration``) at 1 s sampling on the simulated bench.

    Counts ``samples`` samples after the first ``warmup_samples`` (None: to the end of the run).
    With ``timed``, the same protocol first runs uncounted and the result also holds its wall
    time per sample (``us_per_sample``) and ``ns_per_bytecode`` = that time / bytecodes per sample.
    """
    out: dict[str, Any] = {}
    if timed:
        n, wall, _ = _run_counted(duration, 0, None, None)
        out["us_per_sample"] = round(wall / max(n, 1) * 1e6, 2)
    counter = OpcodeCounter()
    seen, _wall, result = _run_counted(duration, warmup_samples, samples, counter)
    counted = seen - warmup_samples if samples is None else min(max(seen - warmup_samples, 0), samples)
    if counted <= 0 or (samples is not None and counted < samples):
        raise RuntimeError(f"the run gave {seen} samples, fewer than the {warmup_samples} + {samples} to count "
                           f"(status {result.status.value})")
    per_sample = {f"{name}_bytecodes": counter.counts[name] / counted for name in STAGES}
    total = counter.total / counted
    per_sample["total_bytecodes"] = total
    out.update({key: round(value, 1) for key, value in per_sample.items()})
    if "us_per_sample" in out:
        out["ns_per_bytecode"] = round(out["us_per_sample"] * 1000.0 / total, 2)
    out.update({"samples_counted": counted, "warmup_samples": warmup_samples,
                "protocol": f"short synthetic protocol (soak, charge {duration}, rest, discharge {duration})",
                "interpreter": f"{sys.implementation.name} {sys.version.split()[0]}"})
    return out
