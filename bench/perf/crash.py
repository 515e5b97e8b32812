"""Crash safety of the run file, measured: writers killed with SIGKILL, files checked after.

Each writer is a separate Python process appending rows through the production
:class:`bench.runfile.writer.RunWriter` (SWMR, batched, flushed). After every completed flush it
reports the number of rows flushed on stdout. The parent kills it with ``SIGKILL`` and then
checks the file: it must open (``swmr=True``), every row up to the last *reported* flush must
be there with exactly the values written, and ``bench repair`` must turn it into a file that
an ordinary reader opens.

Two ways to pick the kill instant:

* :func:`measure_kill9` (``bench perf``): a random number of flushes plus a random wall-clock
  delay (the writer keeps writing meanwhile, so the signal lands anywhere: inside a flush,
  between rows, during an event or journal write);
* :func:`run_self_kill` (unit tests, no wall-clock sleep): the writer kills itself after a
  given number of flushed batches plus a given number of queued, unflushed rows.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from bench.runfile.layout import SAMPLE_DTYPE

#: How long to wait for a child writer to start or to die, s (wall clock; a bound, not a sleep).
CHILD_TIMEOUT_S = 60.0


def expected_row(index: int) -> tuple:
    """Row ``index`` as the crash writer writes it (every field derived from the index)."""
    t = float(index)
    return (t, 1.7e9 + t, 3.0 + (index % 1200) * 1e-3, -1.0 if index % 2 else 1.0, 3.0 + index * 1e-6,
            index // 1000, index // 100, index % 7, index * 1e-4, index * 2e-4, index * 3e-4,
            index * 4e-4, index * 5e-4, 25.0 + (index % 50) * 0.01, 24.0)


def expected_rows(n: int) -> np.ndarray:
    """The first ``n`` rows of the crash writer, as a structured array."""
    return np.array([expected_row(i) for i in range(n)], dtype=SAMPLE_DTYPE)


def _child(path: str, batch_rows: int, kill_after_batches: int, unflushed_rows: int, pace_rows: int) -> None:
    """The writer process. ``kill_after_batches < 0``: write until killed by the parent."""
    from bench.runfile.writer import RunWriter

    writer = RunWriter(path, {"protocol": "crash_test", "status": "running"}, batch_rows=batch_rows,
                       flush_interval_s=1e9, fsync_interval_s=1e9)
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    reported = 0
    index = 0
    if kill_after_batches == 0:
        for extra in range(unflushed_rows):
            writer.append_sample_row(expected_row(extra))
        os.kill(os.getpid(), signal.SIGKILL)
    while True:
        writer.append_sample_row(expected_row(index))
        index += 1
        if writer.rows_written != reported:
            reported = writer.rows_written
            out.write(f"flushed {reported}\n")
            out.flush()
            batches = reported // batch_rows
            if batches % 5 == 0:  # other tables too: events and journal are flushed at once
                writer.event(float(index), "step_start", batches, f"step {batches}")
                writer.journal(float(index), {"next_step": batches})
            if 0 <= kill_after_batches <= batches:
                for extra in range(unflushed_rows):
                    writer.append_sample_row(expected_row(index + extra))
                os.kill(os.getpid(), signal.SIGKILL)
        if pace_rows and index % pace_rows == 0:
            time.sleep(0.001)  # perf mode only: a bench-like pace, so kills land between rows too


@dataclass
class CrashCheck:
    """The state of one killed run's file."""

    path: Path
    readable: bool
    rows_in_file: int
    rows_flushed_reported: int
    rows_lost_before_last_flush: int
    rows_corrupt: int  # rows with any field differing from what was written
    events: int
    repairable: bool
    error: str = ""


def check_killed_file(path: Path, flushed_reported: int, *, repair: bool = True) -> CrashCheck:
    """Open the killed writer's file the way readers do and compare it with what was written."""
    try:
        with h5py.File(path, "r", swmr=True, libver="latest") as handle:
            samples = handle["samples"][()]
            events = int(handle["events"].shape[0])
    except (OSError, KeyError) as exc:
        return CrashCheck(path, False, 0, flushed_reported, flushed_reported, 0, 0, False, str(exc))
    n = len(samples)
    expected = expected_rows(n)
    mismatch = np.zeros(n, dtype=bool)
    for name in SAMPLE_DTYPE.names or ():
        mismatch |= samples[name] != expected[name]
    corrupt = int(mismatch.sum())
    repairable = False
    error = ""
    if repair:
        from bench.runfile.repair import repair_run_file

        out = path.with_name(path.stem + ".repaired.h5")
        try:
            repair_run_file(path, out)
            with h5py.File(out, "r") as plain:  # an ordinary, non-SWMR reader
                repairable = plain["samples"].shape[0] == n and plain.attrs["status"] == "interrupted"
        except Exception as exc:  # noqa: BLE001 - reported, not raised: this is a measurement
            error = f"repair: {exc}"
        finally:
            out.unlink(missing_ok=True)
    return CrashCheck(path, True, n, flushed_reported, max(0, flushed_reported - n), corrupt, events,
                      repairable, error)


