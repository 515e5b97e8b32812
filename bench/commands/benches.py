"""The bench factory the commands hand down: real benches from TOML files, and the built-in
simulated bench (the one place above :mod:`bench.simulated` that names it)."""

from __future__ import annotations

from bench.benches import BenchFactory


def bench_factory() -> BenchFactory:
    """A :class:`bench.benches.BenchFactory` that can also build the built-in simulated bench."""
    from bench.simulated.factory import BuiltinSimulatedBenches

    return BenchFactory(BuiltinSimulatedBenches())
