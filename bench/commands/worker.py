"""``bench worker``: run queued jobs on this bench PC (see docs/lab.md)."""

from __future__ import annotations

import argparse
import signal
import threading

from bench.commands.common import catalog_command, error


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench worker``."""
    from bench.lab.cliutil import add_catalog_option
    from bench.lab.jobqueue import HEARTBEAT_S, STALE_PERIODS

    worker = sub.add_parser(
        "worker", help="claim and run queued jobs on this bench, one at a time",
        description="Claim queued jobs whose needed tags this bench has, one at a time, and run each as "
                    f"`bench run` does. Heartbeat every --heartbeat seconds; a job whose worker misses "
                    f"{STALE_PERIODS:g} heartbeats is marked interrupted by the other workers.",
        epilog="examples:\n  bench worker --bench lab.toml --tags rig-3 chamber eis\n"
               "  bench worker --tags sim --once          (the simulated bench: one job, then exit)\n",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    worker.add_argument("--bench", help="bench config (TOML) the jobs run on; default: the simulated bench")
    worker.add_argument("--tags", nargs="*", default=[], metavar="TAG", help="what this bench has / is")
    worker.add_argument("--name", help="worker name, unique in the lab (default: HOST-PID); "
                                       "`bench jobs retry --resume` pins a resume to it")
    worker.add_argument("--runs-dir", default="runs", help="where run files and job logs go (default runs/)")
    worker.add_argument("--heartbeat", type=float, default=HEARTBEAT_S, metavar="S",
                        help=f"heartbeat period in seconds (default {HEARTBEAT_S:g})")
    worker.add_argument("--once", action="store_true", help="run at most one job, then exit")
    worker.add_argument("--max-jobs", type=int, default=None, metavar="N", help="exit after N jobs")
    worker.add_argument("--idle-exit", type=float, default=None, metavar="S",
                        help="exit when nothing was claimable for S seconds")
    add_catalog_option(worker)
    worker.set_defaults(handler=catalog_command(cmd_worker))


def cmd_worker(args: argparse.Namespace) -> int:
    """``bench worker``: 0 when it stopped (SIGINT / SIGTERM / --once / --idle-exit), 2 bad input,
    4 catalog unreachable at start."""
    from pathlib import Path

    from sqlalchemy.exc import ArgumentError, DatabaseError

    from bench.lab.db import describe_catalog_error
    from bench.lab.worker import Worker

    if args.bench and not Path(args.bench).is_file():
        return error(f"--bench {args.bench}: no such file", 2)
    if args.heartbeat <= 0:
        return error("--heartbeat must be positive", 2)
    try:
        worker = Worker(args.catalog, name=args.name, tags=args.tags, heartbeat_s=args.heartbeat,
                        runs_dir=args.runs_dir, bench_file=str(Path(args.bench).resolve()) if args.bench else None)
    except ArgumentError as exc:
        return error(f"--catalog: {exc}", 2)
    except DatabaseError as exc:
        return error(*describe_catalog_error(args.catalog, exc))
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            # stop claiming; a running job finishes first (stop the job itself with `bench jobs cancel`)
            signal.signal(sig, lambda _s, _f: worker.stop.set())
    # a worker's own life is its output: each job claimed, run and finished with its verdict
    import logging

    worker_log = logging.getLogger("bench.lab.worker")
    if worker_log.getEffectiveLevel() > logging.INFO:
        worker_log.setLevel(logging.INFO)
    max_jobs = 1 if args.once else args.max_jobs
    worker.run(max_jobs=max_jobs, idle_exit_s=args.idle_exit if args.idle_exit is not None else (0.0 if args.once else None))
    return 0
