"""The simulated 2460's command table (2460-901-01 section 6) at the message level."""

from __future__ import annotations

import pytest

from sim_instruments.cyclers.keithley2460 import Keithley2460Sim
from sim_instruments.world.clock import VirtualClock
from sim_instruments.world.sim_world import SimWorld


@pytest.fixture
def sim():
    clock = VirtualClock()
    world = SimWorld.single_cell(clock, soc=0.5)
    return Keithley2460Sim(world), clock


def _errors(sim) -> list[int]:
    codes = []
    while (reply := sim.handle_line(":SYST:ERR?")) and not reply.startswith("0,"):
        codes.append(int(reply.split(",")[0]))
    return codes


def test_output_off_state_is_per_function_with_or_without_the_function_node(sim):
    k, _ = sim
    k.handle_line(":OUTP:CURR:SMOD HIMP")
    assert k.handle_line(":OUTP:CURR:SMOD?") == "HIMP" and k.handle_line(":OUTP:VOLT:SMOD?") == "NORM"
    assert k.handle_line(":OUTP:SMOD?") == "HIMP"  # the present source function's (CURR after *RST)
    k.handle_line(":OUTPut:SMODe ZERO")  # no function: every function (p. 6-32)
    assert k.handle_line(":OUTP:VOLT:SMOD?") == "ZERO" and k.handle_line(":OUTP:CURR:SMOD?") == "ZERO"
    k.handle_line(":OUTP:VOLT:SMOD BOGUS")
    assert _errors(k) == [-224]


def test_voltage_limit_trips_in_a_discharge_when_set_at_or_below_the_cell_voltage(sim):
    k, clock = sim
    for line in (":SOUR:FUNC CURR", ":SOUR:CURR -1", ":SOUR:CURR:VLIM 4.2", ":OUTP ON"):
        k.handle_line(line)
    clock.sleep(1.0)
    voltage = float(k.handle_line(":MEAS:VOLT?"))
    assert k.handle_line(":SOUR:CURR:VLIM:TRIP?") == "0"  # |V| below the limit: plain CC discharge
    limit_v = round(voltage - 0.02, 3)
    k.handle_line(f":SOUR:CURR:VLIM {limit_v:.3f}")  # a limit below the cell's voltage
    clock.sleep(1.0)
    assert k.handle_line(":SOUR:CURR:VLIM:TRIP?") == "1"
    held = float(k.handle_line(":MEAS:VOLT?"))
    current = float(k.handle_line(":MEAS:CURR?"))
    assert held == pytest.approx(limit_v, abs=0.005)  # the output holds the limit...
    assert -7.35 < current < -1.0  # ...sinking more than programmed (the manual's sink caution)
    k.handle_line(":SOUR:CURR:VLIM 0.5")  # far below: the 7.35 A range caps the sink current
    clock.sleep(1.0)
    assert float(k.handle_line(":MEAS:CURR?")) == pytest.approx(-7.35)
    assert _errors(k) == []


def test_unknown_headers_get_minus_113_and_a_colon_before_a_common_command_is_fine(sim):
    k, _ = sim
    k.handle_line("*RST;:STAT:PRES;:*CLS;")
    assert _errors(k) == []
    k.handle_line(":TRAC:FEED SENS")
    k.handle_line(":SENS:CURR:PROT 1")  # a 2400 header, not in the 2460 tree
    assert _errors(k) == [-113, -113]
    assert k.handle_line("*ESR?") == "32"


def test_ranges_pick_the_smallest_that_holds_the_value_and_turn_autorange_off(sim):
    k, _ = sim
    assert k.handle_line(":SENS:VOLT:RANG:AUTO?") == "1"
    k.handle_line(":SENS:VOLT:RANG 12")
    assert float(k.handle_line(":SENS:VOLT:RANG?")) == 20.0
    assert k.handle_line(":SENS:VOLT:RANG:AUTO?") == "0"
    k.handle_line(":SENS:CURR:RANG 7.35")
    assert float(k.handle_line(":SENS:CURR:RANG?")) == 7.0
    k.handle_line(":SENS:CURR:RANG 8")
    k.handle_line(":SENS:VOLT:NPLC 20")
    assert _errors(k) == [-222, -222]
