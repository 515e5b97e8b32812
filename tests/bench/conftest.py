"""Fixtures of the bench tests."""

from __future__ import annotations

import pytest

from tests.bench.shipped_runs import ShippedRuns


@pytest.fixture(scope="session")
def shipped_runs(tmp_path_factory) -> ShippedRuns:
    """Short runs of every shipped protocol, shared by the report, plot and metric tests."""
    return ShippedRuns(tmp_path_factory.mktemp("shipped"))
