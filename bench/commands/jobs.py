"""``bench jobs list|cancel|retry|workers``: the job queue (see docs/lab.md)."""

from __future__ import annotations

import argparse
import sys

from bench.commands.common import catalog_command, error

EXAMPLES = """examples:
  bench jobs list                         queued, running and recently ended jobs (priority, then FIFO)
  bench jobs list --status failed,interrupted --json
  bench jobs cancel 42                    a queued job now; a running one is aborted safely by its worker
  bench jobs retry 42                     queue it again (a new job)
  bench jobs retry 42 --resume            continue its run file on the same worker (bench resume)
  bench jobs workers                      workers, their tags and seconds since their last heartbeat
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench jobs``."""
    from bench.lab.cliutil import add_catalog_option

    jobs = sub.add_parser("jobs", help="list, cancel and retry queued jobs; list workers", epilog=EXAMPLES,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = jobs.add_subparsers(dest="jobs_action", required=True)
    listing = actions.add_parser("list", help="jobs in queue order")
    listing.add_argument("--status", help="comma-separated statuses")
    listing.add_argument("--all", action="store_true",
                         help="every job (default: queued and running ones, and those that ended in the last 24 h)")
    listing.add_argument("--worker", help="jobs of one worker")
    listing.add_argument("--limit", type=int, default=0, help="at most N jobs (default all)")
    listing.add_argument("--json", action="store_true", help="print a JSON list")
    cancel = actions.add_parser("cancel", help="cancel a queued job, or abort a running one safely")
    cancel.add_argument("job_ids", nargs="+", type=int, metavar="ID")
    retry = actions.add_parser("retry", help="queue a finished job again (a new job id)")
    retry.add_argument("job_ids", nargs="+", type=int, metavar="ID")
    retry.add_argument("--resume", action="store_true",
                       help="continue the job's run file with bench resume on the same worker")
    retry.add_argument("--priority", type=int, default=None, help="priority of the new job (default: the old one's)")
    workers = actions.add_parser("workers", help="workers and their last heartbeat")
    workers.add_argument("--json", action="store_true", help="print a JSON list")
    for parser in (listing, cancel, retry, workers):
        add_catalog_option(parser)
    jobs.set_defaults(handler=catalog_command(cmd_jobs))


def cmd_jobs(args: argparse.Namespace) -> int:
    """``bench jobs``: 0 done, 2 bad input (unknown job, wrong state), 4 catalog unreachable."""
    from sqlalchemy.exc import ArgumentError, DatabaseError

    from bench.lab.cliutil import print_table, to_json
    from bench.lab.db import describe_catalog_error
    from bench.lab.jobqueue import JobError, JobQueue

    try:
        queue = JobQueue(args.catalog)
    except ArgumentError as exc:
        return error(f"--catalog: {exc}", 2)
    except DatabaseError as exc:
        return error(*describe_catalog_error(args.catalog, exc))
    code = 0
    try:
        if args.jobs_action == "list":
            status = [s.strip() for s in args.status.split(",")] if args.status else None
            queue.reap()
            import datetime as dt

            since = None if args.all or status else dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=1)
            rows = queue.list_jobs(status=status, worker=args.worker, limit=args.limit or None, ended_since=since)
            if args.json:
                sys.stdout.write(to_json(rows) + "\n")
            else:
                print_table(rows, ("job_id", "priority", "status", "protocol", "cell_id", "needs", "worker",
                                   "submitted_utc", "exit_code", "verdict", "run_file"), {"run_file": 60, "protocol": 30})
        elif args.jobs_action == "workers":
            rows = queue.list_workers()
            if args.json:
                sys.stdout.write(to_json(rows) + "\n")
            else:
                print_table(rows, ("name", "host", "status", "job_id", "tags", "silent_s", "bench_file"))
        else:
            for job_id in args.job_ids:
                try:
                    if args.jobs_action == "cancel":
                        sys.stdout.write(f"job {job_id}: {queue.cancel(job_id)}\n")
                    else:
                        new = queue.retry(job_id, resume=args.resume, priority=args.priority)
                        sys.stdout.write(f"job {job_id}: queued again as job {new}"
                                         f"{' (resume on its worker)' if args.resume else ''}\n")
                except JobError as exc:
                    code = error(str(exc), 2)
    finally:
        queue.close()
    return code
