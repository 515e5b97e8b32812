"""Conversation tests for the Espec P-300 and DAQ970A drivers, and both against their simulators."""

from __future__ import annotations

import math

import pytest

from drivers.errors import InstrumentCommandError, InstrumentReplyError, SetpointOutOfRange
from drivers.espec import EspecP300
from drivers.keysight_daq import KeysightDaq970a
from tests.drivers.conversation import Conversation


def test_espec_setpoint_start_read():
    conv = Conversation([("TEMP, S-20.0", "OK: TEMP, S-20.0"), ("MODE, CONSTANT", "OK: MODE, CONSTANT"),
                         ("TEMP?", "23.4,-20.0,100.0,-45.0"), ("ALARM?", "0")])
    chamber = EspecP300(conv)
    chamber.set_setpoint_c(-20.0)
    chamber.start()
    assert chamber.read_air_c() == pytest.approx(23.4)
    assert chamber.alarm() == ""
    conv.assert_done()


def test_espec_refusal_and_garbage_are_errors():
    conv = Conversation([("TEMP, S50.0", "NA:DATA OUT OF RANGE"), ("TEMP?", "23.4,-20.0")])
    chamber = EspecP300(conv)
    with pytest.raises(InstrumentCommandError, match="refused: NA:DATA OUT OF RANGE"):
        chamber.set_setpoint_c(50.0)
    with pytest.raises(InstrumentReplyError, match="expected 4 fields"):
        chamber.read_air_c()
    with pytest.raises(SetpointOutOfRange):
        chamber.set_setpoint_c(150.0)
    conv.assert_done()


def test_daq_configure_and_read_with_open_thermocouple():
    conv = Conversation([("CONF:TEMP TC,K,(@101,102)", None), ("UNIT:TEMP C", None), (":SYST:ERR?", '0,"No error"'),
                         ("READ?", "+2.51230000E+01,+9.90000000E+37")])
    daq = KeysightDaq970a(conv)
    daq.configure((101, 102))
    first, second = daq.read_c()
    assert first == pytest.approx(25.123) and math.isnan(second)
    conv.assert_done()


def test_chamber_and_meter_against_simulators(sim_bench):
    """Setpoint -> air cools at a limited rate -> the thermocouple on the cell follows."""
    chamber, meter, clock = sim_bench.chamber, sim_bench.thermometer, sim_bench.clock
    assert chamber.verify_identity().startswith("T,")
    meter.configure((101, 102))
    cell0, air0 = meter.read_c()
    chamber.set_setpoint_c(-20.0)
    chamber.start()
    clock.sleep(120.0)
    air_2min = chamber.read_air_c()
    assert 25.0 - 12.0 < air_2min < 25.0 - 2.0  # rate-limited (a few K/min), not a jump
    clock.sleep(6 * 3600.0)
    cell, air = meter.read_c()
    assert air == pytest.approx(-20.0, abs=0.5)
    assert cell == pytest.approx(-20.0, abs=1.0) and cell0 == pytest.approx(25.0, abs=0.5)
