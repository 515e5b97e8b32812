"""The DAQ970A simulator against its Programming Guide, command by command (raw SCPI probes, in
process, on a virtual clock). Page numbers: Keysight DAQ970A/DAQ973A Programming Guide."""

from __future__ import annotations

import pytest

from sim_instruments.meters.keysight_daq970a import OVERLOAD, KeysightDaq970aSim
from sim_instruments.meters.thermocouple import type_k_emf_v
from sim_instruments.world.clock import VirtualClock
from sim_instruments.world.sim_world import SimWorld


@pytest.fixture
def daq():
    clock = VirtualClock()
    world = SimWorld.single_cell(clock, seed=0)
    world.channels[0].cell.set_thermocouple_noise(0.0)
    sim = KeysightDaq970aSim(world)
    sim.handle_line("*RST")
    sim.handle_line("*CLS")
    return sim, world, clock


def _errors(sim) -> list[int]:
    codes = [code for code, _ in sim.errors]
    sim.errors.clear()
    return codes


def test_identity_reset_and_unsupported_headers(daq):
    sim, _world, _clock = daq
    assert sim.handle_line("*IDN?").startswith("Keysight Technologies,DAQ970A,")
    assert sim.handle_line("ROUT:SCAN?") == "(@)"  # *RST empties the scan list
    for line in ("MEAS?", "FORM:READ:TIME ON", "FORM:READ:UNIT ON", "FORM:READ:ALAR ON"):
        assert sim.handle_line(line) is None
    assert _errors(sim) == [-113] * 4
    assert sim.handle_line("SYST:ERR?") == '0,"No error"'


def test_status_registers_and_relays(daq):
    sim, _world, _clock = daq
    sim.handle_line("*ESE 60")
    sim.handle_line(":NOPE")  # command error: CME (32) and the error queue (EAV)
    assert int(sim.handle_line("*STB?")) & 0x24 == 0x24
    assert sim.handle_line("*ESR?") == "32" and sim.handle_line("*ESR?") == "0"
    assert sim.handle_line("*OPC?") == "1"
    sim.handle_line("STAT:PRES")
    sim.handle_line("*CLS")
    sim.handle_line("ROUT:CLOS (@103)")
    assert sim.handle_line("ROUT:CLOS? (@103,104)") == "1,0"
    assert sim.handle_line("ROUT:OPEN? (@103)") == "0"
    sim.handle_line("ROUT:OPEN (@103)")
    assert sim.handle_line("ROUT:CLOS? (@103)") == "0"
    sim.handle_line("ROUT:CLOS (@103)")
    sim.handle_line("CONF:TEMP TC,K,(@101,102)")
    sim.handle_line("READ?")  # the usual two-channel scan
    sim.handle_line("ROUT:CLOS (@103)")
    sim.handle_line("READ?")  # the scan opens the relay closed by hand
    assert sim.handle_line("ROUT:CLOS? (@103)") == "0"
    assert list(sim.errors) == []


def test_read_honours_no_channel_list_and_the_scan_list(daq):
    """READ? takes no parameter: ``READ? (@101)`` is -108 with no reading (not a scan of both)."""
    sim, world, _clock = daq
    sim.handle_line("CONF:TEMP TC,K,(@101,102)")
    assert sim.handle_line("READ? (@101)") is None
    assert _errors(sim) == [-108]
    sim.handle_line("ROUT:SCAN (@101)")
    assert sim.handle_line("ROUT:SCAN:SIZE?") == "+1"
    (cell,) = sim.handle_line("READ?").split(",")
    assert float(cell) == pytest.approx(world.channels[0].cell.measured_temperature_c(), abs=1e-6)
    assert sim.handle_line("MEAS:TEMP? TC,K,(@101)") == sim.handle_line("READ?")
    assert _errors(sim) == []


def test_channel_settings_read_back(daq):
    sim, _world, _clock = daq
    sim.handle_line("CONF:TEMP TC,K,(@101,102)")
    assert sim.handle_line("FUNC? (@101,102)") == '"TEMP","TEMP"'
    sim.handle_line('FUNC "TEMP",(@101)')
    sim.handle_line("TEMP:NPLC 10,(@101)")
    assert sim.handle_line("TEMP:NPLC? (@101)") == "+1.00000000E+01"
    sim.handle_line("TEMP:NPLC 5,(@102)")  # between two steps: the next larger, 10 PLC
    assert sim.handle_line("SENS:TEMP:NPLC? (@102)") == "+1.00000000E+01"
    sim.handle_line("TEMP:TRAN:TC:TYPE K,(@101)")
    assert sim.handle_line("TEMP:TRAN:TC:TYPE? (@101)") == "K"
    sim.handle_line("TEMP:TRAN:TC:CHEC ON,(@101)")
    assert sim.handle_line("TEMP:TRAN:TC:RJUN:TYPE? (@101)") == "INT"
    sim.handle_line("ROUT:CHAN:DEL 0.5,(@101)")
    assert sim.handle_line("ROUT:CHAN:DEL? (@101,102)") == "+5.00000000E-01,+2.00000000E-03"
    sim.handle_line("UNIT:TEMP K")
    assert sim.handle_line("UNIT:TEMP?") == "K"
    assert _errors(sim) == []
    sim.handle_line("TEMP:TRAN:TC:TYPE X,(@101)")
    sim.handle_line("TEMP:TRAN:TC:RJUN 90,(@101)")  # fixed junction: -20..+80 °C
    sim.handle_line('FUNC "RES",(@101)')  # the channels are wired to thermocouples
    assert _errors(sim) == [-224, -222, -224]


