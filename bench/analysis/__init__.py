"""Protocol analyses: from a run file to metrics and the conditions they were measured under.

``ANALYSES`` maps the protocol's ``analysis:`` name to a function; every run also gets the
generic metrics of :func:`bench.analysis.generic.generic_metrics`.
"""

from __future__ import annotations

from typing import Any, Callable

from bench.analysis.generic import generic_metrics
from bench.runfile import RunFile

#: analysis(run) -> (metrics, conditions)
Analysis = Callable[[RunFile], tuple[dict[str, Any], dict[str, Any]]]

ANALYSES: dict[str, Analysis] = {}

__all__ = ["ANALYSES", "Analysis", "generic_metrics"]
