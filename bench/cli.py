"""The ``bench`` command line. Exit codes: 0 passed, 1 failed its criteria, 2 invalid input,
3 safety trip (bench safed), 4 instrument or communication failure (bench safed), 130 operator abort."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Sequence

from bench import __version__

logger = logging.getLogger("bench")

EXAMPLES = """examples:
  bench run capacity_check                      run a shipped protocol on the built-in simulated bench
  bench run my_test.yaml --bench lab.toml       run on real instruments
  bench run cold_capacity --set rate=C/3 --out runs/cold.h5
  bench run capacity_check --fault internal_short@2h,resistance_ohm=0.05
  bench validate my_test.yaml                   check a protocol, print its steps
  bench report runs/RUN.h5 --json               verdict, conditions, metrics, safety events
  bench drivers                                 list the instrument drivers
  bench check --bench lab.toml                  ask every instrument who it is
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench", description="CellBench: battery test bench controller.",
                                     epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"cellbench {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a protocol", epilog=EXAMPLES,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("protocol", help="protocol file or shipped protocol name")
    run.add_argument("--bench", help="bench config (TOML); default: the built-in simulated bench")
    run.add_argument("--out", help="run file (default runs/<timestamp>_<protocol>.h5)")
    run.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="override a protocol parameter")
    run.add_argument("--fault", action="append", default=[], metavar="SPEC",
                     help="inject a fault on the simulated bench, e.g. internal_short@2h,resistance_ohm=0.05")
    run.add_argument("--speed", default="max", help="simulated time per wall second: 'max' or a factor N")
    run.add_argument("--observe", default=None, help="observation window after a trip (default 1 h)")
    run.add_argument("--operator", default="", help="operator name for the run file")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")

    validate = sub.add_parser("validate", help="check a protocol and print its steps")
    validate.add_argument("protocol")
    validate.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")

    report = sub.add_parser("report", help="verdict and metrics of a run file")
    report.add_argument("run_file")
    report.add_argument("--json", action="store_true", help="print one JSON object")

    sub.add_parser("drivers", help="list instrument drivers")
    check = sub.add_parser("check", help="identify every instrument of a bench")
    check.add_argument("--bench", required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bench`` console script."""
    args = _parser().parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    handlers = {"run": cmd_run, "validate": cmd_validate, "report": cmd_report,
                "drivers": cmd_drivers, "check": cmd_check}
    try:
        return handlers[args.command](args)
    except BrokenPipeError:
        return 0


def _error(message: str, code: int) -> int:
    sys.stderr.write(f"bench: error: {message}\n")
    return code


def _overrides(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, eq, value = pair.partition("=")
        if not eq or not name.strip():
            raise ValueError(f"--set {pair!r}: expected NAME=VALUE")
        out[name.strip()] = value.strip()
    return out


def cmd_run(args: argparse.Namespace) -> int:
    """``bench run``."""
    from bench.faults import FaultSpecError, parse_fault_spec
    from bench.runner import EXIT_INSTRUMENT, EXIT_INVALID, default_run_path, execute
    from drivers.errors import InstrumentError, SetpointOutOfRange
    from protocols.errors import ProtocolError
    from protocols.loader import load_protocol
    from protocols.quantities import QuantityError, parse_quantity

    try:
        overrides = _overrides(args.set)
        faults = [parse_fault_spec(f) for f in args.fault]
        observe_s = 3600.0
        if args.observe is not None:
            observe_s = parse_quantity(args.observe).value
        speed = None if args.speed == "max" else float(args.speed)
        if speed is not None and speed <= 0:
            raise ValueError("--speed must be 'max' or a positive number")
    except (ValueError, FaultSpecError, QuantityError) as exc:
        return _error(str(exc), EXIT_INVALID)

    bench = None
    try:
        if args.bench:
            from bench.config import BenchConfigError, load_bench_config, open_bench

            if faults:
                return _error("--fault works on the simulated bench only (no --bench)", EXIT_INVALID)
            try:
                config = load_bench_config(args.bench)
            except BenchConfigError as exc:
                return _error(str(exc), EXIT_INVALID)
            protocol = load_protocol(args.protocol, overrides)
            bench = open_bench(config, speed=speed)
        else:
            from bench.simbench import build_sim_bench, cell_datasheet, inject_faults

            protocol = load_protocol(args.protocol, overrides, cell_defaults=cell_datasheet)
            bench = build_sim_bench(protocol.cell.preset, speed=speed)
            inject_faults(bench, faults)
        out = Path(args.out) if args.out else default_run_path(protocol.name)
        if out.exists():
            return _error(f"{out}: run file exists; choose another --out (runs are never overwritten)", EXIT_INVALID)
        from bench.progress import progress_display

        with progress_display(len(protocol.flat_steps()), enabled=not args.no_progress and sys.stderr.isatty()) as cb:
            outcome = execute(protocol, bench, out, operator=args.operator, faults=faults,
                              observe_s=observe_s, progress=cb)
    except ProtocolError as exc:
        return _error(str(exc), EXIT_INVALID)
    except SetpointOutOfRange as exc:
        return _error(str(exc), EXIT_INVALID)
    except InstrumentError as exc:
        return _error(str(exc), EXIT_INSTRUMENT)
    finally:
        if bench is not None:
            bench.close()
    from bench.report import format_report

    result = outcome.result
    sys.stdout.write(format_report(outcome.report) + "\n")
    sys.stdout.write(f"{result.samples} samples, {result.test_time_s / 3600:.2f} h test time in "
                     f"{result.wall_time_s:.1f} s wall; run file {outcome.path}\n")
    return outcome.exit_code


def cmd_validate(args: argparse.Namespace) -> int:
    """``bench validate``: parse and check; print the step list."""
    from bench.simbench import cell_datasheet
    from protocols.errors import ProtocolError
    from protocols.loader import load_protocol
    from protocols.quantities import format_duration

    try:
        protocol = load_protocol(args.protocol, _overrides(args.set), cell_defaults=cell_datasheet)
    except (ProtocolError, ValueError) as exc:
        return _error(str(exc), 2)
    sys.stdout.write(f"{protocol.name}: valid ({protocol.source_path})\n")
    for step, cycle in protocol.flat_steps():
        limit = f" (at most {format_duration(step.duration_s)})" if step.duration_s and step.until else ""
        sys.stdout.write(f"  cycle {cycle}  line {step.line:>3}  {step.text}{limit}\n")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """``bench report``."""
    from bench.report import build_report, format_report
    from bench.runfile import RunFile, RunFileError

    try:
        with RunFile(args.run_file) as run:
            report = build_report(run)
    except RunFileError as exc:
        return _error(str(exc), 2)
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2, default=str) + "\n")
    else:
        sys.stdout.write(format_report(report) + "\n")
    return 0


def cmd_drivers(_args: argparse.Namespace) -> int:
    """``bench drivers``: the driver table."""
    from drivers.catalog import DRIVERS

    for info in sorted(DRIVERS.values(), key=lambda i: (i.role, i.name)):
        sys.stdout.write(f"{info.name:<20} {info.role:<12} {info.transport:<7} {info.description}\n")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """``bench check --bench FILE``: ``*IDN?`` of every instrument."""
    from bench.config import BenchConfigError, load_bench_config, open_bench
    from drivers.errors import InstrumentError

    try:
        config = load_bench_config(args.bench)
    except BenchConfigError as exc:
        return _error(str(exc), 2)
    try:
        bench = open_bench(config)
    except InstrumentError as exc:
        return _error(str(exc), 4)
    failed = False
    try:
        for role, inst in bench.roles().items():
            try:
                idn = inst.verify_identity()
                sys.stdout.write(f"{role:<12} ok    {config[role]['driver']:<18} {idn}\n")
            except InstrumentError as exc:
                failed = True
                sys.stdout.write(f"{role:<12} FAIL  {config[role]['driver']:<18} {exc}\n")
    finally:
        bench.close()
    return 4 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
