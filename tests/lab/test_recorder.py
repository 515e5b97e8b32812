"""The recorder never holds up a run: catalog writes off the calling thread; a database that is
stopped mid-run or refuses the credentials costs one warning; the catalog catches up."""

from __future__ import annotations

import logging
import time

import pytest

from bench.lab.catalog import Catalog
from bench.lab.provenance import file_sha256, read_attributes
from bench.lab.recorder import CatalogRecorder

#: A call on the sample path must return at once: far below one sample period (1 s), with room for
#: a loaded CI machine descheduling the thread; a call that waited for the database would take seconds.
MAX_CALL_S = 0.05


def _report(run_file):
    from bench.lab.provenance import build_report

    return build_report(run_file)


def _wait_for(predicate, timeout_s: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _status(catalog, run_id):
    try:
        return (catalog.run(run_id) or {}).get("status")
    except Exception:  # noqa: BLE001 - the server is still starting
        return None


def _warnings(caplog):
    return [r for r in caplog.records if r.name == "bench.lab.recorder" and r.levelno >= logging.WARNING]


def test_recorder_writes_a_run_through_its_life(catalog_url, run_file):
    attrs = read_attributes(run_file)
    report = _report(run_file)
    recorder = CatalogRecorder(catalog_url, job_id=7)
    run_id = recorder.run_started(attrs, run_file)
    recorder.heartbeat({"step": 1, "test_time_s": 300.0})
    assert recorder.close(timeout_s=20)
    with Catalog(catalog_url) as catalog:
        row = catalog.run(run_id)
        assert (row["status"], row["job_id"], row["state"]) == ("running", 7, {"step": 1, "test_time_s": 300.0})
        assert row["heartbeat_s"] is not None and row["host"]
    recorder = CatalogRecorder(catalog_url)
    assert recorder.run_started(attrs, run_file) == run_id  # the same run, the same id
    recorder.run_finished("completed", report["verdict"], report["criteria"], report["metrics"], run_file,
                          test_time_s=attrs["test_time_s"])
    recorder.heartbeat({"late": True})  # after the finish: must not reopen the run
    assert recorder.close(timeout_s=20)
    with Catalog(catalog_url) as catalog:
        row = catalog.run(run_id)
        assert (row["status"], row["verdict"]) == ("completed", "pass")
        assert row["run_file_sha256"] == file_sha256(run_file)
        assert row["claims"][0]["passed"] is True and row["metrics"]["samples"] == report["metrics"]["samples"]
        assert catalog.sync(run_file.parent)["unchanged"] == 1  # sync agrees on the id: nothing new


def test_refused_credentials_one_warning_then_sync_catches_up(pg, run_file, caplog):
    url = pg.create_database()
    wrong = url.replace("cellbench@", "intruder:s3cret-pw@")
    recorder = CatalogRecorder(wrong, retry_s=0.05)
    attrs = read_attributes(run_file)
    t0 = time.perf_counter()
    recorder.run_started(attrs, run_file)
    for i in range(50):
        recorder.heartbeat({"i": i})
    recorder.run_finished("completed", "pass", [], {}, run_file)
    assert (time.perf_counter() - t0) / 52 < MAX_CALL_S
    _wait_for(lambda: _warnings(caplog), what="the warning")
    seen = recorder.failed_attempts
    _wait_for(lambda: recorder.failed_attempts >= seen + 5, what="several more failed attempts")  # ...
    assert recorder.close(timeout_s=0.2) is False
    warnings = _warnings(caplog)
    assert len(warnings) == 1  # ... and still one warning
    assert "intruder" in warnings[0].getMessage() and "s3cret-pw" not in caplog.text  # never the password
    with Catalog(url) as catalog:
        assert catalog.sync(run_file.parent)["registered"] == 1
        assert catalog.list_runs()[0]["verdict"] == "pass"


def test_postgres_stopped_mid_run_then_started_again(pg, run_file, caplog):
    caplog.set_level(logging.INFO, logger="bench.lab.recorder")
    url = pg.create_database()
    attrs = read_attributes(run_file)
    report = _report(run_file)
    recorder = CatalogRecorder(url, retry_s=0.1)
    run_id = recorder.run_started(attrs, run_file)
    with Catalog(url) as catalog:
        _wait_for(lambda: (catalog.run(run_id) or {}).get("status") == "running", what="the start row")
        catalog.engine.dispose()
        pg.stop()
        try:
            slowest = 0.0
            for i in range(100):  # the run goes on: a heartbeat per sample period
                t0 = time.perf_counter()
                recorder.heartbeat({"step": 2, "sample": i})
                slowest = max(slowest, time.perf_counter() - t0)
            t0 = time.perf_counter()
            recorder.run_finished("completed", report["verdict"], report["criteria"], report["metrics"], run_file)
            slowest = max(slowest, time.perf_counter() - t0)
            assert slowest < MAX_CALL_S, f"a recorder call took {slowest * 1e3:.1f} ms with the database down"
            _wait_for(lambda: _warnings(caplog), what="the warning")
            assert recorder.pending > 0
        finally:
            pg.start()
        # no more calls from the run: the recorder retries on its own and catches up
        _wait_for(lambda: _status(catalog, run_id) == "completed", timeout_s=30, what="the catch-up")
        assert recorder.close(timeout_s=5) and recorder.pending == 0
        assert len(_warnings(caplog)) == 1
        assert any("caught up" in r.getMessage() for r in caplog.records if r.name == "bench.lab.recorder")
        row = catalog.run(run_id)
        assert (row["status"], row["verdict"], row["run_file_sha256"]) == ("completed", "pass", file_sha256(run_file))


@pytest.mark.parametrize("status,expected", [("safety_trip", "tripped"), ("instrument_failure", "failed"),
                                             ("aborted", "aborted")])
def test_run_file_statuses_map_to_catalog_statuses(tmp_path, run_file, status, expected):
    url = f"sqlite:///{tmp_path / 'c.sqlite'}"
    recorder = CatalogRecorder(url)
    run_id = recorder.run_started(read_attributes(run_file), run_file)
    recorder.run_finished(status, status, [], {"test_time_s": 12.0}, run_file)
    assert recorder.close(timeout_s=20)
    with Catalog(url) as catalog:
        assert catalog.run(run_id)["status"] == expected


def test_for_run_takes_the_job_from_the_environment_and_off_disables(tmp_path, run_file, monkeypatch):
    monkeypatch.setenv("CELLBENCH_JOB_ID", "41")
    monkeypatch.setenv("CELLBENCH_CATALOG", f"sqlite:///{tmp_path / 'env.sqlite'}")
    recorder = CatalogRecorder.for_run()
    assert recorder.job_id == 41 and recorder.url.endswith("env.sqlite")
    off = CatalogRecorder.for_run("off")
    off.run_started(read_attributes(run_file), run_file)
    off.heartbeat({"step": 1})
    off.run_finished("completed", "pass", [], {}, run_file)
    assert off.close(timeout_s=0) and off.pending == 0 and not (tmp_path / "off").exists()


def test_slow_database_never_holds_up_the_run(pg, run_file):
    """A database that hangs (a table locked by another session): every call returns at once, the
    writes wait in the recorder, and go through when the lock is released."""
    import psycopg

    url = pg.create_database()
    Catalog(url).close()  # tables exist
    attrs = read_attributes(run_file)
    dbname = url.rsplit("/", 1)[1]
    with psycopg.connect(host="127.0.0.1", port=pg.port, user="cellbench", dbname=dbname) as locker:
        locker.execute("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE")  # held until this transaction ends
        recorder = CatalogRecorder(url, retry_s=0.1)
        t0 = time.perf_counter()
        run_id = recorder.run_started(attrs, run_file)
        for i in range(200):
            recorder.heartbeat({"sample": i})
        recorder.run_finished("completed", "pass", [], {}, run_file)
        assert time.perf_counter() - t0 < MAX_CALL_S * 5  # 202 calls
        assert recorder.close(timeout_s=0.3) is False and recorder.pending >= 2  # stuck behind the lock
        locker.rollback()  # the database answers again
    recorder = CatalogRecorder(url)  # (close() ended the first thread) the same run recorded again
    recorder.run_started(attrs, run_file)
    recorder.run_finished("completed", "pass", [], {}, run_file)
    assert recorder.close(timeout_s=20)
    with Catalog(url) as catalog:
        assert catalog.run(run_id)["status"] == "completed"
