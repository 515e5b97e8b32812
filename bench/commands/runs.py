"""``bench runs list|show|search|sync``: the run catalog (see docs/lab.md)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from bench.commands.common import catalog_command, error

if TYPE_CHECKING:
    from bench.lab.catalog import Catalog  # (imported when the command runs: bench starts faster)

EXAMPLES = """examples:
  bench runs list                                       the newest 50 runs
  bench runs list --protocol cold_capacity --verdict fail --since 2026-11-01
  bench runs list --status running --bench 'rig-*' --json
  bench runs list --cell-id LG-M50-0042                 one cell's runs, oldest first, last capacity and fade
  bench runs show 3f2a                                  one run (id or unique prefix)
  bench runs search LOT-2291                            any field containing the text
  bench runs sync /data/runs                            register run files the catalog has not seen
"""
EXIT_INVALID, EXIT_UNREACHABLE = 2, 4


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench runs``."""
    from bench.lab.cliutil import add_catalog_option

    runs = sub.add_parser("runs", help="list, show, search and sync the run catalog", epilog=EXAMPLES,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = runs.add_subparsers(dest="runs_action", required=True)
    listing = actions.add_parser("list", help="runs matching filters, newest first")
    listing.add_argument("--cell-id", metavar="ID",
                         help="one cell's history: its runs in time order (oldest first) with its last measured "
                              "capacity and fade (from the last capacity check or RPT)")
    search = actions.add_parser("search", help="runs with TEXT in any field (and the filters)")
    search.add_argument("text", help="text to look for (id, protocol, cell, bench, host, operator, parameters, path)")
    for parser in (listing, search):
        parser.add_argument("--protocol", help="protocol name (* wildcard)")
        parser.add_argument("--cell", help="cell id or preset (* wildcard)")
        parser.add_argument("--bench", help="bench name (* wildcard)")
        parser.add_argument("--host", help="bench PC host name (* wildcard)")
        parser.add_argument("--operator", help="operator (* wildcard)")
        parser.add_argument("--status", help="comma-separated: queued,running,completed,tripped,failed,aborted,interrupted")
        parser.add_argument("--verdict", help="comma-separated: pass,fail,safety_trip,incomplete,...")
        parser.add_argument("--since", help="started on or after (date or ISO 8601 time, UTC)")
        parser.add_argument("--until", help="started before (a date includes that whole day)")
        parser.add_argument("--limit", type=int, default=50, help="at most N runs (0: all; default 50)")
        parser.add_argument("--json", action="store_true", help="print a JSON list")
        add_catalog_option(parser)
    show = actions.add_parser("show", help="one run with its claims and metrics")
    show.add_argument("run_id", help="run id or a unique prefix")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    add_catalog_option(show)
    sync = actions.add_parser("sync", help="register run files under DIR from their own provenance")
    sync.add_argument("directory", help="directory searched recursively for *.h5 run files")
    sync.add_argument("--json", action="store_true", help="print the counts as JSON")
    add_catalog_option(sync)
    runs.set_defaults(handler=catalog_command(cmd_runs))


def cmd_runs(args: argparse.Namespace) -> int:
    """``bench runs``: 0 done, 2 bad input, 4 catalog unreachable."""
    from sqlalchemy.exc import ArgumentError, DatabaseError

    from bench.lab.catalog import Catalog
    from bench.lab.db import describe_catalog_error

    try:
        catalog = Catalog(args.catalog)
    except ArgumentError as exc:
        return error(f"--catalog: {exc}", EXIT_INVALID)
    except DatabaseError as exc:
        return error(*describe_catalog_error(args.catalog, exc))
    try:
        return _dispatch(catalog, args)
    except (ValueError, LookupError) as exc:
        return error(str(exc), EXIT_INVALID)
    finally:
        catalog.close()


def _claim_line(claim: dict) -> str:
    """``claim [met] capacity >= rated (observed 4.814 Ah)``: a catalog claim (the report's claim
    object; older catalogs hold ``text`` / ``passed``) with its unit and no float noise."""
    status = claim.get("status") or {True: "met", False: "not met", None: "not tested"}[claim.get("passed")]
    mark = status.upper() if status == "not met" else status
    name = claim.get("name") or claim.get("text")
    observed = claim.get("observed")
    shown = f"{observed:.6g}" if isinstance(observed, float) else ("-" if observed is None else str(observed))
    unit = f" {claim['unit']}" if claim.get("unit") and observed is not None else ""
    reason = f"; {claim['reason']}" if claim.get("reason") else ""
    return f"claim [{mark}] {name} (observed {shown}{unit}{reason})"


def _dispatch(catalog: Catalog, args: argparse.Namespace) -> int:
    from bench.lab.catalog import LIST_COLUMNS
    from bench.lab.cliutil import print_table, to_json

    if args.runs_action == "sync":
        counts = catalog.sync(args.directory)
        if args.json:
            sys.stdout.write(to_json(counts) + "\n")
        else:
            sys.stdout.write(f"{counts['registered']} registered, {counts['updated']} updated, "
                             f"{counts['unchanged']} already known, {len(counts['errors'])} unreadable\n")
            for line in counts["errors"]:
                sys.stdout.write(f"  {line}\n")
        return 0 if not counts["errors"] else 1
    if args.runs_action == "show":
        run = catalog.run(args.run_id)
        if run is None:
            return error(f"run {args.run_id!r}: not in the catalog", EXIT_INVALID)
        if args.json:
            sys.stdout.write(to_json(run) + "\n")
            return 0
        for key, value in run.items():
            if key in ("claims", "metrics", "parameters", "instruments", "state"):
                continue
            sys.stdout.write(f"{key:16} {value if value is not None else '-'}\n")
        for key in ("parameters", "instruments", "metrics"):
            for name, value in (run.get(key) or {}).items():
                label = f"{key[:-1]}.{name}"
                sys.stdout.write(f"  {label:30} {value}\n")
        for claim in run.get("claims") or []:
            sys.stdout.write(_claim_line(claim) + "\n")
        return 0
    try:  # runs whose heartbeats stopped show as interrupted (a read-only role just skips this)
        from bench.lab.catalog import RUN_STALE_S

        catalog.reap_runs(RUN_STALE_S)
    except Exception:  # noqa: BLE001 - listing must work without write rights
        pass
    if getattr(args, "cell_id", None):
        return _cell_history(catalog, args)
    filters = {name: getattr(args, name) for name in
               ("protocol", "cell", "bench", "host", "operator", "status", "verdict", "since", "until")}
    if args.runs_action == "search":
        filters["text"] = args.text
    rows = catalog.list_runs(limit=args.limit or None, **{k: v for k, v in filters.items() if v})
    if args.json:
        sys.stdout.write(to_json(rows) + "\n")
        return 0
    from bench.lab.db import safe_url

    # the header names the catalog read (one per user by default: docs/lab.md); the cell is its own
    # column, so a long bench name never hides it
    sys.stdout.write(f"catalog: {safe_url(catalog.url)}  ({len(rows)} run{'s' if len(rows) != 1 else ''})\n")
    columns = [c for c in LIST_COLUMNS if c != "ended_utc"]
    print_table([{**r, "run_id": r["run_id"][:8]} for r in rows], columns, {"bench": 40, "run_file": 60})
    return 0


def _cell_history(catalog: Catalog, args: argparse.Namespace) -> int:
    """``bench runs list --cell-id ID``: the cell's runs oldest first, then its capacity and fade."""
    from bench.lab.cell_history import HISTORY_COLUMNS, cell_history
    from bench.lab.cliutil import print_table, to_json

    history = cell_history(catalog, args.cell_id)
    if args.json:
        sys.stdout.write(to_json(history) + "\n")
        return 0
    if not history["runs"]:
        sys.stdout.write(f"cell {args.cell_id}: no runs in the catalog\n")
        return 0
    print_table([{**r, "run_id": r["run_id"][:8]} for r in history["runs"]], HISTORY_COLUMNS,
                {"bench": 28, "run_file": 60})
    sys.stdout.write(_history_line(history) + "\n")
    return 0


def _history_line(history: dict) -> str:
    """One line: the cell's last measured capacity, where, and its fade."""
    cell_id = history["cell_id"]
    if history["capacity_ah"] is None:
        return f"cell {cell_id}: {len(history['runs'])} runs, no capacity check or RPT yet"
    line = (f"cell {cell_id}: last measured capacity {history['capacity_ah']:.4f} Ah (run "
            f"{history['measured_run_id'][:8]}")
    line += f", {history['measured_utc']:%Y-%m-%d %H:%M} UTC)" if history["measured_utc"] else ")"
    if history["fade_pct"] is not None:
        line += (f"; fade {history['fade_pct']:.2f} % since its first check ({history['first_capacity_ah']:.4f} Ah, "
                 f"{history['measurements']} measurements)")
    else:
        line += "; fade: one measurement so far"
    if history["capacity_of_rated_pct"] is not None:
        line += f"; {history['capacity_of_rated_pct']:.1f} % of rated {history['rated_capacity_ah']:g} Ah"
    return line