def _spawn(path: Path, batch_rows: int, kill_after_batches: int, unflushed_rows: int,
           pace_rows: int) -> subprocess.Popen:
    code = ("import sys; from bench.perf.crash import _child; "
            f"_child({str(path)!r}, {batch_rows}, {kill_after_batches}, {unflushed_rows}, {pace_rows})")
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            text=True, bufsize=1)


def _read_flushed(proc: subprocess.Popen, until_flushes: int | None) -> tuple[int, int]:
    """Read the child's reports; stop after ``until_flushes`` flush lines (None: until EOF)."""
    assert proc.stdout is not None
    flushed = 0
    lines = 0
    for line in proc.stdout:
        if line.startswith("flushed "):
            flushed = int(line.split()[1])
            lines += 1
            if until_flushes is not None and lines >= until_flushes:
                break
    return flushed, lines


def run_self_kill(path: str | Path, *, batch_rows: int = 50, kill_after_batches: int = 3,
                  unflushed_rows: int = 17) -> CrashCheck:
    """A writer that SIGKILLs itself after ``kill_after_batches`` flushed batches plus
    ``unflushed_rows`` queued rows; returns the check of its file (no wall-clock sleep)."""
    path = Path(path)
    proc = _spawn(path, batch_rows, kill_after_batches, unflushed_rows, 0)
    try:
        flushed, _ = _read_flushed(proc, None)
        code = proc.wait(timeout=CHILD_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if code != -signal.SIGKILL:
        raise RuntimeError(f"crash writer ended with {code}, expected SIGKILL")
    return check_killed_file(path, flushed)


def kill_at_random(path: Path, rng: random.Random, *, batch_rows: int = 100, max_flushes: int = 30,
                   max_delay_s: float = 0.05) -> CrashCheck:
    """One run of :func:`measure_kill9`: kill after a random number of flushes plus a random delay."""
    proc = _spawn(path, batch_rows, -1, 0, 20)
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        if ready.strip() != "ready":
            raise RuntimeError(f"crash writer did not start: {ready!r}")
        target = rng.randint(0, max_flushes)
        flushed = _read_flushed(proc, target)[0] if target else 0
        if max_delay_s > 0:
            time.sleep(rng.uniform(0.0, max_delay_s))  # the writer keeps writing meanwhile
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=CHILD_TIMEOUT_S)
        rest, _ = _read_flushed(proc, None)  # reports already in the pipe when the signal landed
        flushed = max(flushed, rest)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return check_killed_file(path, flushed)


def measure_kill9(n_runs: int, *, seed: int | None = None, max_delay_s: float = 0.05,
                  directory: str | Path | None = None, parallel: int = 2) -> dict[str, Any]:
    """Kill ``n_runs`` writers with SIGKILL at random instants; check every file.

    Returns ``runs``, ``files_readable`` (opened with ``swmr=True``), ``files_repairable``
    (``bench repair`` gives a file a non-SWMR reader opens), ``rows_lost_before_last_flush``
    (summed over runs; must be 0), ``rows_corrupt`` (fields differing from what was written),
    ``rows_checked`` and ``wall_s``. ``parallel`` writers run at once (each its own process).
    """
    master = random.Random(seed)
    seeds = [master.randrange(2**32) for _ in range(n_runs)]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cellbench-kill9-", dir=directory) as tmp:
        def one(run: int) -> CrashCheck:
            return kill_at_random(Path(tmp) / f"run{run:03d}.h5", random.Random(seeds[run]),
                                  max_delay_s=max_delay_s)

        with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
            checks = list(pool.map(one, range(n_runs)))
    return {
        "runs": n_runs,
        "files_readable": sum(c.readable for c in checks),
        "files_repairable": sum(c.repairable for c in checks),
        "rows_lost_before_last_flush": sum(c.rows_lost_before_last_flush for c in checks),
        "rows_corrupt": sum(c.rows_corrupt for c in checks),
        "rows_checked": sum(c.rows_in_file for c in checks),
        "errors": [c.error for c in checks if c.error][:5],
        "wall_s": round(time.perf_counter() - start, 2),
    }
