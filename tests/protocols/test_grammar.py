"""The step grammar: PyBaMM strings verbatim, bench steps, end conditions, errors with a column."""

from __future__ import annotations

import pytest

from protocols.errors import ProtocolError
from protocols.grammar import parse_step

CAP = 5.0


@pytest.mark.parametrize(("text", "kind", "current_a", "duration_s", "conditions"), [
    # PyBaMM's own examples, verbatim
    ("Discharge at C/10 for 10 hours or until 3.3 V", "cc", -0.5, 36000.0, [("voltage_v", "<=", 3.3)]),
    ("Rest for 1 hour", "rest", None, 3600.0, []),
    ("Charge at 1 A until 4.1 V", "cc", 1.0, None, [("voltage_v", ">=", 4.1)]),
    ("Hold at 4.1 V until 50 mA", "cv", None, None, [("current_a", "<=", 0.05)]),
    ("Discharge at 1C for 0.5 hours", "cc", -5.0, 1800.0, []),
    ("Charge at 0.5 C for 45 minutes or until 4.2 V", "cc", 2.5, 2700.0, [("voltage_v", ">=", 4.2)]),
    ("Hold at 4.2 V until C/50", "cv", None, None, [("current_a", "<=", 0.1)]),
    ("Rest for 10 minutes (1 minute period)", "rest", None, 600.0, []),
    # bench end conditions: Ah, Wh, SOC, T, dT/dt
    ("Discharge at 1C until 1.5 Ah", "cc", -5.0, None, [("capacity_ah", ">=", 1.5)]),
    ("Discharge at 10 W until 5 Wh", "cp", None, None, [("energy_wh", ">=", 5.0)]),
    ("Charge at 4C until 20 % SOC", "cc", 20.0, None, [("soc", ">=", 0.2)]),
    ("Discharge at 2C until T > 45 °C or until 2.5 V", "cc", -10.0, None,
     [("temperature_c", ">=", 45.0), ("voltage_v", "<=", 2.5)]),
    ("Rest until dT/dt < 0.5 K/min (at most 2 hours)", "rest", None, 7200.0, [("dtdt_k_per_s", "<=", 0.5 / 60)]),
    ("Rest until T < 30 °C", "rest", None, None, [("temperature_c", "<=", 30.0)]),
])
def test_steps_parse_with_si_values(text, kind, current_a, duration_s, conditions):
    step = parse_step(text, capacity_ah=CAP)
    assert step.kind == kind
    assert step.current_a == pytest.approx(current_a) if current_a is not None else step.current_a is None
    assert step.duration_s == pytest.approx(duration_s) if duration_s is not None else step.duration_s is None
    assert [(c.quantity, c.op, pytest.approx(c.value)) for c in step.until] == conditions


def test_soak_with_band_hold_and_at_most():
    step = parse_step("Soak at -20 °C until cell within 2 K of setpoint for 30 minutes (at most 24 hours)")
    assert (step.kind, step.temperature_c, step.duration_s) == ("soak", -20.0, 86400.0)
    (cond,) = step.until
    assert (cond.quantity, cond.value, cond.hold_s) == ("stable_within_k", 2.0, 1800.0)


def test_eis_step_in_volts_and_amps():
    step = parse_step("EIS from 10 kHz to 10 mHz, 10 points per decade, 10 mV")
    spec = step.eis
    assert step.kind == "eis" and spec is not None
    assert (spec.frequency_start_hz, spec.frequency_stop_hz, spec.points_per_decade) == (1e4, 0.01, 10)
    assert (spec.amplitude, spec.amplitude_unit) == (pytest.approx(0.01), "V")
    freqs = spec.frequencies_hz()
    assert len(freqs) == 61 and freqs[0] == pytest.approx(1e4) and freqs[-1] == pytest.approx(0.01)
    amps = parse_step("EIS from 1 kHz to 1 Hz, 5 points per decade, 100 mA").eis
    assert amps is not None and (amps.amplitude, amps.amplitude_unit) == (pytest.approx(0.1), "A")


def test_pulse_train():
    step = parse_step("Pulse discharge at 2C for 10 seconds, rest for 40 seconds, 10 times or until 2.8 V",
                      capacity_ah=CAP)
    pulse = step.pulse
    assert step.kind == "pulse" and pulse is not None
    assert (pulse.current_a, pulse.on_s, pulse.off_s, pulse.count) == (-10.0, 10.0, 40.0, 10)
    assert step.duration_s == 500.0
    assert [(c.quantity, c.value) for c in step.until] == [("voltage_v", 2.8)]


@pytest.mark.parametrize(("text", "col", "message"), [
    ("Dischrage at 1C until 2.5 V", 1, "did you mean 'Discharge'?"),
    ("Discharge at 1 X until 2.5 V", 14, "unknown unit 'X'"),
    ("Discharge at 1C", 16, "step never ends"),
    ("Rest until 30 °C", 12, "say which way"),
    ("Hold at 4.2 V until 4.1 V", 21, "a Hold ends on current or time"),
    ("EIS from 10 kHz to 10 MHz, 10 points per decade, 10 mV", 20, "did you mean mHz?"),
    ("EIS from 10 kHz to 1 Hz, 10 points per decade, 1 W", 48, "amplitude must be a positive voltage"),
    ("Pulse discharge at 2C for 10 s, rest for 40 s", 6, "three parts"),
    ("Pulse discharge at 2C for 10 s, rest for 40 s, 10 times (1 minute period)", 1, "longer than a 10 s pulse"),
    ("Discharge at 1C until 80 %", 23, "only as SOC"),
    ("Rest for 1 hour)", 16, "unexpected parenthesis"),
])
def test_errors_name_the_column_and_suggest(text, col, message):
    with pytest.raises(ProtocolError) as info:
        parse_step(text, capacity_ah=CAP)
    assert info.value.col == col, info.value.format()
    assert message in info.value.format()


def test_a_misspelt_word_after_a_quantity_is_named_with_its_fix() -> None:
    """Issue 28: '4.2 V untill C/20' names the bad word and the word meant, not the whole text."""
    from protocols.quantities import QuantityError, parse_quantity

    with pytest.raises(QuantityError) as caught:
        parse_quantity("4.2 V untill C/20")
    assert "unexpected word 'untill' after '4.2 V'" in str(caught.value)
    assert caught.value.suggestion == "did you mean 'until'?"
    with pytest.raises(QuantityError, match="expected a number with a unit"):
        parse_quantity("fast")
