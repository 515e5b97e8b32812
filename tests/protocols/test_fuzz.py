"""Hypothesis fuzz of the parser and validator: any input gives a protocol or a ProtocolError
that says where (file, line, column), never a traceback of another kind."""

from __future__ import annotations

import math

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols.errors import ProtocolError
from protocols.estimate import estimate
from protocols.expressions import ExpressionError, parse_expression
from protocols.grammar import parse_step
from protocols.loader import parse_protocol

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

WORDS = ["Charge", "Discharge", "Hold", "Rest", "Soak", "EIS", "Pulse", "charge", "discharge", "at", "for", "until",
         "or", "from", "to", "rest", "times", "points", "per", "decade", "cell", "within", "of", "setpoint", "SOC",
         "T", ">", "<", "dT/dt", "(", ")", ",", "(at", "most", "period)", "1C", "C/3", "0.5", "2", "-20", "4.2",
         "10", "1e3", "V", "mV", "A", "mA", "W", "Ah", "Wh", "%", "°C", "K", "K/min", "hours", "minutes", "s",
         "kHz", "mHz", "MHz", "Hz", "second", "nan", "inf", "{x}"]
grammar_text = st.lists(st.sampled_from(WORDS), min_size=0, max_size=14).map(" ".join)


def _check_step_error(text: str, exc: ProtocolError) -> None:
    assert exc.message and 1 <= exc.col <= len(text) + 2, (text, exc.format())


@FAST
@given(st.one_of(st.text(max_size=80), grammar_text))
def test_any_step_text_parses_or_fails_with_a_column(text):
    try:
        step = parse_step(text, capacity_ah=5.0)
    except ProtocolError as exc:
        _check_step_error(text, exc)
        return
    assert step.kind in ("cc", "cv", "cp", "rest", "soak", "pulse", "eis")
    assert step.duration_s is None or step.duration_s > 0
    assert step.until or step.duration_s or step.kind == "eis"


CELL = {"capacity_ah": 5.0, "voltage_max_v": 4.2, "voltage_min_v": 2.5, "current_max_a": 7.0, "initial_soc": 0.5}
LOOP_CONDITIONS = ["cycle > 3", "discharge capacity < 80 % of ref", "coulombic efficiency < 99 %", "ref >",
                   "repetition >= 2 and not (ref < 1 Ah)", "cycle", "x < 1"]
step_node = st.one_of(
    grammar_text,
    st.sampled_from(["Rest for 1 minute", "Discharge at 1C until 2.5 V", "Charge at 0.5C until 4.2 V",
                     "Hold at 4.2 V until C/20", "Charge at 1C until 80 % SOC", "Soak at 0 °C for 1 hour",
                     "Pulse discharge at 1C for 10 s, rest for 30 s, 3 times", "Discharge at {rate} for 1 hour"]),
)
step_mapping = st.fixed_dictionaries({"step": step_node}, optional={
    "record": st.dictionaries(st.sampled_from(["ref", "cycle", "x y", "v"]),
                              st.sampled_from(["discharge_ah", "duration_s > 1", "voltage_end_v", "nope", ""]),
                              max_size=2),
    "limits": st.dictionaries(st.sampled_from(["voltage_max_v", "temperature_max_c", "current_max_a", "bogus"]),
                              st.one_of(st.floats(allow_nan=True), st.text(max_size=4)), max_size=2),
    "period": st.sampled_from(["1 s", "0.5 s", "2 V", "-1 s", "x"]),
})


def loops(children):
    return st.fixed_dictionaries({"steps": st.lists(children, max_size=3)}, optional={
        "repeat": st.one_of(st.integers(-2, 5), st.text(max_size=3)),
        "until": st.sampled_from(LOOP_CONDITIONS)})


tree = st.recursive(st.one_of(step_node, step_mapping), lambda children: st.one_of(loops(children),
                                                                                   st.lists(children, max_size=3)),
                    max_leaves=8)
document = st.fixed_dictionaries({"steps": st.lists(tree, max_size=5)}, optional={
    "name": st.text(max_size=5), "cell": st.just(CELL), "parameters": st.dictionaries(
        st.sampled_from(["rate", "x", "bad name"]), st.sampled_from(["1C", "2 A", "0.5", "{rate}", ""]), max_size=2),
    "limits": st.dictionaries(st.sampled_from(["voltage_max_v", "temperature_max_c", "nope"]), st.floats(-50, 100),
                              max_size=2),
    "sampling": st.dictionaries(st.sampled_from(["period_s", "rate"]), st.floats(0, 10), max_size=1),
    "pass": st.lists(st.sampled_from(["discharge_capacity_ah >= 4", "x"]), max_size=2),
    "bogus": st.integers()})


def _check_protocol_error(exc: ProtocolError) -> None:
    text = exc.format()
    assert text.startswith("f.yaml"), text
    assert exc.line >= 1 or exc.message in ("empty protocol file",), text
    assert "\n" not in exc.message or exc.message.startswith("YAML"), text


@FAST
@given(document)
def test_structured_documents_validate_or_fail_with_a_location(doc):
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    try:
        protocol = parse_protocol(text, file="f.yaml")
    except ProtocolError as exc:
        _check_protocol_error(exc)
        return
    try:
        result = estimate(protocol, max_steps=2000)
    except ProtocolError as exc:  # a condition that cannot be evaluated at run time names its line
        _check_protocol_error(exc)
        return
    assert math.isfinite(result.duration_s) and result.duration_s >= 0 and result.throughput_ah >= 0


@FAST
@given(st.one_of(st.text(max_size=200), st.lists(st.sampled_from(
    ["steps:", "\n", "  - ", "- ", "repeat: 2", "until: x", "cell:", "{", "}", "[", "]", ":", "'", '"', "\t",
     "Rest for 1 minute", "step: ", "record: {a: b}", "&a", "*a", "!!python/object", "%YAML", "---"]),
    max_size=20).map("".join)))
def test_any_text_validates_or_fails_with_a_location(text):
    try:
        parse_protocol(text, file="f.yaml")
    except ProtocolError as exc:
        text_out = exc.format()
        assert text_out.startswith("f.yaml") and exc.message, text_out


@FAST
@given(st.one_of(st.text(max_size=60), st.lists(st.sampled_from(
    ["cycle", "discharge", "capacity", "<", ">=", "and", "or", "not", "(", ")", "80", "%", "of", "4.5", "Ah",
     "min", ",", "*", "/", "-", "+", "==", "abs"]), max_size=12).map(" ".join)))
def test_any_expression_parses_or_fails_with_a_column(text):
    try:
        expression = parse_expression(text)
    except ExpressionError as exc:
        assert 1 <= exc.col <= len(text) + 1, (text, exc.col)
        return
    value = expression.evaluate({name.name: 1.0 for name in expression.names()})
    assert isinstance(value, (bool, float))
