"""Shared fixtures: the built-in simulated bench (virtual clock) and a temporary run path."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")


@pytest.fixture(scope="session", autouse=True)
def session_catalog(tmp_path_factory):
    """``bench run`` in a test records into a catalog of the test session, not runs/catalog.sqlite
    of the working tree (a test that needs its own catalog sets CELLBENCH_CATALOG or --catalog)."""
    path = tmp_path_factory.mktemp("catalog") / "catalog.sqlite"
    previous = os.environ.get("CELLBENCH_CATALOG")
    os.environ["CELLBENCH_CATALOG"] = f"sqlite:///{path}"
    yield path
    if previous is None:
        os.environ.pop("CELLBENCH_CATALOG", None)
    else:
        os.environ["CELLBENCH_CATALOG"] = previous


@pytest.fixture
def sim_bench():
    """A simulated bench with an NMC 21700 cell at 50 % SOC, 25 °C; closed after the test."""
    from bench.simulated.builtin_bench import build_sim_bench

    bench = build_sim_bench("nmc_21700", soc=0.5)
    yield bench
    bench.close()
