"""Output a technician reads at 8 am (issue 28): units beside numbers, no float noise, strict JSON,
a discharge capacity kept as a result when its cycle is not closed."""

from __future__ import annotations

import json
import math

import numpy as np

from bench.analysis.cycles import cycle_flags, discharge_is_result
from bench.analysis.sections import format_sections
from bench.commands.runs import _claim_line
from bench.report.verdict import _number
from bench.runfile.export import strict_json


def test_catalog_claims_show_their_unit_and_status() -> None:
    line = _claim_line({"name": "capacity >= rated", "status": "not met", "observed": 4.813912345, "unit": "Ah"})
    assert line == "claim [NOT MET] capacity >= rated (observed 4.81391 Ah)"
    line = _claim_line({"name": "plating", "status": "not tested", "observed": None, "unit": "mAh",
                        "reason": "readback too coarse"})
    assert line == "claim [not tested] plating (observed -; readback too coarse)"
    assert _claim_line({"text": "old", "passed": True, "observed": 505.53}) == "claim [met] old (observed 505.53)"


def test_terminal_numbers_have_no_float_noise() -> None:
    assert _number(0.000999999996565748) == "0.001"
    assert _number(4.8139) == "4.8139"
    assert _number(3) == 3


def test_bdf_metadata_is_strict_json() -> None:
    meta = {"a": float("nan"), "b": [np.float64("inf"), 1.5], "c": {"d": np.int32(3)}}
    text = json.dumps(strict_json(meta), allow_nan=False)
    assert json.loads(text) == {"a": None, "b": [None, 1.5], "c": {"d": 3}}


def test_a_discharge_from_a_half_charged_start_is_a_result_only_its_ce_is_not() -> None:
    """The simulated cell starts half charged: cycle 1 charges 2.4 Ah and discharges 4.8 Ah."""
    assert cycle_flags(2.40, 4.81, 5.0)  # CE 2.0: not a closed cycle
    assert discharge_is_result(4.81, 5.0)
    assert not discharge_is_result(8.7, 5.0)  # two discharges summed: not a result
    assert not discharge_is_result(0.0, 5.0)
    lines = format_sections({"cycles": [{"cycle": 1, "charge_ah": 2.40, "discharge_ah": 4.81,
                                         "flags": cycle_flags(2.40, 4.81, 5.0), "discharge_is_result": True,
                                         "coulombic_efficiency": 2.0, "temperature_max_c": 28.0,
                                         "charge_wh": 9.0, "discharge_wh": 17.0}]})
    (line,) = [x for x in lines if x.startswith("Cycle 1")]
    assert "is not a result" not in line and "its discharge capacity (4.8100 Ah) is" in line
    assert math.isclose(2.0, 4.81 / 2.40, rel_tol=0.01)
