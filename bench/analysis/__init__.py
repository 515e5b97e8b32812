"""Protocol analyses: from a run file to metrics and the conditions they were measured under.

``ANALYSES`` maps the protocol's ``analysis:`` name to a function; every run also gets the
generic metrics of :func:`bench.analysis.generic.generic_metrics`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.analysis.generic import generic_metrics
from bench.runfile.reader import RunFile

#: analysis(run) -> (metrics, conditions)
Analysis = Callable[[RunFile], tuple[dict[str, Any], dict[str, Any]]]

ANALYSES: dict[str, Analysis] = {}

from bench.analysis.cold import cold_capacity  # noqa: E402 - analyses import RunFile, not this package
from bench.analysis.cold_range import cold_range  # noqa: E402
from bench.analysis.eis_fit import eis_analysis  # noqa: E402
from bench.analysis.fast_charge import fast_charge  # noqa: E402
from bench.analysis.hot_box import hot_box_analysis  # noqa: E402
from bench.analysis.interface import interface_impedance  # noqa: E402
from bench.analysis.nail import nail_analysis  # noqa: E402

ANALYSES["nail_penetration"] = nail_analysis

ANALYSES.update({"cold_capacity": cold_capacity, "fast_charge": fast_charge, "eis": eis_analysis,
                 "interface_impedance": interface_impedance, "cold_range": cold_range, "hot_box": hot_box_analysis})

__all__ = ["ANALYSES", "Analysis", "generic_metrics"]
