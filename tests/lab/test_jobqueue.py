"""The job queue on SQLite and PostgreSQL: order, tags, cancel / retry, atomic claims under 8
concurrent worker processes, and a SIGKILLed worker's job marked interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.cli import main
from bench.lab.jobqueue import STALE_PERIODS, JobError, JobQueue
from bench.lab.worker import JobResult, Worker

ROOT = Path(__file__).resolve().parents[2]


def _worker_process(mode: str, url: str, name: str, out: Path, heartbeat_s: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.lab.helpers", mode, url, name, str(out), str(heartbeat_s)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_priority_then_fifo_and_tags(catalog_url):
    with JobQueue(catalog_url) as queue:
        low = queue.submit("capacity_check", priority=0)
        chamber = queue.submit("cold_capacity", needs=["chamber"], priority=5)
        high1 = queue.submit("capacity_check", settings={"rate": "1 A"}, priority=5)
        high2 = queue.submit("capacity_check", priority=5)
        eis = queue.submit("cold_capacity_eis", needs=["chamber", "eis"], priority=9)
        claimed = [queue.claim("rig-1", ["chamber"])["job_id"] for _ in range(4)]
        assert claimed == [chamber, high1, high2, low]  # priority first, FIFO within; eis job not matched
        assert queue.claim("rig-1", ["chamber"]) is None
        job = queue.claim("rig-2", ["eis", "chamber", "sim"])
        assert (job["job_id"], job["status"], job["worker"], job["attempts"]) == (eis, "running", "rig-2", 1)
        assert queue.job(high1)["settings"] == {"rate": "1 A"}
        assert queue.job(eis)["needs"] == ["chamber", "eis"]


def test_cancel_and_retry(catalog_url):
    with JobQueue(catalog_url) as queue:
        queued = queue.submit("capacity_check")
        running = queue.submit("capacity_check", needs=["x"])
        assert queue.cancel(queued) == "cancelled"
        assert queue.claim("w", ["x"])["job_id"] == running
        assert queue.cancel(running) == "cancel requested"
        assert queue.heartbeat(running, "w") is True  # the worker learns of it with its heartbeat
        assert queue.finish(running, "w", "cancelled", exit_code=130, run_file="/runs/job.h5")
        with pytest.raises(JobError, match="already cancelled"):
            queue.cancel(running)
        again = queue.retry(queued)
        assert queue.job(again)["status"] == "queued" and queue.job(again)["retry_of"] == queued
        resume = queue.retry(running, resume=True)
        job = queue.job(resume)
        assert (job["kind"], job["pin_worker"], job["run_file"], job["needs"]) == ("resume", "w", "/runs/job.h5", ["x"])
        assert queue.claim("other", ["x"])["job_id"] == again  # the resume waits for its own bench
        assert queue.claim("other", ["x"]) is None
        assert queue.claim("w", ["x"])["job_id"] == resume
        with pytest.raises(JobError, match="no such job"):
            queue.retry(999)


def test_jobs_commands(catalog_url, capsys):
    assert main(["submit", "capacity_check", "--set", "rate=1 A", "--needs", "sim", "--priority", "3",
                 "--count", "2", "--catalog", catalog_url, "--json"]) == 0
    ids = json.loads(capsys.readouterr().out)["job_ids"]
    assert main(["submit", "capacity_check", "--set", "rate=banana", "--catalog", catalog_url]) == 2
    assert "not queued" in capsys.readouterr().err
    assert main(["jobs", "cancel", str(ids[0]), "--catalog", catalog_url]) == 0
    assert capsys.readouterr().out == f"job {ids[0]}: cancelled\n"
    assert main(["jobs", "list", "--catalog", catalog_url, "--json"]) == 0
    listed = {j["job_id"]: j for j in json.loads(capsys.readouterr().out)}
    assert listed[ids[0]]["status"] == "cancelled" and listed[ids[1]]["status"] == "queued"
    assert listed[ids[1]]["settings"] == {"rate": "1 A"} and listed[ids[1]]["needs"] == ["sim"]
    assert main(["jobs", "retry", str(ids[1]), "--catalog", catalog_url]) == 2  # still queued
    assert "retry takes a finished job" in capsys.readouterr().err


def test_eight_workers_run_500_jobs_exactly_once(catalog_url, tmp_path):
    with JobQueue(catalog_url) as queue:
        ids = [queue.submit("capacity_check", priority=i % 3) for i in range(500)]
    outs = [tmp_path / f"worker{i}.txt" for i in range(8)]
    procs = [_worker_process("count", catalog_url, f"w{i}", out, 0.5) for i, out in enumerate(outs)]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    executed = [int(line) for out in outs if out.exists() for line in out.read_text().split()]
    assert sorted(executed) == sorted(ids)  # every job ran, none twice
    assert sum(1 for out in outs if out.exists() and out.read_text()) >= 2  # the work was shared
    with JobQueue(catalog_url) as queue:
        jobs = queue.list_jobs()
        assert {(j["status"], j["attempts"]) for j in jobs} == {("completed", 1)}
        assert {w["status"] for w in queue.list_workers()} == {"stopped"}


def test_killed_worker_job_marked_interrupted_within_three_heartbeats(catalog_url, tmp_path):
    period = 0.3
    with JobQueue(catalog_url) as queue:
        ids = [queue.submit("capacity_check") for _ in range(3)]
        proc = _worker_process("hold", catalog_url, "doomed", tmp_path / "doomed.txt", period)
        try:
            deadline = time.monotonic() + 30
            while queue.job(ids[0])["status"] != "running" or queue.job(ids[0])["heartbeat_s"] is None:
                assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read() if proc.poll() else ""
                time.sleep(0.02)  # bounded poll of a real process's progress
            time.sleep(period * 1.5)  # let it heartbeat at least once while holding the job
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        killed = time.monotonic()
        while queue.job(ids[0])["status"] == "running":
            queue.reap()  # what every other worker does once per heartbeat period
            assert time.monotonic() - killed < 10, "never marked interrupted"
            time.sleep(period / 10)
        elapsed = time.monotonic() - killed
        assert elapsed <= 3 * period, f"marked after {elapsed:.2f} s (> 3 periods)"
        job = queue.job(ids[0])
        assert job["status"] == "interrupted" and "stopped heartbeating" in job["message"]
        assert [queue.job(i)["status"] for i in ids[1:]] == ["queued", "queued"]  # no other job lost
    done = []
    survivor = Worker(catalog_url, name="survivor", heartbeat_s=period,
                      runner=lambda job, ctx: done.append(job["job_id"]) or JobResult("completed", 0))
    assert survivor.run(idle_exit_s=0.0) == 2 and done == ids[1:]
    assert STALE_PERIODS + 1 <= 3
