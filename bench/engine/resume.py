"""``bench resume RUN.h5``: continue an interrupted run (kill -9, power cut) into the same file.

1. Read the file (SWMR reader): the run must still be ``running`` (a finished, tripped or
   aborted run is not resumed), with a version-2 journal.
2. Rebuild the protocol from the stored text, parameters and cell (a Python protocol is compiled
   from its file on disk, only when its SHA-256 matches the run file's: the run file's own copy of
   code is never executed), and the bench: simulated -> a fresh simulated bench whose clock is
   set to the journal's simulated time and whose world (cell, chamber) is restored from the
   journal's ``simulation`` entry; real (a ``--bench`` file) -> the stored ``bench_config``
   reopened, test time continuing on the wall clock from the run's start (times the config's
   ``[bench] speed``). Both come from the bench factory (:mod:`bench.benches`).
3. Reopen the file for append (:meth:`bench.runfile.writer.RunWriter.reopen`), record an
   ``interruption`` event (last sample time, journal time, resume time, samples after the
   journal), and run the engine from the journal (bench.engine.resume_point): finished steps are
   replayed into the plan, the interrupted step continues with its counters.

Not restored: faults injected with ``--fault`` in the original run (their schedule is not part of
the physics state); a resumed simulated run continues fault-free.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench.benches import BenchFactory, BenchFactoryError
from bench.engine.core import Engine, Progress, ResumePoint
from bench.engine.runner import RunOutcome, exit_code_for
from bench.instruments import Bench
from bench.runfile.reader import RunFile, RunFileError
from bench.runfile.writer import RunWriter, set_final_attributes
from protocols.steps import CellSpec, Protocol

logger = logging.getLogger(__name__)

JOURNAL_VERSION = 2


class ResumeError(ValueError):
    """A run file that cannot be resumed; the message names the file and why."""


def load_interrupted(path: str | Path) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]], float]:
    """(attributes, last journal, finished ``/steps`` rows, time of the last sample) of ``path``."""
    path = Path(path)
    try:
        with RunFile(path) as run:
            attrs = run.attrs
            journal = run.last_journal()
            steps = run.steps
            events = run.events
            times = run.column("Test Time / s")
            stored, trusted = run.stored_rows(), run.trusted_rows()
    except RunFileError as exc:
        raise ResumeError(str(exc)) from None
    status = attrs.get("status", "")
    if status == "write_failure":
        raise ResumeError(f"{path}: the run stopped on a write error ({attrs.get('status_message', '')}); "
                          "its last rows are not trustworthy and it is not resumed ('bench repair' keeps the rest)")
    if trusted is not None and stored > trusted:
        raise ResumeError(f"{path}: /samples holds {stored} rows but only {trusted} were confirmed written "
                          "(a write error?); not resumed ('bench repair' keeps the confirmed rows)")
    if status != "running":
        raise ResumeError(f"{path}: the run ended ({status or 'no status'}); only an interrupted run is resumed")
    trips = [e for e in events if e["kind"] == "safety_trip"]
    if trips:
        raise ResumeError(f"{path}: the run tripped its safety supervisor at {trips[0]['time_s']:.0f} s "
                          f"({trips[0]['message']}); a tripped run is not resumed")
    if journal is None or journal.get("version") != JOURNAL_VERSION:
        raise ResumeError(f"{path}: no resume journal (written by an older CellBench, or killed before the first flush)")
    finished = [row for row in steps if row["step_index"] >= 0]
    done = int(journal["steps_done"])
    if len(finished) < done:
        raise ResumeError(f"{path}: the journal counts {done} finished steps, the file holds {len(finished)}")
    last_time = float(times[-1]) if len(times) else 0.0
    return attrs, journal, finished[:done], last_time


def python_protocol_text(attrs: Mapping[str, Any], run_path: str | Path = "<run file>") -> str:
    """The source of the run's Python protocol, read from ``protocol_path`` on disk and checked
    against the run file's ``protocol_sha256``.

    A run file is data that travels between machines: the copy of the code it holds
    (``protocol_text``) is never executed. The operator's own file on disk is, and only when it is
    byte-for-byte the file the run started from (SHA-256 of its text)."""
    source = str(attrs.get("protocol_path") or "")
    disk = Path(source)
    if not disk.is_file():
        raise ResumeError(f"{run_path}: the run's Python protocol {source} is not on disk; a run file's own copy "
                          "of code is never executed (put the protocol file back at that path)")
    try:
        text = disk.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ResumeError(f"{run_path}: cannot read the run's Python protocol {source}: {exc}") from None
    digest = hashlib.sha256(text.encode()).hexdigest()
    if digest != str(attrs.get("protocol_sha256") or ""):
        raise ResumeError(f"{run_path}: the Python protocol {source} changed since the run started "
                          f"(SHA-256 {digest[:12]}..., the run file records {str(attrs.get('protocol_sha256'))[:12]}...); "
                          "not resumed")
    return text


def protocol_from_attrs(attrs: dict[str, Any], run_path: str | Path = "<run file>") -> Protocol:
    """The protocol exactly as the run started it (text, parameters and cell from the file; a
    Python protocol's code from its file on disk, see :func:`python_protocol_text`)."""
    from protocols.loader import parse_any

    nan_fields = ("initial_soc", "mass_kg", "volume_l")  # NaN = unknown; the windows keep None = not stated
    cell_fields: dict[str, Any] = {k: (math.nan if v is None and k in nan_fields else v) for k, v in dict(attrs["cell"]).items()}
    source = str(attrs.get("protocol_path") or "")
    text = python_protocol_text(attrs, run_path) if source.endswith(".py") else str(attrs["protocol_text"])
    return parse_any(text, file=source or "<run file>",
                     overrides={k: str(v) for k, v in dict(attrs.get("parameters") or {}).items()},
                     cell_spec=CellSpec(**cell_fields))


def bench_from_attrs(attrs: dict[str, Any], journal: dict[str, Any], speed: float | None,
                    benches: BenchFactory) -> tuple[Bench, float, bool]:
    """(bench, test time at which the run continues, seamless) for the stored bench config, from
    the bench factory (:meth:`bench.benches.BenchFactory.reopen`)."""
    try:
        return benches.reopen(dict(attrs.get("bench_config") or {}), journal, speed=speed)
    except BenchFactoryError as exc:
        raise ResumeError(str(exc)) from None


def resume_run(path: str | Path, *, speed: float | None = None, observe_s: float = 3600.0,
               progress: Callable[[Progress], None] | None = None,
               on_open: Callable[[Mapping[str, Any], Path], None] | None = None,
               benches: BenchFactory | None = None) -> RunOutcome:
    """Continue the interrupted run in ``path``; returns its outcome (exit code, report).

    ``benches`` reopens the run's bench (``bench.commands.benches.bench_factory()`` can also
    rebuild the simulated bench; the default opens real benches only).

    ``on_open(attributes, path)`` is called once the file is open for append again."""
    from bench.report.verdict import build_report

    path = Path(path)
    attrs, journal, finished, last_time = load_interrupted(path)
    protocol = protocol_from_attrs(attrs, path)
    try:
        bench, test_time_s, seamless = bench_from_attrs(attrs, journal, speed, benches or BenchFactory())
    except ResumeError as exc:
        raise ResumeError(f"{path}: {exc}") from None
    try:
        unix0 = time.time() - test_time_s if seamless else float(journal["unix0"])
        resumed_utc = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        writer = RunWriter.reopen(path, {"resumed_utc": resumed_utc,
                                         "resume_count": int(attrs.get("resume_count", 0) or 0) + 1})
        if on_open is not None:
            on_open(attrs, path)
        try:
            writer.event(test_time_s, "interruption", int(journal["step_count"]),
                         f"run interrupted after {last_time:.1f} s; resumed at {test_time_s:.1f} s",
                         {"last_sample_s": last_time, "journal_s": float(journal.get("time_s", last_time)),
                          "resumed_s": test_time_s, "resumed_utc": resumed_utc, "seamless": seamless,
                          "steps_done": len(finished), "active_step": (journal.get("active") or {}).get("text")})
            logger.warning("resuming %s at %.1f s test time (%d steps done)", path, test_time_s, len(finished))
            point = ResumePoint(journal=journal, finished=finished, test_time_s=test_time_s, unix0=unix0,
                                seamless=seamless)
            result = Engine(protocol, bench, writer, observe_s=observe_s, progress=progress, resume=point).run()
        finally:
            writer.close()
    finally:
        bench.close()
    set_final_attributes(path, {
        "status": result.status.value, "status_message": result.message,
        "end_time_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "test_time_s": result.test_time_s,
    })
    with RunFile(path) as run:
        report = build_report(run)
    return RunOutcome(result, path, exit_code_for(result, report), report)
