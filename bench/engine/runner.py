"""``bench run``: protocol + bench + run file + engine -> outcome and exit code."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import socket
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import __version__
from bench.engine.core import Engine, Progress, RunResult, RunStatus
from bench.fault_specs import FaultSpec
from bench.instruments import Bench
from bench.redact import without_secrets
from bench.runfile.writer import RunFileWriteError, RunWriter, failure_marker_path, set_final_attributes
from protocols.steps import Protocol

logger = logging.getLogger(__name__)

#: Exit codes. EXIT_INSTRUMENT (4) also covers a run file that cannot be written during the run
#: (disk full, I/O error): the output is turned off, the run stops, the rows written stay.
EXIT_PASS, EXIT_FAIL, EXIT_INVALID, EXIT_SAFETY, EXIT_INSTRUMENT, EXIT_ABORTED = 0, 1, 2, 3, 4, 130


@dataclass
class RunOutcome:
    """Result of a run with its file and the CLI exit code."""

    result: RunResult
    path: Path
    exit_code: int
    report: dict


def default_run_path(protocol_name: str, directory: str | Path = "runs") -> Path:
    """``runs/<UTC timestamp>_<protocol>.h5``."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path(directory) / f"{stamp}_{protocol_name}.h5"


def run_attributes(protocol: Protocol, bench: Bench, identities: Mapping[str, str], *,
                   operator: str = "", faults: Sequence[FaultSpec] = ()) -> dict:
    """Provenance written into the run file before the first sample."""
    text = protocol.source_text
    bench_section = bench.config.get("bench") if isinstance(bench.config.get("bench"), dict) else {}
    return {
        "run_id": str(uuid.uuid4()),
        "host": socket.gethostname(),
        "bench_name": str((bench_section or {}).get("name") or bench.description),
        "protocol": protocol.name,
        "protocol_path": protocol.source_path,
        "protocol_text": text,
        "protocol_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "parameters": dict(protocol.parameters),
        "pass_criteria": [dataclasses.asdict(c) for c in protocol.pass_criteria],
        "analysis": protocol.analysis,
        "cell": dataclasses.asdict(protocol.cell),
        "cell_id": protocol.cell.cell_id,
        "limits": dataclasses.asdict(protocol.limits),
        "sampling_period_s": protocol.period_s,
        # record by change (sampling: record_when): which samples are rows; absent: every sample
        **({"recording": protocol.record_when.describe()} if protocol.record_when is not None else {}),
        "bench_description": bench.description,
        "bench_config": without_secrets(bench.config),   # the TOML's passwords stay in the TOML
        "instruments": dict(identities),
        "software": f"cellbench {__version__}",
        "operator": operator,
        "faults": [f.text for f in faults],
        "start_time_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "status": "running",
    }


def execute(protocol: Protocol, bench: Bench, out: Path, *, operator: str = "",
            faults: Sequence[FaultSpec] = (), observe_s: float = 3600.0,
            progress: Callable[[Progress], None] | None = None,
            on_open: Callable[[Mapping[str, object], Path], None] | None = None,
            adaptive: bool = False) -> RunOutcome:
    """Identify the instruments, open the run file, run the engine, close and judge.

    ``adaptive``: on a virtual clock, sample quiet stretches in longer strides
    (:mod:`bench.engine.adaptive`; ignored on any other clock).

    ``on_open(attributes, path)`` is called once the run file exists (e.g. to register the run in
    the lab catalog)."""
    from bench.report.verdict import build_report
    from bench.runfile.reader import RunFile

    identities = bench.identify()
    attributes = run_attributes(protocol, bench, identities, operator=operator, faults=faults)
    writer = RunWriter(out, attributes)
    if on_open is not None:
        on_open(attributes, out)
    _record_faults_scheduled(bench, writer, faults)
    try:
        engine = Engine(protocol, bench, writer, observe_s=observe_s, progress=progress, adaptive=adaptive)
        rebase = getattr(bench.simulation, "rebase", None)
        if faults and rebase is not None:  # fault times count from the engine's test time zero
            rebase(engine.t0)
        result = engine.run()
        _record_faults_not_started(bench, writer, result.test_time_s)
    except BaseException as exc:
        # An error the engine does not handle itself (e.g. a Python protocol raising): make the
        # bench safe, keep every row, and mark the file so it never reads as "running".
        _safe_after_error(bench)
        writer.close()
        _mark_end(out, {"status": "error", "status_message": f"{type(exc).__name__}: {exc}",
                        "end_time_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")})
        raise
    finally:
        writer.close()
    if writer.failed:
        raise _write_failure(out, writer, result)
    try:
        set_final_attributes(out, {
            "status": result.status.value,
            "status_message": result.message,
            "end_time_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "test_time_s": result.test_time_s,
        })
    except RunFileWriteError as exc:
        raise RunFileWriteError(f"{exc}; the run ended ({result.status.value}) but its status is not recorded") from None
    with RunFile(out) as run:
        report = build_report(run)
    return RunOutcome(result, out, exit_code_for(result, report), report)


