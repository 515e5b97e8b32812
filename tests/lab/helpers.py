"""A bench worker in its own process for the queue tests (``python -m tests.lab.helpers ...``).

Modes: ``count`` runs each job instantly and appends its id to OUT (one line per execution, so a
job run twice shows twice); ``hold`` appends the id, then holds the job until it is cancelled or
60 s pass (the test kills the process long before).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from bench.lab.worker import JobContext, JobResult, Worker


def main(argv: list[str]) -> int:
    mode, url, name, out, heartbeat_s = argv[0], argv[1], argv[2], Path(argv[3]), float(argv[4])
    logging.basicConfig(level=logging.WARNING)
    handle = open(out, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives as long as the process

    def run(job: dict, ctx: JobContext) -> JobResult:
        handle.write(f"{job['job_id']}\n")
        handle.flush()
        if mode == "hold":
            ctx.cancelled.wait(60.0)
        return JobResult("completed", 0)

    worker = Worker(url, name=name, runner=run, heartbeat_s=heartbeat_s, poll_s=0.02)
    worker.run(idle_exit_s=0.5 if mode == "count" else None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
