"""``bench resume RUN.h5``: continue an interrupted run into the same file (see bench/engine/resume.py)."""

from __future__ import annotations

import argparse
import sys

from bench.commands.common import error
from bench.lab.cliutil import add_catalog_option


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench resume``."""
    resume = sub.add_parser("resume", help="continue an interrupted run (kill -9, power cut) into the same file")
    resume.add_argument("run_file", help="the interrupted run's HDF5 file")
    resume.add_argument("--speed", default="max",
                        help="simulated bench: 'max' (as fast as possible) or N times the wall clock")
    resume.add_argument("--observe", default=None, help="observation window after a trip (default 1 h)")
    resume.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_catalog_option(resume)
    resume.set_defaults(handler=cmd_resume)


def cmd_resume(args: argparse.Namespace) -> int:
    """``bench resume``: exit codes as ``bench run``."""
    from bench.commands.benches import bench_factory
    from bench.delegated.reattach import is_delegated, resume_delegated
    from bench.engine.progress import progress_display
    from bench.engine.resume import ResumeError, resume_run
    from bench.engine.runner import EXIT_INSTRUMENT, EXIT_INVALID
    from bench.report.verdict import format_report
    from drivers.errors import InstrumentError
    from protocols.errors import ProtocolError
    from protocols.quantities import QuantityError, parse_quantity

    try:
        speed = None if args.speed == "max" else float(args.speed)
        if speed is not None and not speed > 0:
            raise ValueError("--speed must be 'max' or a positive number")
        observe_s = parse_quantity(args.observe).value if args.observe is not None else 3600.0
    except (ValueError, QuantityError) as exc:
        return error(str(exc), EXIT_INVALID)
    from bench.runfile.probe import check_in_child
    from bench.runfile.reader import RunFileError

    try:
        check_in_child(args.run_file)  # no damage can hang this process (a child opens it first)
    except RunFileError as exc:
        return error(str(exc), EXIT_INVALID)
    from bench.lab.run_recording import RunRecording

    recording = RunRecording(args.catalog)
    try:
        with progress_display(0, enabled=not args.no_progress and sys.stderr.isatty()) as callback:
            try:
                if is_delegated(args.run_file):  # the cycler ran on without the bench: reattach (issue 29)
                    outcome = resume_delegated(args.run_file, observe_s=observe_s,
                                               progress=recording.progress(callback), on_open=recording.on_open)
                else:
                    outcome = resume_run(args.run_file, speed=speed, observe_s=observe_s,
                                         progress=recording.progress(callback), on_open=recording.on_open,
                                         benches=bench_factory())
            except BaseException as exc:
                recording.failed(f"{type(exc).__name__}: {exc}")
                raise
            recording.finished(outcome)
    except (ResumeError, ProtocolError) as exc:
        return error(str(exc), EXIT_INVALID)
    except OSError as exc:
        return error(f"{args.run_file}: cannot reopen for append: {exc}", EXIT_INVALID)
    except InstrumentError as exc:
        return error(str(exc), EXIT_INSTRUMENT)
    finally:
        recording.close()
    result = outcome.result
    sys.stdout.write(format_report(outcome.report) + "\n")
    sys.stdout.write(f"resumed: {result.samples} more samples, test time now {result.test_time_s / 3600:.2f} h; "
                     f"run file {outcome.path}\n")
    return outcome.exit_code
