"""The simulated Keithley 2460 answers each command of its manual table
(:mod:`sim_instruments.cyclers.keithley2460_commands`) as 2460-901-01 sections 5 and 6 state:
every implemented row's example is sent below with its reply or effect checked, the error queue
empty after each; every unsupported row's example is refused with -113."""

from __future__ import annotations

import pytest

from sim_instruments.cyclers.keithley2460 import Keithley2460Sim
from sim_instruments.cyclers.keithley2460_commands import MANUAL_COMMANDS
from sim_instruments.world.clock import VirtualClock
from sim_instruments.world.sim_world import SimWorld
from tests.sim_instruments.manual_script import run_script


@pytest.fixture
def smu():
    clock = VirtualClock()
    world = SimWorld.single_cell(clock, soc=0.5)
    return Keithley2460Sim(world), clock, world


def _number(reply: str | None) -> float:
    assert reply is not None
    return float(reply)


#: (line, check): check is the exact reply, None for a command without one, or a predicate.
SCRIPT = [
    ("*IDN?", lambda r: r.startswith("KEITHLEY INSTRUMENTS,MODEL 2460,")),
    ("*LANG?", "SCPI"),
    ("*LANG SCPI", None),
    ("*RST", None),
    ("*CLS", None),
    ("*ESE 32", None), ("*ESE?", "32"),
    ("*SRE 4", None), ("*SRE?", "4"),
    ("*STB?", "0"),
    ("*OPC", None), ("*ESR?", "1"),  # OPC set at once, reading clears it
    ("*OPC?", "1"), ("*WAI", None), ("*TRG", None),
    (":ROUT:TERM REAR", None), (":ROUT:TERM?", "REAR"),
    (":FORM:DATA ASC", None),
    (":SOUR:FUNC CURR", None), (":SOUR:FUNC?", "CURR"),
    (":SOUR:CURR:VLIM 4.2", None), (":SOUR:CURR:VLIM?", "+4.200000E+00"),
    (":SOUR:VOLT:PROT PROT5", None), (":SOUR:VOLT:PROT?", "PROT5"), (":SOUR:VOLT:PROT:TRIP?", "0"),
    (":SOUR:CURR:READ:BACK ON", None),
    (":SOUR:CURR:RANG 1", None), (":SOUR:CURR:RANG?", "+1.000000E+00"),
    (":SOUR:CURR:DEL 0.01", None), (":SOUR:CURR:DEL?", "+1.000000E-02"),
    (":SOUR:CURR:DEL:USER1 0.5", None), (":SOUR:CURR:DEL:USER1?", "+5.000000E-01"),
    (":SOUR:CURR 0.5", None), (":SOUR:CURR?", "+5.000000E-01"),
    (':SENS:FUNC "VOLT"', None), (":SENS:FUNC?", '"VOLT:DC"'),
    (":SENS:VOLT:NPLC 0.1", None), (":SENS:VOLT:NPLC?", "+1.000000E-01"),
    (":SENS:VOLT:RANG 5", None), (":SENS:VOLT:RANG?", "+7.000000E+00"),  # the smallest range holding 5 V
    (":SENS:VOLT:AVER:COUN 5", None), (":SENS:VOLT:AVER:COUN?", "5"),
    (":SENS:VOLT:RSEN ON", None), (":SENS:VOLT:RSEN?", "1"),
    (":SENS:VOLT:AZER?", "1"), (":SENS:VOLT:AZER OFF", None), (":SENS:VOLT:AZER?", "0"),
    (":SENS:AZER:ONCE", None),
    (":SENS:VOLT:DEL:USER2 0.25", None), (":SENS:VOLT:DEL:USER2?", "+2.500000E-01"),
    (":SENS:COUN 3", None),
    (":OUTP:CURR:SMOD HIMP", None), (":OUTP:SMOD?", "HIMP"),
    (":OUTP ON", None), (":OUTP?", "1"),
    (":SOUR:CURR:VLIM:TRIP?", "0"),  # charging at 0.5 A, far below 4.2 V
    (':READ? "defbuffer1", READ, SOUR', lambda r: 3.0 < float(r.split(",")[0]) < 4.2
     and float(r.split(",")[1]) == pytest.approx(0.5)),
    (':MEAS? "defbuffer1"', lambda r: 3.0 < float(r) < 4.2),
    (":MEAS:VOLT?", lambda r: 3.0 < float(r) < 4.2),
    (':TRAC:ACT? "defbuffer1"', "3"),  # :READ?, :MEAS?, :MEAS:VOLT? each stored one reading
    (':FETC? "defbuffer1"', lambda r: 3.0 < float(r) < 4.2),
    (":INIT", None), (':TRAC:ACT? "defbuffer1"', "6"),  # :SENS:COUN 3 more
    (":ABOR", None),
    (':TRAC:DATA? 1, 3, "defbuffer1"', lambda r: len(r.split(",")) == 3),
    (':TRAC:STAT:AVER? "defbuffer1"', lambda r: 3.0 < float(r) < 4.2),
    (':TRAC:TRIG "defbuffer1"', None), (':TRAC:ACT? "defbuffer1"', "7"),
    (':TRAC:CLE "defbuffer1"', None), (':TRAC:ACT? "defbuffer1"', "0"),
    (':TRAC:POIN 50, "defbuffer2"', None), (':TRAC:POIN? "defbuffer2"', "50"),
    (':TRAC:MAKE "mybuf", 100', None), (':TRAC:POIN? "mybuf"', "100"), (':TRAC:DEL "mybuf"', None),
    (":SOUR:SWE:CURR:LIN 0, 1, 5", None), (":INIT", None), (':TRAC:ACT? "defbuffer1"', "5"),
    (":OUTP OFF", None),
    (":SOUR:FUNC VOLT", None), (":SOUR:VOLT 3.9", None), (":SOUR:VOLT?", "+3.900000E+00"),
    (":SOUR:VOLT:ILIM 1", None), (":SOUR:VOLT:ILIM?", "+1.000000E+00"), (":SOUR:VOLT:ILIM:TRIP?", "0"),
    (":SYST:BEEP 440, 0.1", None),
    (":SYST:LFR?", "60"),
    (":STAT:PRES", None), (":STAT:CLE", None),
    (":SYST:ERR:COUN?", "0"),
]


