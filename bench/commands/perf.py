"""``bench perf``: measure the bench's speed, real-time behaviour, scale and data path."""

from __future__ import annotations

import argparse
import json
import logging
import sys

logger = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench perf``."""
    from bench.perf.runner import SECTIONS

    perf = sub.add_parser(
        "perf", help="measure acceleration, jitter, channel count, logging and analysis speed",
        description="Measure the bench: acceleration of a simulated run, per-sample cost by stage, PyBaMM "
                    "anchor, real-time jitter and channel count over loopback TCP, run-file logging and "
                    "analysis throughput, safety latency, kill -9 survival.",
        epilog="examples:\n  bench perf                 every figure (several minutes)\n"
               "  bench perf --quick --json  reduced sizes, one JSON object\n"
               "  bench perf --only acceleration,stages\n",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    perf.add_argument("--quick", action="store_true", help="reduced sizes and durations (said so in the output)")
    perf.add_argument("--json", action="store_true", help="print one JSON object")
    perf.add_argument("--only", default="", metavar="SECTIONS",
                      help=f"comma-separated sections to run: {','.join(SECTIONS)}")
    perf.set_defaults(handler=cmd_perf)


def cmd_perf(args: argparse.Namespace) -> int:
    """``bench perf``."""
    from bench.commands.common import error
    from bench.perf.report import format_perf
    from bench.perf.runner import run_perf

    only = tuple(s.strip() for s in args.only.split(",") if s.strip()) or None
    try:
        result = run_perf(args.quick, only, progress=lambda name: logger.info("perf: measuring %s", name))
    except ValueError as exc:
        return error(str(exc), 2)
    if args.json:
        from bench.commands.report import json_safe

        sys.stdout.write(json.dumps(json_safe(result), indent=2, default=str, allow_nan=False) + "\n")
    else:
        sys.stdout.write(format_perf(result) + "\n")
    return 0
