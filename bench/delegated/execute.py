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
from dataclasses import dataclass
from pathlib import Path

from bench.delegated.compiler import WRITERS, compile_for, refusal, step_format
from bench.delegated.runner import DelegatedRunner
from bench.engine.results import Progress, RunStatus
from bench.engine.runner import RunOutcome, exit_code_for, run_attributes
from bench.fault_specs import FaultSpec
from bench.instruments import Bench
from bench.runfile.writer import RunFileWriteError, RunWriter, set_final_attributes
from drivers.delegated.program import DelegatedProgram
from protocols.steps import Protocol

logger = logging.getLogger(__name__)

#: Where the run file keeps the step file's bytes.
STEP_FILE_DATASET = "delegated/step_file"


def delegated_cycler(bench: Bench) -> str:
    """The bench's cycler driver name when it runs its own step files, else "" (a ``[[cycler]]``
    bench: the entry of the bench's ``channel``)."""
    return config_delegated_cycler(bench.config, int(bench.config.get("channel", 0) or 0))


def config_delegated_cycler(config: Mapping[str, object], channel: int = 0) -> str:
    """The cycler driver of ``config`` (``[cycler]``, or entry ``channel`` of ``[[cycler]]``) when
    it runs its own step files, else ""."""
    section = config.get("cycler")
    if isinstance(section, list):
        section = section[channel] if 0 <= channel < len(section) else None
    driver = section.get("driver", "") if isinstance(section, dict) else ""
    return str(driver) if driver in WRITERS else ""


@dataclass(frozen=True)
class Delegation:
    """A protocol ready to run delegated: its program, the step file's bytes, the test's name."""

    cycler: str
    program: DelegatedProgram
    step_file: bytes
    test_id: str
    #: The cycler's number of the program's first step (see StepFormat.first_step_number).
    first_step_number: int = 1

    @property
    def blobs(self) -> dict[str, bytes]:
        """The run file's extra datasets (the step file)."""
        return {STEP_FILE_DATASET: self.step_file}

    def runner(self, protocol: Protocol, bench: Bench, writer: RunWriter,
               progress: Callable[[Progress], None] | None = None, observe_s: float = 3600.0) -> DelegatedRunner:
        """The runner of this delegation on ``bench``, writing to ``writer`` (``observe_s``: the
        observation window after a trip, s)."""
        return DelegatedRunner(protocol, self.program, self.step_file, bench, writer, test_id=self.test_id,
                               progress=progress, first_step_number=self.first_step_number, observe_s=observe_s)


def check_delegable(protocol: Protocol, cycler: str) -> DelegatedProgram:
    """The program of ``protocol`` on ``cycler``'s step-file format; raises :class:`ProtocolError`
    (exit 2), one ``file:line:col`` line per problem, when the format cannot express it."""
    program = compile_for(protocol, step_format(cycler))
    if program.problems:
        raise refusal(program.problems)
    return program


def prepare(protocol: Protocol, cycler: str, attributes: dict) -> Delegation:
    """Compile and write the step file; adds the delegated provenance to ``attributes`` (see the
    module doc). Raises :class:`ProtocolError` as :func:`check_delegable`."""
    fmt = step_format(cycler)
    program = check_delegable(protocol, cycler)
    step_file = fmt.write(program)
    test_id = f"{protocol.name}-{str(attributes['run_id'])[:8]}"
    attributes.update({"execution": "delegated", "delegated_cycler": cycler, "step_format": fmt.capabilities.step_format,
                       "step_file_sha256": hashlib.sha256(step_file).hexdigest(),
                       "step_file_dataset": STEP_FILE_DATASET, "test_id": test_id})
    return Delegation(cycler, program, step_file, test_id, fmt.first_step_number)


def execute_delegated(protocol: Protocol, bench: Bench, out: Path, *, cycler: str = "", operator: str = "",
                      faults: Sequence[FaultSpec] = (), observe_s: float = 3600.0,
                      progress: Callable[[Progress], None] | None = None,
                      on_open: Callable[[Mapping[str, object], Path], None] | None = None) -> RunOutcome:
    """Run ``protocol`` delegated on ``bench``'s cycler (driver ``cycler``, default: the bench
    config's). Raises :class:`ProtocolError` (exit 2) listing every problem, one
    ``file:line:col`` line each, before anything is sent when the format cannot express it."""
    from bench.report.verdict import build_report
    from bench.runfile.reader import RunFile

    cycler = cycler or delegated_cycler(bench)
    identities = bench.identify()
    attributes = run_attributes(protocol, bench, identities, operator=operator, faults=faults)
    delegation = prepare(protocol, cycler, attributes)
    writer = RunWriter(out, attributes, blobs=delegation.blobs)
    if on_open is not None:
        on_open(attributes, out)
    try:
        result = delegation.runner(protocol, bench, writer, progress, observe_s).run()
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