def test_every_implemented_command_answers_as_the_manual_states(smu):
    sim, clock, _world = smu
    run_script(sim, clock, SCRIPT)
    # the sweep measured 5 levels 0..1 A into defbuffer1: a higher charge current reads higher
    readings = [float(x) for x in sim.handle_line(':TRAC:DATA? 1, 5, "defbuffer1"').split(",")]
    assert readings == sorted(readings)


def test_status_and_system_clear_what_the_manual_says(smu):
    sim, _clock, _world = smu
    sim.handle_line(":SOUR:BOGUS 1")
    assert sim.handle_line("*ESR?") == "32"  # command error bit
    sim.handle_line(":SOUR:BOGUS 1")
    sim.handle_line(":STAT:CLE")  # event registers cleared, the event log kept
    assert sim.handle_line("*ESR?") == "0" and len(sim.errors) == 2
    sim.handle_line(":SYST:CLE")  # the event log cleared
    assert sim.handle_line(":SYST:ERR?") == '0,"No error"'


def test_out_of_range_and_empty_buffers_are_errors(smu):
    sim, _clock, _world = smu
    for line, code in ((":SOUR:CURR:DEL:USER6 1", -113), (":SOUR:CURR:DEL:USER1 20000", -222),
                       (':FETC? "defbuffer2"', -230), (":SOUR:SWE:CURR:LIN 0, 1", -109),
                       (":SOUR:SWE:CURR:LIN 0, 1, 1", -222), (':TRAC:DEL "defbuffer1"', -224),
                       ("*LANG BASIC", -224)):
        assert sim.handle_line(line) is None
        assert [c for c, _ in sim.errors] == [code], line
        sim.errors.clear()


@pytest.mark.parametrize("row", [r for r in MANUAL_COMMANDS if r.status == "unsupported"], ids=lambda r: r.example)
def test_unsupported_commands_are_refused_with_undefined_header(smu, row):
    sim, _clock, _world = smu
    assert sim.handle_line(row.example) is None
    assert [c for c, _ in sim.errors] == [-113]
