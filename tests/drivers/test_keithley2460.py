"""Conversation tests for the Keithley 2460 driver, and the driver against its simulator."""

from __future__ import annotations

import pytest

from drivers.errors import (
    InstrumentCommandError,
    InstrumentError,
    InstrumentReplyError,
    ProtectionNotTaken,
    SetpointOutOfRange,
)
from drivers.keithley24xx import Keithley2460
from drivers.roles import ProtectionLimits
from tests.drivers.conversation import Conversation

NO_ERROR = (":SYST:ERR?", '0,"No error"')


def make(pairs):
    conv = Conversation(pairs)
    return Keithley2460(conv, name="cycler"), conv


def test_configure_sets_four_wire_readback_and_high_impedance_off_state():
    smu, conv = make([("*RST", None), ("*CLS", None), (':SENS:FUNC "VOLT"', None), (":SENS:VOLT:RSEN ON", None),
                      (":SOUR:CURR:READ:BACK ON", None), (":OUTP:CURR:SMOD HIMP", None),
                      (":OUTP:VOLT:SMOD HIMP", None), NO_ERROR])
    smu.configure()
    conv.assert_done()


PROTECTION_SET = [(":SOUR:VOLT:PROT PROT5", None), (":SOUR:CURR:VLIM 4.25", None), (":SOUR:VOLT:ILIM 7", None),
                  NO_ERROR]


def test_protection_picks_lowest_ovp_level_above_cell_maximum_and_reads_it_back():
    smu, conv = make(PROTECTION_SET + [(":SOUR:VOLT:PROT?", "PROT5"), (":SOUR:CURR:VLIM?", "+4.250000E+00"),
                                       (":SOUR:VOLT:ILIM?", "+7.000000E+00")])
    smu.configure_protection(ProtectionLimits(voltage_max_v=4.25, voltage_min_v=2.4, current_max_a=7.0))
    conv.assert_done()


def test_a_protection_the_instrument_did_not_take_is_an_instrument_error():
    """The OVP level reads back NONE (the instrument kept its power-on level): ProtectionNotTaken,
    an InstrumentError (exit 4), raised before anything switches the output on."""
    smu, conv = make(PROTECTION_SET + [(":SOUR:VOLT:PROT?", "NONE")])
    with pytest.raises(ProtectionNotTaken, match=r"^cycler \(conversation\): configure_protection: :SOUR:VOLT:PROT "
                                                r"set to PROT5 but the instrument reads back 'NONE'"):
        smu.configure_protection(ProtectionLimits(voltage_max_v=4.25, voltage_min_v=2.4, current_max_a=7.0))
    assert issubclass(ProtectionNotTaken, InstrumentError)
    conv.assert_done()


def test_set_current_then_measure_reads_voltage_and_source_current():
    smu, conv = make([(":SOUR:FUNC CURR", None), (':SENS:FUNC "VOLT"', None), (":SOUR:CURR:VLIM 4.2", None),
                      (":SOUR:CURR -2.5", None), NO_ERROR,
                      (':READ? "defbuffer1", READ, SOUR', "+3.712345E+00,-2.499990E+00")])
    smu.set_current(-2.5, 4.2)
    assert smu.measure() == (pytest.approx(3.712345), pytest.approx(-2.49999))
    conv.assert_done()


def test_set_voltage_measure_swaps_elements():
    smu, conv = make([(":SOUR:FUNC VOLT", None), (':SENS:FUNC "CURR"', None), (":SOUR:VOLT:READ:BACK ON", None),
                      (":SOUR:VOLT:ILIM 7", None), (":SOUR:VOLT 4.2", None), NO_ERROR,
                      (':READ? "defbuffer1", READ, SOUR', "+1.250000E+00,+4.200010E+00")])
    smu.set_voltage(4.2, 7.0)
    voltage, current = smu.measure()
    assert voltage == pytest.approx(4.20001) and current == pytest.approx(1.25)
    conv.assert_done()


