"""``bench run`` on a cycler that runs its own step files: compile, write the step file, open the
run file (the step file kept in it, its hash in provenance), run :class:`DelegatedRunner`, close
and judge exactly as a live run (:func:`bench.engine.runner.execute`) does.

Provenance added to a live run's attributes: ``execution = "delegated"``, ``delegated_cycler``
(the driver), ``step_format``, ``step_file_sha256``, ``step_file_dataset`` (the dataset holding
the step file's bytes, uint8) and ``test_id`` (the test's name on the cycler).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from bench.delegated.compiler import WRITERS, compile_for, refusal, step_format
from bench.delegated.runner import DelegatedRunner
from bench.engine.results import Progress, RunStatus
from bench.engine.runner import RunOutcome, exit_code_for, run_attributes
from bench.fault_specs import FaultSpec
from bench.instruments import Bench
from bench.runfile.writer import RunFileWriteError, RunWriter, set_final_attributes
from protocols.steps import Protocol

logger = logging.getLogger(__name__)

#: Where the run file keeps the step file's bytes.
STEP_FILE_DATASET = "delegated/step_file"


def delegated_cycler(bench: Bench) -> str:
    """The bench's cycler driver name when it runs its own step files, else ""."""
    section = bench.config.get("cycler")
    driver = section.get("driver", "") if isinstance(section, dict) else ""
    if driver in WRITERS:
        return str(driver)
    return ""


def execute_delegated(protocol: Protocol, bench: Bench, out: Path, *, cycler: str = "", operator: str = "",
                      faults: Sequence[FaultSpec] = (),
                      progress: Callable[[Progress], None] | None = None,
                      on_open: Callable[[Mapping[str, object], Path], None] | None = None) -> RunOutcome:
    """Run ``protocol`` delegated on ``bench``'s cycler (driver ``cycler``, default: the bench
    config's). Raises :class:`ProtocolError` (exit 2) listing every problem, one
    ``file:line:col`` line each, before anything is sent when the format cannot express it."""
    from bench.report.verdict import build_report
    from bench.runfile.reader import RunFile

    cycler = cycler or delegated_cycler(bench)
    fmt = step_format(cycler)
    program = compile_for(protocol, fmt.capabilities)
    if program.problems:
        raise refusal(program.problems)
    step_file = fmt.write(program)
    digest = hashlib.sha256(step_file).hexdigest()
    identities = bench.identify()
    attributes = run_attributes(protocol, bench, identities, operator=operator, faults=faults)
    test_id = f"{protocol.name}-{str(attributes['run_id'])[:8]}"
    attributes.update({"execution": "delegated", "delegated_cycler": cycler, "step_format": fmt.capabilities.step_format,
                       "step_file_sha256": digest, "step_file_dataset": STEP_FILE_DATASET, "test_id": test_id})
    writer = RunWriter(out, attributes, blobs={STEP_FILE_DATASET: step_file})
    if on_open is not None:
        on_open(attributes, out)
    try:
        runner = DelegatedRunner(protocol, program, step_file, bench, writer, test_id=test_id, progress=progress)
        result = runner.run()
    finally:
        writer.close()
    if writer.failed:
        raise RunFileWriteError(f"{writer.failed}; run stopped at {result.test_time_s / 3600:.2f} h test time")
    set_final_attributes(out, {
        "status": result.status.value, "status_message": result.message,
        "end_time_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "test_time_s": result.test_time_s,
    })
    with RunFile(out) as run:
        report = build_report(run)
    if result.status is RunStatus.COMPLETED:
        logger.info("delegated run completed: %d samples over %.0f s of cycler test time", result.samples,
                    result.test_time_s)
    return RunOutcome(result, out, exit_code_for(result, report), report)
