"""Run a batch of study runs at once: each is an ordinary ``bench run`` (run file, supervisor,
catalog row), with the protocol settings of one proposal.

* :class:`ProcessExecutor` (default, simulated bench): one ``bench run`` process per run, up to
  ``workers`` at a time. A run that crashes cannot take the study with it.
* :class:`DaskExecutor` (``--scheduler ADDRESS`` or ``--dask``): the runs as tasks on a Dask
  cluster (LocalCluster of ``workers`` processes by default), each calling the ``bench`` CLI in
  the worker process.
* :class:`ChannelExecutor` (``--channels N`` or ``--bench lab.toml`` with ``[[cycler]]``): the
  batch on one multi-channel bench, one proposal per channel at the same time, sharing the
  chamber (soaks are barriers) as any multi-channel run does.

Every executor returns, per run, its exit code (the CLI's: 0 pass, 1 fail, 3 trip, 4 instrument
failure...) and the run file's path.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

from bench.optimize.run_request import RunDone, RunRequest

if TYPE_CHECKING:
    from bench.benches import BenchFactory

logger = logging.getLogger(__name__)


class Executor(Protocol):
    """Runs a batch of requests concurrently and returns one :class:`RunDone` per request, in order."""

    def run_batch(self, requests: Sequence[RunRequest]) -> list[RunDone]:
        """Run every request; never raises for a failed run (see ``exit_code``)."""
        ...

    def close(self) -> None:
        """Release workers."""
        ...


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


class ProcessExecutor:
    """``bench run`` in a subprocess per run, ``workers`` at a time."""

    def __init__(self, workers: int = 2, timeout_s: float | None = None) -> None:
        self.workers = max(1, workers)
        self.timeout_s = timeout_s

    def _one(self, request: RunRequest) -> RunDone:
        command = [sys.executable, "-m", "bench.cli", *request.argv()]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=self.timeout_s, check=False)
        except subprocess.TimeoutExpired:
            return RunDone(request, 4, f"run did not finish within {self.timeout_s:.0f} s")
        return RunDone(request, done.returncode, _last_line(done.stderr) if done.returncode not in (0, 1) else "")

    def run_batch(self, requests: Sequence[RunRequest]) -> list[RunDone]:
        """Run the batch, ``workers`` processes at a time."""
        with ThreadPoolExecutor(max_workers=min(self.workers, max(1, len(requests)))) as pool:
            return list(pool.map(self._one, requests))

    def close(self) -> None:
        """Nothing to release."""


def run_in_worker(argv: list[str]) -> int:
    """A Dask task: the ``bench`` CLI in the worker process (its exit code)."""
    from bench.cli import main

    return int(main(argv))


class DaskExecutor:
    """The batch as Dask tasks (a LocalCluster of ``workers`` processes unless ``scheduler`` is given)."""

    def __init__(self, scheduler: str | None = None, workers: int = 2) -> None:
        from distributed import Client, LocalCluster

        self._cluster: Any = None
        if scheduler:
            self.client = Client(scheduler)
        else:
            self._cluster = LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=True,
                                         host="127.0.0.1", dashboard_address=None)
            self.client = Client(self._cluster)

    def run_batch(self, requests: Sequence[RunRequest]) -> list[RunDone]:
        """Submit every run, gather the exit codes (a task that raised is exit 4 with its error)."""
        futures = [self.client.submit(run_in_worker, r.argv(), pure=False) for r in requests]
        done: list[RunDone] = []
        for request, future in zip(requests, futures, strict=True):
            try:
                done.append(RunDone(request, int(future.result())))
            except Exception as exc:  # noqa: BLE001 - one failed task must not end the study
                done.append(RunDone(request, 4, f"task failed: {exc}"))
        return done

    def close(self) -> None:
        """Close the client and the cluster this executor started."""
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


class ChannelExecutor:
    """The batch on one multi-channel bench: a simulated N-cell bench, or a bench file's channels."""

    def __init__(self, channels: int, *, benches: BenchFactory, bench_file: str | None = None,
                 preset: str | None = None) -> None:
        self.channels = channels
        self.benches = benches
        self.bench_file = bench_file
        self.preset = preset

    def run_batch(self, requests: Sequence[RunRequest]) -> list[RunDone]:
        """Load each request's protocol with its settings, run them as one multi-channel run."""
        from bench.optimize.channel_batch import run_protocols_on_channels

        if len(requests) > self.channels:
            raise ValueError(f"batch of {len(requests)} runs on a {self.channels}-channel bench")
        return run_protocols_on_channels(requests, benches=self.benches, bench_file=self.bench_file,
                                         preset=self.preset)

    def close(self) -> None:
        """Nothing to release (the bench is opened per batch)."""