def test_reference_junction_and_dc_volts_follow_the_thermocouple_physics(daq):
    """The channel measures the EMF against the terminal block (lab temperature); a fixed reference
    junction programmed to another temperature than the block's reads off by about that difference."""
    sim, world, _clock = daq
    cell_c = world.channels[0].cell.measured_temperature_c()
    lab_c = world.chamber.lab_c
    sim.handle_line("CONF:VOLT:DC AUTO,(@101)")
    sim.handle_line("VOLT:DC:NPLC 1.0,(@101)")
    assert sim.handle_line("FUNC? (@101)") == '"VOLT"'
    emf = float(sim.handle_line("READ?"))
    assert emf == pytest.approx(type_k_emf_v(cell_c) - type_k_emf_v(lab_c), abs=1e-9)
    assert float(sim.handle_line("MEAS:VOLT:DC? AUTO,(@101)")) == pytest.approx(emf, abs=1e-9)
    sim.handle_line("CONF:TEMP TC,K,(@101)")
    sim.handle_line("TEMP:TRAN:TC:RJUN:TYPE FIX,(@101)")
    sim.handle_line("TEMP:TRAN:TC:RJUN 30,(@101)")
    assert sim.handle_line("TEMP:TRAN:TC:RJUN? (@101)") == "+3.00000000E+01"
    reading = float(sim.handle_line("READ?"))
    assert reading - cell_c == pytest.approx(30.0 - lab_c, abs=0.3)  # EMF slope differs a little
    sim.handle_line("TEMP:TRAN:TC:RJUN:TYPE EXT,(@101)")  # no external reference wired
    assert float(sim.handle_line("READ?")) == OVERLOAD
    assert _errors(sim) == []


def test_timer_scan_into_reading_memory(daq):
    sim, world, clock = daq
    sim.handle_line("CONF:TEMP TC,K,(@101,102)")
    sim.handle_line("TRIG:SOUR TIM")
    sim.handle_line("TRIG:TIM 5")
    sim.handle_line("TRIG:COUN 3")
    assert (sim.handle_line("TRIG:SOUR?"), sim.handle_line("TRIG:TIM?"), sim.handle_line("TRIG:COUN?")) == (
        "TIM", "+5.00000000E+00", "+3.00000000E+00")
    sim.handle_line("INIT")
    assert sim.handle_line("DATA:POIN?") == "+0"  # the first sweep takes 2 x (1 PLC + 2 ms)
    clock.sleep(0.1)
    assert sim.handle_line("DATA:POIN?") == "+2"
    clock.sleep(60.0)
    assert sim.handle_line("DATA:POIN?") == "+6"  # three sweeps, then the scan stops
    assert sim.handle_line("DATA:POIN? (@102)") == "+3"
    fetched = sim.handle_line("FETC?").split(",")
    assert len(fetched) == 6 and sim.handle_line("DATA:POIN?") == "+6"  # FETCh? does not erase
    removed = sim.handle_line("DATA:REM? 2").split(",")
    assert removed == fetched[:2] and sim.handle_line("DATA:POIN?") == "+4"
    assert float(removed[1]) == pytest.approx(world.chamber.air_c, abs=1.0)
    block = sim.handle_line("R? 2")
    body = ",".join(fetched[2:4])
    assert block == f"#2{len(body)}{body}"
    assert sim.handle_line("DATA:REM? 5") is None  # only 2 left
    assert _errors(sim) == [-222]
    sim.handle_line("FORM:READ:CHAN ON")
    assert sim.handle_line("FORM:READ:CHAN?") == "1"
    assert sim.handle_line("DATA:REM? 2").split(",")[1::2] == ["101", "102"]
    assert sim.handle_line("R?") == "#10"
    assert sim.handle_line("FETC?") is None  # nothing in memory
    assert _errors(sim) == [-230]


def test_infinite_scan_abort_and_bus_triggers(daq):
    sim, _world, clock = daq
    sim.handle_line("CONF:TEMP TC,K,(@101)")
    sim.handle_line("TRIG:COUN INF")
    assert sim.handle_line("TRIG:COUN?") == "+9.90000000E+37"
    assert sim.handle_line("READ?") is None  # an infinite count never completes a READ?
    assert _errors(sim) == [-221]
    sim.handle_line("TRIG:SOUR IMM")
    sim.handle_line("INIT")
    clock.sleep(1.0)  # 1 PLC + 2 ms per sweep: 45 sweeps in a second at 50 Hz
    sim.handle_line("ABOR")
    stored = int(sim.handle_line("DATA:POIN?"))
    assert stored == 45
    clock.sleep(10.0)
    assert int(sim.handle_line("DATA:POIN?")) == stored  # aborted: no more sweeps, readings kept
    sim.handle_line("TRIG:SOUR BUS")
    sim.handle_line("TRIG:COUN 2")
    assert sim.handle_line("READ?") is None  # READ? with BUS triggers: deadlock (p. 342)
    sim.handle_line("*TRG")  # not waiting for a trigger
    assert _errors(sim) == [-214, -211]
    sim.handle_line("INIT")
    assert sim.handle_line("DATA:POIN?") == "+0"  # INIT cleared memory; waits for *TRG
    sim.handle_line("*TRG")
    sim.handle_line("*TRG")
    assert sim.handle_line("DATA:POIN?") == "+2"
    sim.handle_line("*RST")
    assert sim.handle_line("DATA:POIN?") == "+0" and sim.handle_line("INIT") is None
    assert _errors(sim) == [-221]  # INIT with an empty scan list
