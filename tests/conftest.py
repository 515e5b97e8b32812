"""Shared fixtures: the built-in simulated bench (virtual clock) and a temporary run path."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")


@pytest.fixture
def sim_bench():
    """A simulated bench with an NMC 21700 cell at 50 % SOC, 25 °C; closed after the test."""
    from bench.simulated.builtin_bench import build_sim_bench

    bench = build_sim_bench("nmc_21700", soc=0.5)
    yield bench
    bench.close()
