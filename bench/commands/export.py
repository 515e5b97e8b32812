"""``bench export``: Battery Data Format files (CSV or Parquet) from a run file."""

from __future__ import annotations

import argparse
import sys

from bench.commands.common import error


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench export``."""
    export = sub.add_parser(
        "export", help="write Battery Data Format files (samples, EIS, metadata)",
        description="Samples with the BDF labels (Test Time / s, Voltage / V, Current / A ...; current "
                    "positive when charging), impedance spectra if any (RUN.eis.csv|parquet) and the "
                    "provenance (RUN.metadata.json).")
    export.add_argument("run_file")
    export.add_argument("--format", required=True, choices=("bdf-csv", "bdf-parquet"))
    export.add_argument("-o", "--output", help="samples file (default RUN.bdf.csv / RUN.bdf.parquet beside the run)")
    export.add_argument("--force", action="store_true", help="replace existing export files")
    export.set_defaults(handler=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    """``bench export RUN.h5 --format bdf-csv|bdf-parquet [-o FILE]``."""
    from bench.runfile.export import ExportError, export_run
    from bench.runfile.probe import check_in_child
    from bench.runfile.reader import RunFileError

    try:
        check_in_child(args.run_file)  # no damage can hang this process (a child opens it first)
        result = export_run(args.run_file, args.format, args.output, overwrite=args.force)
    except (ExportError, RunFileError) as exc:
        return error(str(exc), 2)
    except OSError as exc:
        return error(f"{args.output or args.run_file}: {exc.strerror or exc}", 2)
    sys.stdout.write(f"{result.samples_path}: {result.rows} rows, {len(result.columns)} BDF columns\n")
    if result.eis_path is not None:
        sys.stdout.write(f"{result.eis_path}: {result.eis_points} impedance points\n")
    sys.stdout.write(f"{result.metadata_path}: provenance\n")
    return 0