def _record_faults_scheduled(bench: Bench, writer: RunWriter, faults: Sequence[FaultSpec]) -> None:
    """A ``fault_scheduled`` event per ``--fault``; a ``fault_applied`` event when one starts."""
    for fault in faults:
        writer.event(0.0, "fault_scheduled", 0, fault.text, _fault_data(fault))
    simulation = bench.simulation
    if faults and simulation is not None and hasattr(simulation, "on_fault_applied"):
        def applied(fault: FaultSpec, time_s: float) -> None:
            writer.event(time_s, "fault_applied", 0, f"{fault.text}: started at {time_s:.0f} s",
                         _fault_data(fault))
        simulation.on_fault_applied = applied


def _record_faults_not_started(bench: Bench, writer: RunWriter, end_s: float) -> None:
    """A ``fault_not_applied`` event (and a warning) for each fault that never started."""
    report = getattr(bench.simulation, "fault_report", None)
    for fault, started in report() if report is not None else ():
        if started is not None:
            continue
        if fault.condition:
            when = f"its condition {fault.text.split('@', 1)[1].split(',')[0]} never held"
        elif fault.kind.startswith("comms_") and fault.time_s <= end_s:
            instrument = fault.options.get("instrument", "cycler")
            when = f"no message crossed the {instrument} link while it lasted (from {fault.time_s:.0f} s)"
        else:
            when = f"the run ended at {end_s:.0f} s, before {fault.time_s:.0f} s"
        message = f"fault {fault.text!r} never took effect: {when}"
        logger.warning("%s", message)
        writer.event(end_s, "fault_not_applied", 0, message, _fault_data(fault))


def _fault_data(fault: FaultSpec) -> dict:
    return {"kind": fault.kind, "time_s": fault.time_s, "options": dict(fault.options),
            "condition": list(fault.condition) if fault.condition else None}


def _write_failure(out: Path, writer: RunWriter, result: RunResult) -> RunFileWriteError:
    """The one-line error of a run stopped by a write error; the file's status is marked
    ``write_failure`` when the disk still allows it (readers honour the journal's row count
    either way, and ``bench resume`` refuses the file)."""
    marked = _mark_end(out, {"status": RunStatus.WRITE_FAILURE.value, "status_message": writer.failed,
                             "end_time_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                             "test_time_s": result.test_time_s})
    detail = result.message if result.status is RunStatus.WRITE_FAILURE else f"{writer.failed}; output off"
    return RunFileWriteError(
        f"{detail}, run stopped at {result.test_time_s / 3600:.2f} h test time with "
        f"{writer.rows_written} samples recorded" + ("" if marked else f" (status marked by {failure_marker_path(out).name})"))


def _mark_end(out: Path, attrs: Mapping[str, object]) -> bool:
    """Best-effort end-of-run attributes after a failure; False (logged) when the file refuses."""
    try:
        set_final_attributes(out, attrs)
    except (RunFileWriteError, OSError):
        logger.debug("could not mark the status of %s", out, exc_info=True)
        return False
    return True


def exit_code_for(result: RunResult, report: Mapping) -> int:
    """CLI exit code: 0 pass, 1 fail, 3 safety trip, 4 instrument failure, 130 operator abort."""
    if result.status is RunStatus.SAFETY_TRIP:
        return EXIT_SAFETY
    if result.status in (RunStatus.INSTRUMENT_FAILURE, RunStatus.WRITE_FAILURE):
        return EXIT_INSTRUMENT
    if result.status is RunStatus.ABORTED:
        return EXIT_ABORTED
    return EXIT_PASS if report.get("verdict") == "pass" else EXIT_FAIL


def _safe_after_error(bench: Bench) -> None:
    """Output off (best effort) after an unexpected error; failures are logged, not raised."""
    try:
        bench.cycler.output_off()
    except Exception:  # noqa: BLE001 - the original error is what the caller must see
        logger.exception("output off after an engine error failed")
