"""Run a protocol on a fresh built-in simulated bench (production drivers, virtual clock) and
close the bench whatever happens: the pattern most end-to-end tests share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.engine.runner import RunOutcome, execute
from bench.instruments import Bench
from bench.simulated.builtin_bench import build_sim_bench
from protocols.steps import Protocol


def run_on_sim_bench(protocol: Protocol, out: Path, *, preset: str | None = None, observe_s: float = 3600.0,
                     prepare: Callable[[Bench], Any] | None = None, **bench_kwargs: Any) -> RunOutcome:
    """Build a simulated bench (``preset`` default: the protocol's cell; ``bench_kwargs`` as for
    ``build_sim_bench``), let ``prepare`` see it (e.g. to hook the world), run, close."""
    bench = build_sim_bench(preset or protocol.cell.preset, **bench_kwargs)
    try:
        if prepare is not None:
            prepare(bench)
        return execute(protocol, bench, out, observe_s=observe_s)
    finally:
        bench.close()
