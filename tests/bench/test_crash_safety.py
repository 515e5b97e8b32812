"""Crash safety: a writer process SIGKILLs itself mid-run; every flushed row must survive.

The writer is the production RunWriter in a separate process; it kills itself after N flushed
batches plus some queued (unflushed) rows, so the instant is deterministic and no test waits on
the wall clock. ``bench perf`` runs the random-instant version (100 kills, bench/perf/crash.py).
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from bench.perf.crash import expected_rows, kill_at_random, run_self_kill
from bench.runfile.reader import RunFile


@pytest.mark.parametrize(("batches", "unflushed"), [(0, 13), (1, 0), (3, 17), (10, 49)])
def test_rows_up_to_the_last_flush_survive_kill9(tmp_path, batches, unflushed):
    path = tmp_path / "killed.h5"
    check = run_self_kill(path, batch_rows=50, kill_after_batches=batches, unflushed_rows=unflushed)
    assert check.readable, check.error
    # exactly the flushed batches: the queued rows were never written, no row is half-written
    assert check.rows_flushed_reported == batches * 50
    assert check.rows_in_file == batches * 50
    assert check.rows_lost_before_last_flush == 0 and check.rows_corrupt == 0
    with RunFile(path) as run:  # the ordinary reader (SWMR) reads it, values intact
        samples = run.samples
        assert run.attrs["status"] == "running"
    np.testing.assert_array_equal(samples, expected_rows(batches * 50))
    # an ordinary non-SWMR reader cannot open the killed file: that is what bench repair is for
    with pytest.raises(OSError, match="already open for write"):
        h5py.File(path, "r")
    assert check.repairable, check.error


def test_events_and_journal_flushed_before_the_kill_survive(tmp_path):
    path = tmp_path / "killed.h5"
    run_self_kill(path, batch_rows=20, kill_after_batches=11, unflushed_rows=5)
    with RunFile(path) as run:
        events = run.events
        journal = run.last_journal()
    # the writer records an event and a journal row after batches 5 and 10 (flushed at once)
    assert [e["message"] for e in events] == ["step 5", "step 10"]
    assert journal is not None and journal["next_step"] == 10


def test_kill_from_outside_after_a_random_number_of_flushes(tmp_path):
    import random

    rng = random.Random(7)
    for run in range(2):
        check = kill_at_random(tmp_path / f"r{run}.h5", rng, batch_rows=40, max_flushes=8, max_delay_s=0.0)
        assert check.readable and check.repairable, check.error
        assert check.rows_lost_before_last_flush == 0 and check.rows_corrupt == 0
        assert check.rows_in_file >= check.rows_flushed_reported
