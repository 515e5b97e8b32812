"""Terminal progress for ``bench run`` (rich, on stderr): step name, step i/N, cycle, elapsed test
time, estimated remaining test time (bench/engine/eta.py), the last V and I, and wall time.

The bar measures test time against the estimated total; while no estimate exists (a generator
protocol, the first report) it pulses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from bench.engine.core import Progress
from bench.engine.eta import Eta, EtaEstimator
from protocols.quantities import format_duration


def progress_fields(p: Progress, eta: Eta | None) -> dict[str, Any]:
    """The texts the bar shows for one report (also used by tests)."""
    remaining = "remaining ?"
    if eta is not None and eta.remaining_s is not None:
        remaining = f"remaining ~{format_duration(eta.remaining_s)}"
    total = max(p.step_total, p.step_number)
    return {
        "step": p.step_text[:40],
        "steps": f"step {p.step_number}/{total}" if total else f"step {p.step_number}",
        "cycle": p.cycle,
        "test_time": format_duration(p.test_time_s),
        "remaining": remaining,
        "reading": f"{p.voltage_v:.3f} V {p.current_a:+.3f} A",
    }


@contextmanager
def progress_display(total_steps: int, *, enabled: bool = True, protocol: Any = None,
                     console: Console | None = None) -> Iterator[Callable[[Progress], None]]:
    """Yields a callback for the engine. ``protocol`` (optional) enables the remaining-time
    estimate; ``console`` defaults to stderr."""
    if not enabled:
        yield lambda _p: None
        return
    estimator = EtaEstimator.for_protocol(protocol) if protocol is not None else None
    console = console or Console(stderr=True)
    columns = (TextColumn("[bold]{task.fields[step]}"), BarColumn(), TextColumn("{task.fields[steps]}"),
               TextColumn("cycle {task.fields[cycle]}"), TextColumn("elapsed {task.fields[test_time]}"),
               TextColumn("[cyan]{task.fields[remaining]}"), TextColumn("{task.fields[reading]}"),
               TimeElapsedColumn())
    with RichProgress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("run", total=None, step="", steps=f"step 0/{total_steps}", cycle=0,
                            test_time="0 s", remaining="remaining ?", reading="")

        def update(p: Progress) -> None:
            eta = estimator.update(p) if estimator is not None else None
            fields = progress_fields(p, eta)
            if eta is not None and eta.total_s:
                bar.update(task, total=eta.total_s, completed=p.test_time_s, **fields)
            else:
                bar.update(task, **fields)

        yield update
        final = bar.tasks[0]
        bar.update(task, total=final.total or 1.0, completed=final.total or 1.0, remaining="finished")
