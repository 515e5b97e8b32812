"""``bench report``: verdict, conditions and metrics of a run file."""

from __future__ import annotations

import argparse
import json
import sys

from bench.commands.common import error


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench report``."""
    report = sub.add_parser("report", help="verdict and metrics of a run file")
    report.add_argument("run_file")
    report.add_argument("--json", action="store_true", help="print one JSON object")
    report.set_defaults(handler=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    """``bench report``."""
    from bench.report import build_report, format_report
    from bench.runfile import RunFile, RunFileError

    try:
        with RunFile(args.run_file) as run:
            report = build_report(run)
    except RunFileError as exc:
        return error(str(exc), 2)
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2, default=str) + "\n")
    else:
        sys.stdout.write(format_report(report) + "\n")
    return 0
