"""Terminal progress for ``bench run``: step, cycle, test time, V and I (rich, on stderr)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn

from bench.engine import Progress
from protocols.quantities import format_duration


@contextmanager
def progress_display(total_steps: int, *, enabled: bool = True) -> Iterator[Callable[[Progress], None]]:
    """Yields a callback for the engine; draws a bar of steps with the present step's details."""
    if not enabled:
        yield lambda _p: None
        return
    console = Console(stderr=True)
    columns = (TextColumn("[bold]{task.fields[step]}"), BarColumn(), TextColumn("step {task.completed}/{task.total}"),
               TextColumn("cycle {task.fields[cycle]}"), TextColumn("test time {task.fields[test_time]}"),
               TextColumn("{task.fields[reading]}"), TimeElapsedColumn())
    with RichProgress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("run", total=total_steps, step="", cycle=0, test_time="0 s", reading="")

        def update(p: Progress) -> None:
            bar.update(task, completed=max(p.step_number - 1, 0), step=p.step_text[:40], cycle=p.cycle,
                       test_time=format_duration(p.test_time_s),
                       reading=f"{p.voltage_v:.3f} V {p.current_a:+.3f} A")

        yield update
        bar.update(task, completed=total_steps)
