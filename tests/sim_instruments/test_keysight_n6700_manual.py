"""The simulated N6705C with N6781A modules answers each command of its manual table
(:mod:`sim_instruments.cyclers.keysight_n6700_commands`) as the N6700 programmer's reference
states it: implemented rows' examples with their replies or effects, the error queue empty after
each; the commands the manual excludes for the N678xA refused with -113 and without effect;
unsupported rows refused with -113."""

from __future__ import annotations

import pytest

from sim_instruments.cyclers.keysight_n6700 import KeysightN6700Sim
from sim_instruments.cyclers.keysight_n6700_commands import MANUAL_COMMANDS
from sim_instruments.world.clock import VirtualClock
from sim_instruments.world.sim_world import SimWorld
from tests.sim_instruments.manual_script import run_script


@pytest.fixture
def mainframe():
    clock = VirtualClock()
    world = SimWorld.single_cell(clock, soc=0.5, channels=2)
    return KeysightN6700Sim(world, cells=[0, 1]), clock, world


SCRIPT = [
    ("*IDN?", "Keysight Technologies,N6705C,MY56000001,D.04.01"),
    ("*RST", None),
    ("*STB?", "0"),
    ("SYST:CHAN:COUN?", "2"),
    ("SYST:CHAN:MOD? (@1:2)", "N6781A,N6781A"),
    ("VOLT:PROT:REM? (@1)", "+2.200000E+01"),  # *RST MAX
    ("VOLT:PROT:REM:NEG? (@1)", "+0.000000E+00"),  # *RST MAX: the least negative value
    ("CURR:LIM? MAX,(@1)", "+3.060000E+00"),
    ("CURR? MIN,(@1:2)", "-3.060000E+00,-3.060000E+00"),
    ("VOLT? MAX,(@1)", "+2.040000E+01"),
    ("VOLT:PROT:REM 4.3,(@1)", None), ("VOLT:PROT:REM? (@1)", "+4.300000E+00"),
    ("VOLT:PROT:REM:NEG -1,(@1)", None), ("VOLT:PROT:REM:NEG? (@1)", "-1.000000E+00"),
    ("FUNC CURR,(@1)", None), ("FUNC? (@1)", "CURR"),
    ("VOLT:LIM 4.2,(@1)", None),
    ("CURR 1.5,(@1)", None), ("CURR? (@1)", "+1.500000E+00"),
    ("OUTP ON,(@1)", None), ("OUTP? (@1:2)", "1,0"),
    ("MEAS:VOLT? (@1)", lambda r: 3.0 < float(r) < 4.2),
    ("MEAS:CURR? (@1)", "+1.500000E+00"),
    ("MEAS:POW? (@1)", lambda r: 4.5 < float(r) < 6.3),  # 1.5 A at 3..4.2 V
    ("STAT:QUES:COND? (@1)", "0"),
    ("OUTP:PROT:CLE (@1)", None),
    ("VOLT 4.1,(@1)", None),
    ("SYST:ERR?", '0,"No error"'),
]


def test_every_implemented_command_answers_as_the_manual_states(mainframe):
    sim, clock, _world = mainframe
    run_script(sim, clock, SCRIPT)


def test_ranges_from_the_manual(mainframe):
    sim, _clock, _world = mainframe
    for line in ("CURR 3.06,(@1)", "VOLT 20.4,(@1)", "CURR:LIM 3.06,(@1)", "VOLT:PROT:REM 22,(@1)"):
        sim.handle_line(line)
    assert list(sim.errors) == []
    for line in ("CURR 3.07,(@1)", "VOLT 20.5,(@1)", "CURR:LIM 3.1,(@1)", "VOLT:PROT:REM 22.1,(@1)",
                 "VOLT:PROT:REM:NEG 0.5,(@1)"):
        assert sim.handle_line(line) is None
    assert [c for c, _ in sim.errors] == [-222] * 5


@pytest.mark.parametrize("line", ["VOLT:PROT 4.3,(@1)", "VOLT:PROT:TRAC ON,(@1)", "OUTP:PMOD VOLT,(@1)",
                                  "SOUR:VOLT:PROT:LEV 4.3,(@2)", "VOLT:PROT? (@1)"])
def test_commands_the_manual_excludes_for_the_n6781a_are_refused_without_effect(mainframe, line):
    sim, _clock, world = mainframe
    assert sim.handle_line(line) is None
    assert [c for c, _ in sim.errors] == [-113]
    assert [ch.source.overvoltage_v for ch in world.channels] == [22.0, 22.0]  # the OVP did not move


@pytest.mark.parametrize("row", [r for r in MANUAL_COMMANDS if r.status == "unsupported"], ids=lambda r: r.example)
def test_unsupported_commands_are_refused_with_undefined_header(mainframe, row):
    sim, _clock, _world = mainframe
    assert sim.handle_line(row.example) is None
    assert [c for c, _ in sim.errors] == [-113]
