"""``bench report``: verdict, conditions and metrics of a run file."""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from typing import Any

import numpy as np

from bench.commands.common import error

logger = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench report``."""
    report = sub.add_parser("report", help="verdict and metrics of a run file (or of an optimisation study)")
    report.add_argument("run_file", help="run file, or a study directory made by bench optimize")
    report.add_argument("--json", action="store_true", help="print one JSON object")
    report.add_argument("--html", metavar="DIR", help="also write DIR/index.html with PNG plots")
    report.add_argument("--dqdv", nargs="?", const=-1, type=int, metavar="STEP",
                        help="add dQ/dV of step STEP (default: the last full discharge)")
    report.set_defaults(handler=cmd_report)


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, ±inf) replaced by None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, np.generic):
        return json_safe(value.item())
    return value


def cmd_report(args: argparse.Namespace) -> int:
    """``bench report``."""
    from bench.optimize.study_report import is_study

    if is_study(args.run_file):
        return cmd_study_report(args)
    from bench.report.verdict import build_report, format_report
    from bench.runfile.probe import check_in_child
    from bench.runfile.reader import RunFile, RunFileError

    try:
        check_in_child(args.run_file)  # no damage can hang this process (a child opens it first)
        with RunFile(args.run_file) as run:
            report = build_report(run)
            if args.dqdv is not None:
                from bench.analysis.cycles import dqdv

                report["dqdv"] = dqdv(run, None if args.dqdv < 0 else args.dqdv)
            elif args.html:  # the page shows dQ/dV of the last full discharge when the run has one
                from bench.analysis.cycles import dqdv

                try:
                    report["dqdv"] = dqdv(run, None)
                except ValueError as exc:
                    logger.info("no dQ/dV plot: %s", exc)
    except (RunFileError, ValueError) as exc:
        return error(str(exc), 2)
    if args.html:
        from bench.report.html import write_html_report

        try:
            page = write_html_report(args.run_file, args.html, report, dqdv=report.get("dqdv"))
        except OSError as exc:
            return error(str(exc), 2)
        sys.stderr.write(f"report page: {page}\n")
    if args.json:  # valid JSON: NaN and infinities become null
        sys.stdout.write(json.dumps(json_safe(report), indent=2, default=str, allow_nan=False) + "\n")
    else:
        text = format_report(report)
        if args.dqdv is not None and report.get("dqdv"):
            from bench.analysis.cycles import format_dqdv

            text += "\n" + format_dqdv(report["dqdv"])
        sys.stdout.write(text + "\n")
    return 0


def cmd_study_report(args: argparse.Namespace) -> int:
    """``bench report STUDY``: proposals by batch, objective vs batch, best profiles, conditions."""
    from bench.optimize.study import StudyError
    from bench.optimize.study_report import build_study_report, format_study_report, write_study_html

    try:
        report = build_study_report(args.run_file)
    except StudyError as exc:
        return error(str(exc), 2)
    if args.html:
        try:
            page = write_study_html(report, args.html)
        except OSError as exc:
            return error(f"{args.html}: {exc.strerror or exc}", 2)
        sys.stderr.write(f"report page: {page}\n")
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2, default=str) + "\n")
    else:
        sys.stdout.write(format_study_report(report) + "\n")
    return 0
