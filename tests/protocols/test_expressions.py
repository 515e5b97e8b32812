"""The safe expression language: words and units, evaluation, errors with a column, no eval."""

from __future__ import annotations

import math

import pytest

from protocols.expressions import ExpressionError, check_names, parse_expression

VARS = {"discharge_capacity_ah": 3.9, "reference_ah": 5.0, "cycle": 3.0, "coulombic_efficiency": 0.996,
        "unmeasured_ah": math.nan}


@pytest.mark.parametrize(("text", "value"), [
    ("discharge capacity < 80 % of reference", True),           # words join, unit suffixes resolve
    ("discharge_capacity_ah < 0.8 * reference_ah", True),
    ("discharge capacity < 4 Ah and cycle >= 3", True),
    ("coulombic efficiency > 99.5 %", True),
    ("not (cycle == 3) or reference > 6 Ah", False),
    ("min(discharge_capacity_ah, reference_ah) / 5 Ah", 0.78),
    ("abs(-2 * cycle) + 30 min", 1806.0),
    ("unmeasured_ah < 1", False),                                 # NaN never satisfies a comparison
    ("unmeasured_ah >= 1", False),
])
def test_evaluates(text, value):
    result = parse_expression(text).evaluate(VARS)
    assert result == pytest.approx(value) if isinstance(value, float) else result is value


@pytest.mark.parametrize(("text", "col", "message"), [
    ("a < b < c", 7, "chained comparison"),
    ("3 cycles", 3, "unexpected 'cycles'"),
    ("(cycle > 1", 11, "expected ')'"),
    ("cycle > ", 8, "expected a number or a name"),
    ("__import__('os')", 12, "unexpected character"),
    ("cycle % 2", 7, "'%' must follow a number"),
    ("", 1, "empty expression"),
])
def test_errors_have_columns(text, col, message):
    with pytest.raises(ExpressionError) as info:
        parse_expression(text)
    assert info.value.col == col and message in info.value.message


def test_unknown_names_are_found_before_a_run():
    expression = parse_expression("discharge capacity < 80 % of refrence_ah")
    with pytest.raises(ExpressionError) as info:
        check_names(expression, VARS)
    assert info.value.col == 30 and info.value.suggestion == "did you mean 'reference_ah'?"
    assert parse_expression("cycle > 2").is_condition and not parse_expression("2 * cycle").is_condition
