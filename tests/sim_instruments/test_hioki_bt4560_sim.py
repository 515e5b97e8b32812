"""The Hioki BT4560 simulator command by command (raw probes, in process, virtual clock), after the
BT4560 Communication Command Instruction Manual (BT4560A987): settings read back, errors set the
event status register's bits instead of a queue."""

from __future__ import annotations

from sim_instruments.impedance.hioki_bt4560 import HiokiBT4560Sim
from sim_instruments.world.clock import VirtualClock
from sim_instruments.world.sim_world import SimWorld


def test_settings_read_back_and_errors_set_esr_bits():
    clock = VirtualClock()
    meter = HiokiBT4560Sim(SimWorld.single_cell(clock, seed=0))
    assert meter.handle_line("*IDN?").startswith("HIOKI,BT4560,")
    meter.handle_line("*RST")
    meter.handle_line("*CLS")
    assert meter.handle_line("*OPC?") == "1"
    meter.handle_line(":FUNC RV")
    meter.handle_line(":FREQ 10")
    assert float(meter.handle_line(":FREQ?")) == 10.0
    meter.handle_line(":RES:RANG 1E-02")
    assert float(meter.handle_line(":RES:RANG?")) == 0.01
    meter.handle_line(":AUT ON")
    meter.handle_line(":SAMP:RATE Z,SLOW")
    assert meter.handle_line(":SAMP:RATE? Z") == "SLOW"
    meter.handle_line(":SAMP:DEL:MODE WAVE")
    meter.handle_line(":SAMP:DEL:WAVE 1")
    meter.handle_line(":TRIG:SOUR IMM")
    meter.handle_line(":INIT:CONT ON")
    meter.handle_line(":SYST:HEAD ON")
    assert meter.handle_line(":FREQ?").startswith(":FREQ ")
    meter.handle_line(":SYST:HEAD OFF")
    assert meter.handle_line("*ESR?") == "0"
    clock.sleep(10.0)
    r, x, v = (float(p) for p in meter.handle_line(":FETC?").split(","))
    assert 0.0 < r < 0.1 and 3.0 < v < 4.3
    # Free-run off, external trigger: one measurement per *TRG.
    meter.handle_line(":TRIG:SOUR EXT")
    meter.handle_line("*TRG")
    clock.sleep(10.0)
    assert meter.handle_line(":FETC?")
    meter.handle_line(":FREQ 5000")  # beyond 1050 Hz: execution error
    meter.handle_line(":NOPE")  # unknown header: command error
    assert meter.handle_line("*STB?") is None  # not simulated: command error, no reply
    assert meter.handle_line("*ESR?") == str(16 | 32)
    assert meter.handle_line("SYST:ERR?") is None  # no error queue on the BT4560
