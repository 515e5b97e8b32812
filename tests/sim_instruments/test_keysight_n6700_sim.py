"""The simulated N6705C mainframe with N6781A modules at the message level: channel lists, one cell
per channel on the shared world, protection, errors."""

from __future__ import annotations

import pytest

from sim_instruments.cyclers.keysight_n6700 import KeysightN6700Sim
from sim_instruments.world.clock import VirtualClock
from sim_instruments.world.sim_world import SimWorld


@pytest.fixture
def sim():
    clock = VirtualClock()
    world = SimWorld.single_cell(clock, soc=0.5, channels=6)
    return KeysightN6700Sim(world, cells=[2, 3, 4, 5]), clock, world


def _errors(sim) -> list[int]:
    codes = []
    while not (reply := sim.handle_line("SYST:ERR?")).startswith("0,"):
        codes.append(int(reply.split(",")[0]))
    return codes


def test_channel_lists_address_the_mainframes_cells(sim):
    n6705, clock, world = sim
    assert n6705.channels("(@1:2,4)") == (1, 2, 4) and n6705.channels("(@3:1)") == (3, 2, 1)
    assert n6705.handle_line("SYST:CHAN:COUN?") == "4"
    assert n6705.handle_line("SYST:CHAN:MOD? (@1:4)") == "N6781A,N6781A,N6781A,N6781A"
    for line in ("FUNC CURR,(@1:4)", "VOLT:LIM 4.2,(@1:4)", "CURR 1.5,(@1,3)", "CURR -2,(@2)", "OUTP ON,(@1:3)"):
        n6705.handle_line(line)
    clock.sleep(60.0)
    currents = [float(x) for x in n6705.handle_line("MEAS:CURR? (@1:4)").split(",")]
    assert currents == pytest.approx([1.5, -2.0, 1.5, 0.0], abs=1e-9)
    assert n6705.handle_line("OUTP? (@4,1)") == "0,1"
    # channel n of the mainframe is world channel cells[n - 1]; the world's first two cells rest
    assert world.channels[3].source.actual_current_a == pytest.approx(-2.0)
    assert world.channels[0].source.output_on is False
    voltages = [float(x) for x in n6705.handle_line("MEAS:VOLT? (@1:2)").split(",")]
    assert voltages[0] > voltages[1]  # the charging cell reads above the discharging one
    assert _errors(n6705) == []


def test_bad_channels_and_headers_are_errors(sim):
    n6705, _, _ = sim
    assert n6705.handle_line("MEAS:VOLT? (@5)") is None
    n6705.handle_line("CURR 1,(@0:2)")
    n6705.handle_line("CURR 1")  # no channel list
    n6705.handle_line("VOLT 20.5,(@1)")  # above the N6781A's 20.4 V
    n6705.handle_line("SOUR:CURR:BOGUS 1,(@1)")
    assert _errors(n6705) == [-222, -222, -109, -222, -113]


def test_overvoltage_trips_the_channel_until_cleared(sim):
    n6705, clock, _ = sim
    for line in ("VOLT:PROT:REM 3.0,(@2)", "FUNC CURR,(@2)", "VOLT:LIM 4.2,(@2)", "CURR 1,(@2)", "OUTP ON,(@2)"):
        n6705.handle_line(line)
    clock.sleep(2.0)
    assert n6705.handle_line("STAT:QUES:COND? (@1:2)") == "0,1"  # OV (bit 0) on channel 2 only
    assert n6705.handle_line("OUTP? (@2)") == "0"
    n6705.handle_line("OUTP ON,(@2)")
    assert n6705.handle_line("OUTP? (@2)") == "0"  # latched
    n6705.handle_line("VOLT:PROT:REM 4.3,(@2)")
    n6705.handle_line("OUTP:PROT:CLE (@2)")
    n6705.handle_line("OUTP ON,(@2)")
    assert n6705.handle_line("OUTP? (@2)") == "1"
    assert _errors(n6705) == []
