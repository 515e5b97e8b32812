"""A bench worker running real ``bench run`` jobs: submit -> worker -> run file -> catalog row,
and the database stopped while a job runs."""

from __future__ import annotations

import json
import logging
import threading
import time

from bench.cli import main
from bench.lab.catalog import Catalog
from bench.lab.jobqueue import JobQueue
from bench.lab.provenance import read_attributes
from bench.lab.worker import SubprocessRunner, Worker


def _wait_for(predicate, timeout_s: float = 120.0, what: str = "") -> None:  # bounded; generous for a loaded CI
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _file_status(path) -> str | None:
    try:
        return read_attributes(path).get("status")
    except OSError:  # not there yet, or the writer holds it before switching to SWMR
        return None


def test_submit_then_worker_once_runs_and_registers(tmp_path, short_protocol, capsys, caplog):
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    runs_dir = tmp_path / "runs"
    assert main(["submit", str(short_protocol), "--set", "rate=1.5 A", "--cell-id", "LOT-9-004", "--needs", "sim",
                 "--catalog", url, "--json"]) == 0
    job_id = json.loads(capsys.readouterr().out)["job_ids"][0]
    # a worker without the tag claims nothing
    assert main(["worker", "--once", "--tags", "chamber", "--catalog", url, "--runs-dir", str(runs_dir)]) == 0
    assert JobQueue(url).job(job_id)["status"] == "queued"
    with caplog.at_level(logging.INFO, logger="bench.lab.worker"):
        assert main(["worker", "--once", "--tags", "sim", "--name", "rig-1", "--heartbeat", "0.5", "--catalog", url,
                     "--runs-dir", str(runs_dir)]) == 0
    # the worker says what it claimed and how it ended (issue 28), and leaves no lock file behind
    said = [r.getMessage() for r in caplog.records if r.name == "bench.lab.worker"]
    assert any(m.startswith(f"job {job_id} claimed:") for m in said), said
    assert any(m.startswith(f"job {job_id} finished: completed, verdict pass, exit code 0") for m in said), said
    assert not list(runs_dir.glob(".worker-*.lock"))
    capsys.readouterr()
    assert main(["jobs", "list", "--all", "--catalog", url]) == 0
    listing = capsys.readouterr().out
    assert "verdict" in listing.splitlines()[0] and " pass " in listing, listing
    with JobQueue(url) as queue:
        job = queue.job(job_id)
        assert (job["status"], job["exit_code"], job["worker"]) == ("completed", 0, "rig-1"), job["message"]
        assert [w["status"] for w in queue.list_workers()] == ["stopped", "stopped"]
    with Catalog(url) as catalog:
        (run,) = catalog.list_runs(job_id=job_id)
    assert (run["run_id"], run["run_file"]) == (job["run_id"], job["run_file"])
    assert (run["verdict"], run["cell_id"], run["parameters"]["rate"]) == ("pass", "LOT-9-004", "1.5 A")
    attributes = read_attributes(run["run_file"])
    assert (attributes["status"], attributes["cell_id"]) == ("completed", "LOT-9-004")  # the job's cell id in its file
    assert (runs_dir / f"job-{job_id}.log").read_text().count("PASS") == 1


def test_database_stopped_while_a_job_runs(pg, tmp_path, short_protocol, caplog):
    url = pg.create_database()
    with JobQueue(url) as queue:
        job_id = queue.submit(str(short_protocol))
    runner = SubprocessRunner(url, tmp_path / "runs", extra_args=["--speed", "900"])  # 30 min simulated: ~2 s wall
    worker = Worker(url, name="rig-pg", runner=runner, heartbeat_s=0.2, runs_dir=tmp_path / "runs")
    thread = threading.Thread(target=worker.run, kwargs={"max_jobs": 1}, daemon=True)
    thread.start()
    try:
        with JobQueue(url) as queue:
            _wait_for(lambda: queue.job(job_id)["pid"] is not None, what="the job process")
        pg.stop()
        try:
            run_file = tmp_path / "runs" / f"job-{job_id}_sweep_short.h5"
            _wait_for(lambda: _file_status(run_file) not in (None, "running"), what="the run to end")
            assert _file_status(run_file) == "completed"  # the run went on and its file is complete
            _wait_for(lambda: any(r.name == "bench.lab.worker" and r.levelno == logging.WARNING
                                  for r in caplog.records), what="the worker's warning")
        finally:
            pg.start()
        thread.join(timeout=30)
        assert not thread.is_alive()
    finally:
        worker.stop.set()
    worker_warnings = [r for r in caplog.records if r.name == "bench.lab.worker" and r.levelno >= logging.WARNING]
    assert len(worker_warnings) == 1 and "unreachable" in worker_warnings[0].getMessage()
    with JobQueue(url) as queue:
        job = queue.job(job_id)
    assert job["status"] == "completed" and job["run_id"]
    with Catalog(url) as catalog:
        run = catalog.run(job["run_id"])
    assert (run["status"], run["verdict"], run["job_id"]) == ("completed", "pass", job_id)


def _journal_rows(path) -> int:
    import h5py

    try:
        with h5py.File(path, "r", swmr=True, libver="latest") as handle:
            return int(handle["journal"].shape[0])
    except (OSError, KeyError):
        return 0


def test_interrupted_job_resumed_on_its_bench(tmp_path, short_protocol, capsys):
    """kill -9 of a job's run, then `bench jobs retry --resume`: the same bench continues the file."""
    import os
    import signal
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    run_file = runs_dir / "killed.h5"
    with JobQueue(url) as queue:
        job_id = queue.submit(str(short_protocol))
        assert queue.claim("rig-r", [])["job_id"] == job_id
        proc = subprocess.Popen([sys.executable, "-m", "bench.cli", "run", str(short_protocol), "--out", str(run_file),
                                 "--no-progress", "--speed", "300"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_for(lambda: _journal_rows(run_file) >= 2, what="the run's journal")
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        assert _file_status(run_file) == "running"  # killed: the file still says running
        queue.finish(job_id, "rig-r", "interrupted", run_file=str(run_file), message="bench PC lost power")
    assert main(["jobs", "retry", str(job_id), "--resume", "--catalog", url]) == 0
    assert "(resume on its worker)" in capsys.readouterr().out
    # another bench never takes it; its own bench does
    assert main(["worker", "--once", "--name", "rig-other", "--catalog", url, "--runs-dir", str(runs_dir)]) == 0
    assert main(["worker", "--once", "--name", "rig-r", "--catalog", url, "--runs-dir", str(runs_dir)]) == 0
    with JobQueue(url) as queue:
        (resume,) = [j for j in queue.list_jobs() if j["retry_of"] == job_id]
    assert (resume["kind"], resume["status"], resume["worker"]) == ("resume", "completed", "rig-r"), resume["message"]
    attrs = read_attributes(run_file)
    assert (attrs["status"], attrs["resume_count"]) == ("completed", 1)
    with Catalog(url) as catalog:
        run = catalog.run(resume["run_id"])
    assert (run["status"], run["verdict"], run["run_file"]) == ("completed", "pass", str(run_file.resolve()))
