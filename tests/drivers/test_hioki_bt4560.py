"""Conversation tests for the Hioki BT4560 driver, and the driver against its simulator over pyserial."""

from __future__ import annotations

import math

import numpy as np
import pytest

from drivers.errors import InstrumentCommandError, InstrumentReplyError, InstrumentTimeout, SetpointOutOfRange
from drivers.hioki_bt4560 import HiokiBT4560, sweep_frequencies
from tests.drivers.conversation import Conversation

ESR_OK = ("*ESR?", "0")


def make(pairs):
    conv = Conversation(pairs)
    meter = HiokiBT4560(conv, name="impedance")
    waits: list[float] = []
    meter.sleep = waits.append
    return meter, conv, waits


def test_configure_selects_rv_free_run_without_headers():
    meter, conv, _ = make([("*CLS", None), (":SYST:HEAD OFF", None), (":FUNC RV", None), (":SAMP:RATE Z,SLOW", None),
                           (":SAMP:DEL:MODE WAVE", None), (":SAMP:DEL:WAVE 1", None), (":TRIG:SOUR IMM", None),
                           (":INIT:CONT ON", None), ESR_OK])
    meter.configure(speed="slow")
    conv.assert_done()


def test_sweep_steps_frequency_waits_then_fetches_r_x():
    meter, conv, waits = make([
        (":AUT ON", None), ESR_OK,
        (":FREQ 1000", None), ESR_OK, (":FREQ?", "1.000E+03"), (":FETC?", "+1.00180E-02,+1.18600E-03,+3.71234E+00"),
        (":FREQ 100", None), ESR_OK, (":FREQ?", "1.000E+02"), (":FETC?", "+1.01430E-02,-3.80000E-04,+3.71230E+00"),
        (":FREQ 10", None), ESR_OK, (":FREQ?", "1.000E+01"), (":FETC?", "+9.9999E+37,+9.9999E+37,+3.71228E+00"),
    ])
    freqs, z_re, z_im = meter.sweep(1000.0, 10.0, 1, 1.5, galvanostatic=True)
    conv.assert_done()
    assert freqs == [1000.0, 100.0, 10.0]
    assert z_re[:2] == [pytest.approx(0.010018), pytest.approx(0.010143)]
    assert z_im[:2] == [pytest.approx(0.001186), pytest.approx(-0.00038)]
    assert math.isnan(z_re[2]) and math.isnan(z_im[2])  # overrange code is not data
    # each wait covers two full measurements (1 settling wave + 2 MED periods) at that frequency
    assert waits == [pytest.approx(2 * 3 / f + 0.05) for f in (1000.0, 100.0, 10.0)]


def test_small_current_amplitude_fixes_the_most_sensitive_allowed_range():
    meter, conv, _ = make([(":AUT OFF", None), (":RES:RANG 1E-02", None), ESR_OK,
                           (":FREQ 1", None), ESR_OK, (":FREQ?", "1.000E+00"), (":FETC?", "+9.1E-03,-1.0E-03,+3.7E+00")])
    meter.sweep(1.0, 1.0, 5, 0.6, galvanostatic=True)
    conv.assert_done()


def test_out_of_range_sweeps_and_amplitudes_are_refused_before_anything_is_sent():
    meter, conv, _ = make([])
    with pytest.raises(SetpointOutOfRange, match="outside the BT4560's 0.1-1050 Hz"):
        meter.sweep(10000.0, 0.01, 10, 1.5)
    with pytest.raises(SetpointOutOfRange, match="50 mA at least; requested 10 mA"):
        meter.sweep(1000.0, 1.0, 5, 0.01, galvanostatic=True)
    with pytest.raises(SetpointOutOfRange, match="requested 1 mV"):
        meter.sweep(1000.0, 1.0, 5, 0.001, galvanostatic=False)
    conv.assert_done()


def test_event_status_errors_and_garbage_are_clear():
    meter, conv, _ = make([(":AUT ON", None), ("*ESR?", "32")])
    with pytest.raises(InstrumentCommandError, match=r"set_range: command error \(CME\)"):
        meter.set_range(None)
    conv.assert_done()
    meter, conv, _ = make([(":FETC?", "+1.0E-02,garbage")])
    with pytest.raises(InstrumentReplyError, match=r"impedance \(conversation\) :FETC\?: expected 3 values"):
        meter.fetch()
    conv.assert_done()


def test_sweep_frequencies_are_log_spaced_in_the_given_order():
    freqs = sweep_frequencies(1000.0, 0.1, 5)
    assert len(freqs) == 21 and freqs[0] == pytest.approx(1000.0) and freqs[-1] == pytest.approx(0.1)
    assert np.allclose(np.diff(np.log10(freqs)), -0.2)
    assert sweep_frequencies(1.0, 10.0, 2) == [pytest.approx(1.0), pytest.approx(10 ** 0.5), pytest.approx(10.0)]


def test_driver_against_simulator_reads_the_cells_impedance(sim_bench):
    meter = sim_bench.impedance
    assert "BT4560" in meter.verify_identity()
    meter.configure()
    clock = sim_bench.clock
    t0 = clock.now_s()
    freqs, z_re, z_im = meter.sweep(1000.0, 0.1, 2, 1.5)
    cell = sim_bench.simulation.world.channels[0].cell
    model = cell.impedance_ohm(np.array(freqs))
    assert np.allclose(z_re, model.real, rtol=0.01, atol=3e-5)
    assert np.allclose(z_im, model.imag, rtol=0.05, atol=3e-5)
    # the sweep took the meter's measurement time on the bench clock (low frequencies dominate)
    assert clock.now_s() - t0 == pytest.approx(meter.sweep_time_s(1000.0, 0.1, 2), rel=1e-3)
    assert clock.now_s() - t0 > 2 * 3 / 0.1
    # every fetch got a measurement made at the frequency the driver asked for
    sim = sim_bench.simulation.endpoints["impedance"].frontend
    assert [f for _, f in sim.fetch_log] == freqs


def test_fetching_too_early_gets_no_reading_or_the_stale_one_as_on_the_real_meter(sim_bench):
    meter = sim_bench.impedance
    meter.configure()
    meter.set_range(None)
    waits: list[float] = []
    meter.sleep = waits.append  # a host that does not wait
    with pytest.raises(InstrumentTimeout):  # nothing measured yet: no reply, EXE set
        meter.measure_at(1000.0)
    with pytest.raises(InstrumentCommandError, match="execution error"):
        meter.check_errors()
    sim_bench.clock.sleep(waits[-1])
    r_1k, x_1k, _ = meter.fetch()  # now a fresh 1 kHz reading
    assert x_1k > 0  # inductive at 1 kHz
    _, r_10, x_10 = meter.measure_at(10.0)  # fetched at once: still the 1 kHz reading
    assert (r_10, x_10) == (r_1k, x_1k)
    sim_bench.clock.sleep(waits[-1])
    r_10, x_10, _ = meter.fetch()
    assert x_10 < 0  # capacitive at 10 Hz
