"""``bench submit PROTOCOL``: queue a job for the bench workers (see docs/lab.md)."""

from __future__ import annotations

import argparse
import sys

from bench.commands.common import catalog_command, error, overrides


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench submit``."""
    from bench.lab.cliutil import add_catalog_option

    submit = sub.add_parser(
        "submit", help="queue a protocol run for the first free bench worker with the needed tags",
        epilog="examples:\n  bench submit cold_capacity --set rate=C/3 --cell lg_inr21700_m50 --cell-id LOT-2291-017 --needs chamber\n"
               "  bench submit capacity_check --priority 10 --needs rig-3\n",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    submit.add_argument("protocol", help="protocol file or shipped protocol name (as the worker sees it)")
    submit.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="override a protocol parameter")
    from bench.commands.cellopts import add_cell_option

    add_cell_option(submit)  # the worker runs the job with --set cell=NAME (the same option)
    submit.add_argument("--cell-id", metavar="ID", help="the cell's id (serial / lot number), kept with the job and its run")
    submit.add_argument("--needs", nargs="+", default=[], metavar="TAG", help="tags a worker must have, e.g. chamber eis")
    submit.add_argument("--priority", type=int, default=0, help="higher runs first; FIFO within a priority (default 0)")
    submit.add_argument("--count", type=int, default=1, help="queue N identical jobs (default 1)")
    submit.add_argument("--no-validate", action="store_true", help="do not check the protocol here first")
    submit.add_argument("--json", action="store_true", help="print the job ids as JSON")
    add_catalog_option(submit)
    submit.set_defaults(handler=catalog_command(cmd_submit))


def cmd_submit(args: argparse.Namespace) -> int:
    """``bench submit``: 0 queued, 2 bad input, 4 catalog unreachable."""
    from sqlalchemy.exc import ArgumentError, DatabaseError

    from bench.lab.db import describe_catalog_error
    from bench.lab.jobqueue import JobQueue

    try:
        settings = overrides(args.set)
        if args.cell:
            if settings.get("cell", args.cell) != args.cell:
                raise ValueError(f"--cell {args.cell} and --set cell={settings['cell']} name different cells")
            settings["cell"] = args.cell
        if args.count < 1:
            raise ValueError("--count must be at least 1")
    except ValueError as exc:
        return error(str(exc), 2)
    if not args.no_validate:  # the public `bench validate` (simulated bench's cell presets), output dropped
        import contextlib
        import io

        from bench.cli import main

        argv = ["validate", args.protocol] + [f"--set={k}={v}" for k, v in settings.items()]
        with contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
        if code != 0:
            return error(f"{args.protocol}: not queued (bench validate failed, see above; --no-validate skips)", 2)
    try:
        with JobQueue(args.catalog) as queue:
            ids = [queue.submit(args.protocol, settings=settings, cell_id=args.cell_id, needs=args.needs,
                                priority=args.priority) for _ in range(args.count)]
    except ArgumentError as exc:
        return error(f"--catalog: {exc}", 2)
    except DatabaseError as exc:
        return error(*describe_catalog_error(args.catalog, exc))
    if args.json:
        import json

        sys.stdout.write(json.dumps({"job_ids": ids}) + "\n")
    else:
        sys.stdout.write(f"queued job{'s' if len(ids) > 1 else ''} {', '.join(map(str, ids))}: {args.protocol}"
                         f"{' needs ' + ','.join(args.needs) if args.needs else ''} (priority {args.priority})\n")
    return 0
