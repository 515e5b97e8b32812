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
            mark = {True: "met", False: "NOT MET", None: "not tested"}[claim.get("passed")]
            sys.stdout.write(f"claim [{mark}] {claim.get('text')} (observed {claim.get('observed')})\n")
        return 0
    try:  # runs whose heartbeats stopped show as interrupted (a read-only role just skips this)
        from bench.lab.catalog import RUN_STALE_S

        catalog.reap_runs(RUN_STALE_S)
    except Exception:  # noqa: BLE001 - listing must work without write rights
        pass
    filters = {name: getattr(args, name) for name in
               ("protocol", "cell", "bench", "host", "operator", "status", "verdict", "since", "until")}
    if args.runs_action == "search":
        filters["text"] = args.text
    rows = catalog.list_runs(limit=args.limit or None, **{k: v for k, v in filters.items() if v})
    if args.json:
        sys.stdout.write(to_json(rows) + "\n")
        return 0
    columns = [c for c in LIST_COLUMNS if c not in ("cell_preset", "ended_utc")]
    print_table([{**r, "run_id": r["run_id"][:8]} for r in rows], columns, {"bench": 28, "run_file": 60})
    return 0