def test_out_of_range_setpoint_is_refused_before_anything_is_sent():
    smu, conv = make([])
    with pytest.raises(SetpointOutOfRange, match="source_current_a = 9.0 A is outside"):
        smu.set_current(9.0, 4.2)
    conv.assert_done()


def test_error_queue_is_reported_with_the_command():
    smu, conv = make([(":OUTP ON", None), (":SYST:ERR?", '-222,"Data out of range"'), NO_ERROR])
    with pytest.raises(InstrumentCommandError, match="output on.*-222"):
        smu.output_on()
    conv.assert_done()


def test_identity_check_rejects_another_instrument():
    smu, conv = make([("*IDN?", "KEITHLEY INSTRUMENTS,MODEL 2450,1234,1.0")])
    with pytest.raises(InstrumentReplyError, match="expected one of MODEL 2460"):
        smu.verify_identity()
    conv.assert_done()


def test_driver_against_simulator_over_pyvisa(sim_bench):
    """The production driver through pyvisa's API to the simulated 2460: physics answers."""
    smu = sim_bench.cycler
    assert "MODEL 2460" in smu.verify_identity()
    smu.configure()
    smu.configure_protection(ProtectionLimits(4.25, 2.4, 7.0))
    smu.set_current(-5.0, 4.2)
    smu.output_on()
    v0, i0 = smu.measure()
    sim_bench.clock.sleep(60.0)
    v1, i1 = smu.measure()
    assert i0 == pytest.approx(-5.0, abs=1e-6) and i1 == pytest.approx(-5.0, abs=1e-6)
    assert 3.0 < v1 < v0 < 4.2  # discharging: voltage falls
    smu.output_off()
    assert not smu.is_output_on()
    # A bad command lands in the simulator's error queue and the driver reports it.
    smu.write(":SOUR:CURR:BOGUS 1")
    with pytest.raises(InstrumentCommandError, match="-113"):
        smu.check_errors("bogus")


def test_a_reading_garbled_once_is_asked_again():
    read = ':READ? "defbuffer1", READ, SOUR'
    smu, conv = make([(read, "+3.7\x13\x1fgarb"), (read, "+3.700000E+00,-1.000000E+00")])
    assert smu.measure() == (pytest.approx(3.7), pytest.approx(-1.0))
    conv.assert_done()


def test_a_reading_garbled_every_time_is_an_error_naming_the_instrument():
    read = ':READ? "defbuffer1", READ, SOUR'
    smu, conv = make([(read, "junk")] * 3)
    with pytest.raises(InstrumentReplyError, match=r"^cycler \(conversation\) :READ\?"):
        smu.measure()
    conv.assert_done()


@pytest.mark.parametrize("model", ["Keithley2450", "Keithley2460", "Keithley2461"])
def test_every_model_reads_its_protection_back(model):
    """Each model of the family sets and reads back the same three settings; a current limit the
    instrument clipped (here to the 2450's 1.05 A where 1 A was sent: 5 % off) is not taken."""
    import drivers.keithley24xx as family

    cls = getattr(family, model)
    current = min(1.0, cls.current_range_a[1])
    conv = Conversation([(":SOUR:VOLT:PROT PROT5", None), (":SOUR:CURR:VLIM 4.25", None),
                         (f":SOUR:VOLT:ILIM {current:.6g}", None), NO_ERROR, (":SOUR:VOLT:PROT?", "PROT5"),
                         (":SOUR:CURR:VLIM?", "+4.250000E+00"), (":SOUR:VOLT:ILIM?", "+1.050000E+00")])
    smu = cls(conv, name="cycler")
    with pytest.raises(ProtectionNotTaken, match=r":SOUR:VOLT:ILIM set to 1 A but the instrument reads back 1.05"):
        smu.configure_protection(ProtectionLimits(voltage_max_v=4.25, voltage_min_v=2.4, current_max_a=current))
    conv.assert_done()
