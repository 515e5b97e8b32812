"""Progress of a batch of runs (``bench sweep``, ``bench optimize``): runs done / total, a time
estimate and the best result so far, as one live line on a terminal (rich, stderr); nothing on a
pipe or in CI (``CI`` set), where the commands' own log lines and final table say it all.

The estimate is the mean wall time per finished run times the runs left (runs of one batch take
about as long as each other; the first estimate appears after the first run).
"""

from __future__ import annotations

import os
import sys
import time
from typing import IO, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn


def progress_wanted(stream: IO[str] | None = None) -> bool:
    """A live line only for a person: stderr is a terminal and this is not a CI job."""
    stream = stream if stream is not None else sys.stderr
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def remaining_text(done: int, total: int, elapsed_s: float) -> str:
    """``~3.5 min left`` from the mean time per finished run; ``? left`` before the first."""
    if done <= 0:
        return "? left"
    left_s = elapsed_s / done * max(total - done, 0)
    if left_s < 120:
        return f"~{left_s:.0f} s left"
    if left_s < 7200:
        return f"~{left_s / 60:.1f} min left"
    return f"~{left_s / 3600:.1f} h left"


class BatchProgress:
    """``with BatchProgress("sweep", 12) as bar: bar.advance(best="...")``."""

    def __init__(self, what: str, total: int, *, enabled: bool | None = None, stream: IO[str] | None = None,
                 done: int = 0) -> None:
        self.what, self.total, self.done = what, max(total, 0), done
        self.enabled = progress_wanted(stream) if enabled is None else enabled
        self._start = time.monotonic()
        self._started_at = done
        self._best = ""
        self._bar: Progress | None = None
        self._task: Any = None
        if self.enabled:
            console = Console(file=stream if stream is not None else sys.stderr)
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[left]}"), TextColumn("{task.fields[best]}"),
                                 console=console, transient=False)

    def __enter__(self) -> BatchProgress:
        if self._bar is not None:
            self._bar.start()
            self._task = self._bar.add_task(f"{self.what} runs", total=self.total, completed=self.done,
                                            left="? left", best="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def advance(self, runs: int = 1, *, best: str | None = None) -> None:
        """``runs`` more runs finished; ``best``: the best result so far, as text."""
        self.done += runs
        if best is not None:
            self._best = best
        if self._bar is not None:
            left = remaining_text(self.done - self._started_at, self.total - self._started_at,
                                  time.monotonic() - self._start)
            self._bar.update(self._task, completed=self.done, left=left,
                             best=f"best so far: {self._best}" if self._best else "")
