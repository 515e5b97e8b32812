"""The simulated EA PSB 10060-60 answers each command of its manual table
(:mod:`sim_instruments.cyclers.ea_psb_commands`) as EA's programming guide states it: implemented
rows' examples with their replies or effects (units in the replies, the display's decimals), the
error queue empty after each; unsupported rows refused with -113."""

from __future__ import annotations

import pytest

from sim_instruments.cyclers.ea_psb import EaPsbSim
from sim_instruments.cyclers.ea_psb_commands import MANUAL_COMMANDS
from sim_instruments.world.clock import VirtualClock
from sim_instruments.world.sim_world import SimWorld
from tests.sim_instruments.manual_script import run_script


@pytest.fixture
def psb():
    clock = VirtualClock()
    world = SimWorld.single_cell(clock, soc=0.5)
    return EaPsbSim(world), clock, world


SCRIPT = [
    ("*IDN?", lambda r: "PSB 10060-60" in r),
    ("*RST", None), ("*CLS", None), ("*OPC?", "1"),
    ("SYST:LOCK ON", None), ("SYST:LOCK:OWN?", "REMOTE"),
    ("SYST:NOM:VOLT?", "60.00 V"),
    ("SYST:CONF:MODE UIP", None), ("SYST:CONF:MODE?", "UIP"),
    ("SYST:COMM:MON:TIME 5", None), ("SYST:COMM:MON:ACT ON", None), ("SYST:COMM:MON:ACT?", "ON"),
    ("POW:STAG:AFT:REM OFF", None), ("POW:STAG:AFT:REM?", "OFF"),
    ("SOUR:POW 1000", None), ("SINK:POW 500", None),
    ("SOUR:POW:LIM:HIGH 1400", None), ("SOUR:POW:LIM:HIGH?", "1400.0 W"),
    ("SOUR:VOLT:LIM:HIGH 4.25", None), ("SOUR:VOLT:LIM:HIGH?", "4.25 V"),
    ("SOUR:CURR:LIM:HIGH 20", None), ("SINK:CURR:LIM:HIGH 20", None),
    ("SOUR:VOLT:PROT 4.3", None), ("SOUR:VOLT:PROT?", "4.30 V"),
    ("SOUR:CURR:PROT 20", None), ("SOUR:POW:PROT 1200", None),
    ("SINK:CURR:PROT 20", None), ("SINK:POW:PROT 1200", None), ("SINK:CURR:PROT?", "20.00 A"),
    ("SOUR:VOLT 4.1", None), ("SOUR:VOLT?", "4.10 V"),
    ("SOUR:CURR 10", None), ("SINK:CURR 5", None),
    ("OUTP ON", None), ("OUTP?", "ON"),
    ("MEAS:VOLT?", lambda r: r.endswith(" V") and 3.0 < float(r[:-2]) < 4.1),
    ("MEAS:CURR?", "10.00 A"),  # sourcing (charging) at the source current set value
    ("MEAS:POW?", lambda r: r.endswith(" W") and 30.0 < float(r[:-2]) < 41.0),
    ("MEAS:ARR?", lambda r: [p.split()[1] for p in r.split(", ")] == ["V", "A", "W"]),
    ("STAT:QUES:COND?", "0"),
    ("SYST:COMM:MON:ACT OFF", None),
    ("SYST:ERR:ALL?", '0,"No error"'),
]


def test_every_implemented_command_answers_as_the_manual_states(psb):
    sim, clock, _world = psb
    run_script(sim, clock, SCRIPT)


def test_settings_need_remote_control_and_respect_the_limits(psb):
    sim, _clock, _world = psb
    sim.handle_line("SOUR:VOLT 4.1")  # not under remote control
    sim.handle_line("SYST:LOCK ON")
    sim.handle_line("SOUR:VOLT:LIM:HIGH 4.25")
    sim.handle_line("SOUR:VOLT 4.3")  # above the adjustment limit
    sim.handle_line("SOUR:VOLT:PROT 70")  # above 110 % of 60 V
    assert [c for c, _ in sim.errors] == [-203, -222, -222]


@pytest.mark.parametrize("row", [r for r in MANUAL_COMMANDS if r.status == "unsupported"], ids=lambda r: r.example)
def test_unsupported_commands_are_refused_with_undefined_header(psb, row):
    sim, _clock, _world = psb
    sim.handle_line("SYST:LOCK ON")
    assert sim.handle_line(row.example) is None
    assert [c for c, _ in sim.errors] == [-113]
