"""The ``bench`` command line. Exit codes: 0 passed, 1 failed its criteria, 2 invalid input,
3 safety trip (bench safed), 4 instrument or communication failure (bench safed), 130 operator abort.

Each subcommand lives in its own module under ``bench.commands``; add a module there and its
name to ``COMMAND_MODULES``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from bench import __version__

logger = logging.getLogger("bench")

COMMAND_MODULES = (
    "bench.commands.run",
    "bench.commands.validate",
    "bench.commands.report",
    "bench.commands.instruments",
    "bench.commands.sim",
    "bench.commands.repair",
    "bench.commands.export",
    "bench.commands.plot",
    "bench.commands.resume",
    "bench.commands.perf",
    "bench.commands.runs",
    "bench.commands.jobs",
    "bench.commands.submit",
    "bench.commands.worker",
    "bench.commands.sweep",
)

EXAMPLES = """examples:
  bench run capacity_check                      run a shipped protocol on the built-in simulated bench
  bench run my_test.yaml --bench lab.toml       run on real instruments
  bench run cold_capacity --set rate=C/3 --out runs/cold.h5
  bench run capacity_check --fault internal_short@2h,resistance_ohm=0.05
  bench validate my_test.yaml                   check a protocol, print its steps
  bench report runs/RUN.h5 --json               verdict, conditions, metrics, safety events
  bench run capacity_check --speed 600 --live   watch it live (plot window in its own process)
  bench plot runs/RUN.h5 --png run.png          V, I, temperatures, capacity per cycle, Nyquist to a PNG
  bench export runs/RUN.h5 --format bdf-csv     Battery Data Format files (also bdf-parquet)
  bench repair runs/RUN.h5                      closed copy of a crashed run for non-SWMR readers
  bench resume runs/RUN.h5                      continue an interrupted run (kill -9) into the same file
  kill -USR1 PID                                pause / resume a running bench (output off, chamber held)
  bench drivers                                 list the instrument drivers
  bench check --bench lab.toml                  ask every instrument who it is
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench", description="CellBench: battery test bench controller.",
                                     epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"cellbench {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bench`` console script."""
    args = _parser().parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args))
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
