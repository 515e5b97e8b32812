"""Protocol files: the step tree, records, loops with conditions, step limits, and every error
naming file:line:col with a suggestion."""

from __future__ import annotations

import pytest

from protocols.checks import InstrumentLimits
from protocols.errors import ProtocolError
from protocols.loader import parse_protocol
from protocols.steps import Loop, Step

CELL = "cell: {capacity_ah: 5, voltage_max_v: 4.2, voltage_min_v: 2.5, current_max_a: 10}\n"

TREE = CELL + """\
parameters: {rate: 1C, fade: 80 %}
steps:
  - Charge at 0.5C until 4.2 V
  - Hold at 4.2 V until C/20
  - step: Discharge at {rate} until 2.5 V
    record: {reference_ah: discharge_ah}
    limits: {temperature_max_c: 45}
    period: 0.5 s
  - repeat: 500
    until: discharge capacity < fade * reference_ah
    steps:
      - Charge at 0.5C until 4.2 V
      - - Rest for 10 minutes
        - Discharge at {rate} until 2.5 V
  - Charge at 1C until 50 % SOC
"""


def test_tree_numbering_records_limits_and_loops():
    protocol = parse_protocol(TREE, file="t.yaml")
    first, hold, discharge, loop, last = protocol.steps
    assert [first.index, hold.index, discharge.index, last.index] == [0, 1, 2, 6]
    assert discharge.period_s == 0.5 and discharge.limits is not None
    assert discharge.limits.temperature_max_c == 45.0
    assert [(name, expr.text) for name, expr in discharge.record] == [("reference_ah", "discharge_ah")]
    assert isinstance(loop, Loop) and loop.count == 500 and loop.index == 0 and loop.line == 10
    assert loop.until is not None and loop.until.text == "discharge capacity < fade * reference_ah"
    charge, group = loop.steps
    assert isinstance(group, Loop) and group.count == 1 and group.index == 1
    assert [s.index for s in group.steps] == [4, 5] and isinstance(charge, Step) and charge.index == 3
    assert protocol.step_total() == 4 + 500 * 3 and last.line == 16


@pytest.mark.parametrize(("body", "where", "message"), [
    ("steps:\n  - repeat: 3\n    until: discharge capacity < 80 % of refrence\n    steps: [Rest for 1 minute]\n",
     "e.yaml:4:41", "unknown name 'refrence' (measure it first with 'record:')"),
    ("steps:\n  - step: Rest for 1 minute\n    record: {cycle: duration_s}\n", "e.yaml:4:14", "cannot record into 'cycle'"),
    ("steps:\n  - step: Rest for 1 minute\n    recrd: {x: duration_s}\n", "e.yaml:4:5", "did you mean 'record'?"),
    ("steps:\n  - step: Rest for 1 minute\n    record: {x: duration_s > 3}\n", "e.yaml:4:17", "is a condition, not a value"),
    ("steps:\n  - until: cycle > 3\n    steps: [Rest for 1 minute]\n", "e.yaml:3:5", "needs 'repeat: N'"),
    ("steps:\n  - repeat: 3\n    until: 2 * cycle\n    steps: [Rest for 1 minute]\n", "e.yaml:4:12", "a value, not a condition"),
    ("steps:\n  - step: Discharge at 1C for 1 minute\n    limits: {voltage_min_v: 2.0}\n", "e.yaml:3:11",
     "looser than the protocol's"),
    ("steps:\n  - Charge at 1C until 80 % SOC\n", "e.yaml:3:5", "the SOC is not known yet"),
    ("steps:\n  - Charge at 3C until 4.2 V\n", "e.yaml:3:5", "exceeds the cell's maximum charge current"),
    ("steps:\n  - step: Rest for 1 minute\n    period: 2 V\n", "e.yaml:4:13", "period must be a time"),
])
def test_errors_name_file_line_col(body, where, message):
    with pytest.raises(ProtocolError) as info:
        parse_protocol(CELL + body, file="e.yaml")
    text = info.value.format()
    assert text.startswith(where + ":"), text
    assert message in text


def test_soc_known_after_a_full_charge_or_from_the_cell():
    parse_protocol(CELL + "steps:\n  - Charge at 1C until 4.2 V\n  - Hold at 4.2 V until C/20\n"
                   "  - Discharge at 1C until 50 % SOC\n", file="ok.yaml")
    cell = CELL.replace("current_max_a: 10}", "current_max_a: 10, initial_soc: 0.3}")
    protocol = parse_protocol(cell + "steps:\n  - Charge at 1C until 80 % SOC\n", file="ok.yaml")
    assert protocol.cell.initial_soc == 0.3


@pytest.mark.parametrize(("step", "message"), [
    ("Discharge at 9 A for 1 minute", "beyond the cycler's range ±7.35 A (lab 2)"),
    ("Soak at -50 °C for 1 hour", "outside the protocol's temperature limits"),
    ("Soak at 10 °C for 1 hour", "lab 2 has no thermal chamber"),
    ("EIS from 1 kHz to 1 Hz, 5 points per decade, 10 mV", "lab 2 has no impedance analyzer"),
    ("Rest until dT/dt < 0.1 K/min (at most 1 hour)", "has no temperature meter"),
])
def test_instrument_limits(step, message):
    lab = InstrumentLimits(description="lab 2", current_max_a=7.35, voltage_max_v=21.0, has_chamber=False,
                           has_impedance=False, has_thermometer=False)
    with pytest.raises(ProtocolError) as info:
        parse_protocol(CELL + f"steps:\n  - {step}\n", file="i.yaml", instrument=lab)
    assert info.value.format().startswith("i.yaml:3:5:") and message in info.value.format()
