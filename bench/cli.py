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
from bench.commands.examples import EXAMPLES

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
    "bench.commands.optimize",
    "bench.commands.runs",
    "bench.commands.jobs",
    "bench.commands.submit",
    "bench.commands.worker",
    "bench.commands.sweep",
    "bench.commands.cells",
)



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
