"""``bench repair``: turn a run file left open by a crash into one any HDF5 reader opens."""

from __future__ import annotations

import argparse
import sys

from bench.commands.common import error


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench repair``."""
    repair = sub.add_parser(
        "repair", help="copy a crashed run file into one that non-SWMR readers open",
        description="A run killed mid-write leaves its file flagged 'open for write': SWMR readers "
                    "(bench report, bench plot, h5py swmr=True) read it as is; other tools refuse it. "
                    "This writes a closed copy (status 'interrupted' if it was 'running'); the original "
                    "is left untouched.")
    repair.add_argument("run_file")
    repair.add_argument("-o", "--output", help="output file (default RUN.repaired.h5 beside the input)")
    repair.set_defaults(handler=cmd_repair)


def cmd_repair(args: argparse.Namespace) -> int:
    """``bench repair RUN.h5 [-o OUT]`` (the repair runs in a child process with a time bound:
    damage that makes HDF5 spin is refused in one line instead of hanging)."""
    from bench.runfile.probe import repair_in_child
    from bench.runfile.reader import RunFileError
    from bench.runfile.repair import RepairResult

    try:
        result = RepairResult.from_dict(repair_in_child(args.run_file, args.output))
    except RunFileError as exc:
        return error(str(exc), 2)
    rows = result.rows.get("samples", 0)
    if result.damaged:
        dropped = ", ".join(f"/{name} {result.rows.get(name, 0)} of {n} rows" for name, n in result.stored.items()
                            if result.rows.get(name, 0) < n)
        chunks = ", ".join(f"dropped {k} chunk{'s' if k != 1 else ''} of /{name} (failed checksum or unreadable)"
                           for name, k in result.dropped_chunks.items())
        lost = "; ".join(result.lost)
        sys.stdout.write(f"{result.source} is damaged; salvaged into {result.output}: kept {rows} of "
                         f"{result.stored.get('samples', rows)} samples "
                         f"({'; '.join(p for p in (chunks, dropped, lost) if p)}), status {result.status_after}\n")
        return 0
    state = "was left open for write" if result.was_open_for_write else "was closed properly"
    sys.stdout.write(f"{result.source} {state}; wrote {result.output}: {rows} samples, "
                     f"status {result.status_after}\n")
    return 0
