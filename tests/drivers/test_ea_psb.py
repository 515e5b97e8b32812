"""EA PSB 10000 driver: (command, reply) conversations for every method, then the production driver
through pyvisa against the simulated PSB on the shared physics (virtual clock)."""

from __future__ import annotations

import pytest

from drivers.ea_psb import EaPsb10060_60, parse_quantity
from drivers.errors import (
    InstrumentCommandError,
    InstrumentReplyError,
    InstrumentTimeout,
    ProtectionNotTaken,
    SetpointOutOfRange,
)
from drivers.roles import Cycler, ProtectionLimits
from tests.drivers.conversation import Conversation
from tests.simrun import run_on_sim_bench

NO_ERROR = (":SYST:ERR?", '0,"No error"')
LIMITS = ProtectionLimits(voltage_max_v=4.25, voltage_min_v=2.5, current_max_a=20.0)
PROTECTION = [("SOUR:CURR 0", None), ("SINK:CURR 0", None), ("SOUR:VOLT 2.5", None),
              ("SOUR:VOLT:LIM:LOW 2.5", None), ("SOUR:VOLT:LIM:HIGH 4.25", None), ("SOUR:CURR:LIM:HIGH 20", None),
              ("SINK:CURR:LIM:HIGH 20", None), ("SOUR:VOLT:PROT 4.25", None), ("SOUR:CURR:PROT 20", None),
              ("SINK:CURR:PROT 20", None), NO_ERROR,
              ("SOUR:VOLT:LIM:LOW?", "2.50 V"), ("SOUR:VOLT:LIM:HIGH?", "4.25 V"), ("SOUR:CURR:LIM:HIGH?", "20.00 A"),
              ("SINK:CURR:LIM:HIGH?", "20.00 A"), ("SOUR:VOLT:PROT?", "4.25 V"), ("SOUR:CURR:PROT?", "20.00 A"),
              ("SINK:CURR:PROT?", "20.00 A")]


def make(pairs):
    conv = Conversation(pairs)
    return EaPsb10060_60(conv, name="cycler"), conv


# -- conversations --------------------------------------------------------------------------------
def test_identity_accepts_the_model_and_rejects_another():
    psb, conv = make([("*IDN?", "EA Elektro-Automatik, PSB 10060-60, 2582470001, V3.02"),
                      ("*IDN?", "EA Elektro-Automatik, PSB 10080-120, 1, V3.02")])
    assert "PSB 10060-60" in psb.verify_identity()
    with pytest.raises(InstrumentReplyError, match="expected one of PSB 10060-60"):
        psb.verify_identity()
    conv.assert_done()


def test_configure_takes_remote_control_resets_and_sets_output_off_after_remote():
    psb, conv = make([("SYST:LOCK ON", None), ("SYST:LOCK:OWN?", "REMOTE"), ("*RST", None), ("*CLS", None),
                      ("SYST:CONF:MODE UIP", None), ("POW:STAG:AFT:REM OFF", None), NO_ERROR])
    psb.configure()
    conv.assert_done()


def test_lock_refused_by_the_front_panel_is_a_clear_error():
    psb, conv = make([("SYST:LOCK ON", None), ("SYST:LOCK:OWN?", "LOCAL"), NO_ERROR])
    with pytest.raises(InstrumentCommandError, match="remote control refused \\(owner LOCAL\\)"):
        psb.lock()
    conv.assert_done()


def test_unlock_and_remote_owner():
    psb, conv = make([("SYST:LOCK OFF", None), ("SYST:LOCK:OWN?", "none")])
    psb.unlock()
    assert psb.remote_owner() == "NONE"
    conv.assert_done()


def test_protection_sets_window_limits_and_protections_in_a_safe_order():
    psb, conv = make(PROTECTION + [("SYST:COMM:MON:ACT OFF", None), NO_ERROR])
    psb.configure_protection(LIMITS)
    assert psb.floor_v == 2.5
    conv.assert_done()


def test_a_sink_ocp_the_supply_did_not_take_stops_before_any_output():
    """The sink OCP reads back at its power-on 66 A: ProtectionNotTaken (exit 4), no watchdog or
    output command follows."""
    psb, conv = make(PROTECTION[:-1] + [("SINK:CURR:PROT?", "66.00 A")])
    with pytest.raises(ProtectionNotTaken, match=r"SINK:CURR:PROT set to 20 A but the instrument reads back 66"):
        psb.configure_protection(LIMITS)
    conv.assert_done()


def test_protection_with_watchdog_enables_interface_monitoring_in_whole_seconds():
    psb, conv = make(PROTECTION + [("SYST:COMM:MON:TIME 3", None), ("SYST:COMM:MON:ACT ON", None), NO_ERROR])
    psb.configure_protection(ProtectionLimits(4.25, 2.5, 20.0, watchdog_s=2.5))
    conv.assert_done()


def test_protection_beyond_the_instrument_is_refused_before_anything_is_sent():
    psb, conv = make([])
    with pytest.raises(SetpointOutOfRange, match="voltage_limit_high_v = 70.0 V is outside"):
        psb.configure_protection(ProtectionLimits(70.0, 2.5, 20.0))
    with pytest.raises(SetpointOutOfRange, match="not an increasing range"):
        psb.configure_protection(ProtectionLimits(2.0, 2.5, 20.0))
    conv.assert_done()


def test_charge_sources_with_the_limit_as_voltage_set_value():
    psb, conv = make([("SINK:CURR 0", None), ("SOUR:VOLT 4.2", None), ("SOUR:CURR 20", None), NO_ERROR])
    psb.set_current(20.0, 4.2)
    conv.assert_done()


def test_discharge_sinks_down_to_the_protection_floor():
    psb, conv = make(PROTECTION + [("SYST:COMM:MON:ACT OFF", None), NO_ERROR,
                                   ("SOUR:CURR 0", None), ("SOUR:VOLT 2.5", None), ("SINK:CURR 15.5", None), NO_ERROR])
    psb.configure_protection(LIMITS)
    psb.set_current(-15.5, 4.2)
    conv.assert_done()


def test_current_beyond_the_supply_is_refused_before_anything_is_sent():
    psb, conv = make([])
    with pytest.raises(SetpointOutOfRange, match="current -70 A is outside \\[-60, 60\\] A"):
        psb.set_current(-70.0, 4.2)
    with pytest.raises(SetpointOutOfRange, match="voltage_setpoint_v = 80"):
        psb.set_voltage(80.0, 1.0)
    conv.assert_done()


def test_set_voltage_limits_both_directions():
    psb, conv = make([("SOUR:CURR 5", None), ("SINK:CURR 5", None), ("SOUR:VOLT 4.2", None), NO_ERROR])
    psb.set_voltage(4.2, 5.0)
    conv.assert_done()


def test_output_on_reports_the_error_queue_and_off_is_a_bare_command():
    psb, conv = make([("OUTP ON", None), (":SYST:ERR?", '-203,"Command protected"'), NO_ERROR,
                      ("OUTP OFF", None), ("OUTP?", "OFF"), ("OUTP?", "ON")])
    with pytest.raises(InstrumentCommandError, match="output on.*-203"):
        psb.output_on()
    psb.output_off()
    assert psb.is_output_on() is False
    assert psb.is_output_on() is True
    conv.assert_done()


def test_measure_parses_values_with_units_and_signed_current():
    psb, conv = make([("MEAS:ARR?", "3.71 V, -20.00 A, -74.2 W"), ("MEAS:ARR?", "4.20V,1.25A,5.3W")])
    assert psb.measure() == (pytest.approx(3.71), pytest.approx(-20.0))
    assert psb.measure() == (pytest.approx(4.2), pytest.approx(1.25))
    conv.assert_done()


def test_measure_garbage_and_short_replies_are_clear_errors():
    # a garbled reply is asked again (up to two retries); one that stays garbled is an error
    psb, conv = make([("MEAS:ARR?", "3.71 V, -20.00 A")] * 3 + [("MEAS:ARR?", "3.71 V, \x13garbage, 1 W")] * 3)
    with pytest.raises(InstrumentReplyError, match="cycler \\(conversation\\) MEAS:ARR\\?: expected voltage"):
        psb.measure()
    with pytest.raises(InstrumentReplyError, match="cannot parse"):
        psb.measure()
    conv.assert_done()
    psb, conv = make([("MEAS:ARR?", "3.71 V, \x13garbage, 1 W"), ("MEAS:ARR?", "3.70 V, -2.00 A, -7.4 W")])
    assert psb.measure() == (pytest.approx(3.7), pytest.approx(-2.0))
    conv.assert_done()


def test_measure_is_retried_after_a_timeout():
    psb, conv = make([("MEAS:ARR?", "TIMEOUT"), ("MEAS:ARR?", "3.70 V, 0.00 A, 0.0 W")])
    assert psb.measure() == (pytest.approx(3.7), 0.0)
    conv.assert_done()


def test_alarms_and_protection_tripped():
    psb, conv = make([("STAT:QUES:COND?", "3"), ("STAT:QUES:COND?", "0"), ("SYST:LOCK:OWN?", "NONE"),
                      ("STAT:QUES:COND?", "0"), ("SYST:LOCK:OWN?", "REMOTE"), ("STAT:QUES:COND?", "8192"),
                      ("STAT:QUES:COND?", "x")])
    assert psb.protection_tripped() == "OVP,OCP"
    assert psb.protection_tripped() == "remote control lost (owner NONE)"
    assert psb.protection_tripped() == ""
    assert psb.alarms() == ["PF"]
    with pytest.raises(InstrumentReplyError, match="expected an integer"):
        psb.alarms()
    conv.assert_done()


def test_properties_read_units_and_enforce_limits():
    psb, conv = make([("SOUR:VOLT:PROT?", "4.25 V"), ("SINK:CURR:PROT 30", None), NO_ERROR,
                      ("SYST:COMM:MON:TIME 10", None), NO_ERROR, ("SYST:COMM:MON:ACT?", "ON"),
                      ("POW:STAG:AFT:REM?", "OFF")])
    assert psb.overvoltage_protection_v == pytest.approx(4.25)
    psb.sink_overcurrent_protection_a = 30.0
    psb.watchdog_timeout_s = 9.2
    assert psb.watchdog_active is True
    assert psb.state_after_remote == "OFF"
    with pytest.raises(SetpointOutOfRange, match="outside \\[0, 66\\] A"):
        psb.overcurrent_protection_a = 70.0
    conv.assert_done()


def test_parse_quantity():
    assert parse_quantity("4.20 V") == 4.2 and parse_quantity("-1.5e-3A") == -0.0015 and parse_quantity("3") == 3
    for bad in ("", "V", "4.2 V V", "nan V"):
        with pytest.raises(ValueError):
            parse_quantity(bad)


def test_timeouts_surface_after_the_retries():
    psb, conv = make([("OUTP?", "TIMEOUT")] * 3)
    with pytest.raises(InstrumentTimeout):
        psb.is_output_on()
    conv.assert_done()


# -- against the simulator ---------------------------------------------------------------------
@pytest.fixture
def psb_bench():
    """The built-in simulated bench with the EA PSB as cycler, NMC 21700 (5 Ah) at 50 % SOC."""
    from bench.simulated.builtin_bench import build_sim_bench

    bench = build_sim_bench("nmc_21700", soc=0.5, cycler="ea_psb10000")
    yield bench
    bench.close()


def _ready(psb, limits=LIMITS):
    psb.configure()
    psb.output_off()
    psb.configure_protection(limits)


def test_driver_against_simulator_discharge_stops_at_the_floor_then_cc_cv_charge(psb_bench):
    psb, clock = psb_bench.cycler, psb_bench.clock
    assert isinstance(psb, Cycler) and "PSB 10060-60" in psb.verify_identity()
    _ready(psb)
    psb.set_current(-20.0, 4.2)
    psb.output_on()
    v0, i0 = psb.measure()
    assert i0 == pytest.approx(-20.0, abs=0.01) and 3.0 < v0 < 3.7
    clock.sleep(900.0)  # 50 % of 5 Ah at 4C is ~7 min: by now the floor holds the voltage
    v1, i1 = psb.measure()
    assert v1 == pytest.approx(2.5, abs=0.011) and -20.0 < i1 < 0.0
    psb.set_current(10.0, 4.2)  # change of direction without an overlap
    clock.sleep(60.0)
    v2, i2 = psb.measure()
    assert i2 == pytest.approx(10.0, abs=0.01) and v2 > v1
    clock.sleep(3 * 3600.0)  # CC then CV at 4.2 V: the current tapers
    v3, i3 = psb.measure()
    assert v3 == pytest.approx(4.2, abs=0.011) and 0.0 <= i3 < 0.5
    assert psb.protection_tripped() == ""
    psb.set_voltage(4.0, 3.0)  # now above 4.0 V: the supply sinks, at most 3 A
    _, i4 = psb.measure()
    assert i4 == pytest.approx(-3.0, abs=0.01)
    psb.output_off()
    assert not psb.is_output_on() and psb.measure()[1] == 0.0


def test_simulated_ovp_and_ocp_trip_the_output_and_latch_until_output_on(psb_bench):
    psb, clock = psb_bench.cycler, psb_bench.clock
    _ready(psb)
    psb.overvoltage_protection_v = 3.9  # below the 4.2 V the charge is heading for
    psb.set_current(15.0, 4.2)
    psb.output_on()
    clock.sleep(3600.0)
    assert not psb.is_output_on()
    assert psb.protection_tripped() == "OVP"
    assert psb.measure()[1] == 0.0
    psb.overvoltage_protection_v = 4.25
    psb.sink_overcurrent_protection_a = 10.0
    psb.set_current(-15.0, 4.2)
    psb.output_on()  # acknowledges OVP; the 15 A sink then passes the 10 A sink OCP
    clock.sleep(1.0)
    assert psb.protection_tripped() == "OCP" and not psb.is_output_on()


def test_simulated_adjustment_limits_refuse_a_voltage_above_the_protocol_limit(psb_bench):
    psb = psb_bench.cycler
    _ready(psb)
    with pytest.raises(InstrumentCommandError, match="-222.*adjustment limits"):
        psb.set_voltage(4.3, 1.0)
    with pytest.raises(InstrumentCommandError, match="-222"):
        psb.set_current(25.0, 4.2)  # above SOUR:CURR:LIM:HIGH = 20 A


def test_simulated_watchdog_ends_remote_and_switches_the_output_off(psb_bench):
    psb, clock, meter = psb_bench.cycler, psb_bench.clock, psb_bench.thermometer
    _ready(psb, ProtectionLimits(4.25, 2.5, 20.0, watchdog_s=10.0))
    psb.set_current(-5.0, 4.2)
    psb.output_on()
    for _ in range(5):  # the host talks every 2 s: nothing happens
        clock.sleep(2.0)
        assert psb.measure()[1] == pytest.approx(-5.0, abs=0.01)
    meter.configure((101, 102))
    source = psb_bench.simulation.world.channels[0].source
    for _ in range(20):  # the host only talks to the thermometer now
        clock.sleep(1.0)
        meter.read_c()
    assert source.output_on is False  # switched off while the cycler link was silent
    assert psb.protection_tripped() == "remote control lost (owner NONE)"
    with pytest.raises(InstrumentCommandError, match="-203"):
        psb.set_current(-5.0, 4.2)  # no remote control any more
    psb.configure()  # takes it back
    assert psb.remote_owner() == "REMOTE"


def test_simulated_front_panel_refusing_remote(psb_bench):
    sim = psb_bench.simulation.endpoints["cycler"].frontend
    sim.remote_allowed = False
    with pytest.raises(InstrumentCommandError, match="-203.*front panel"):
        psb_bench.cycler.configure()


def test_simulated_error_queue_and_setting_without_remote(psb_bench):
    psb = psb_bench.cycler
    psb.write("SOUR:VOLT:BOGUS 1")
    with pytest.raises(InstrumentCommandError, match="-113"):
        psb.check_errors("bogus")
    with pytest.raises(InstrumentCommandError, match="-203,\"Command protected"):
        psb.set_current(1.0, 4.2)


def test_simulated_reply_formats_reset_and_nominals(psb_bench):
    import re

    psb = psb_bench.cycler
    _ready(psb)
    psb.set_current(2.0, 4.2)
    assert re.fullmatch(r"\d+\.\d\d V, \d+\.\d\d A, \d+\.\d W", psb.query("MEAS:ARR?"))
    assert psb.query("SYST:NOM:CURR?") == "60.00 A" and psb.query("SYST:NOM:POW?") == "1500.0 W"
    assert psb.current_setpoint_a == 2.0 and psb.voltage_limit_high_v == 4.25
    psb.write("SOUR:VOLT 70")
    psb.write("SINK:CURR:LIM:HIGH 5")  # accepted: the sink set value (0 A) stays inside
    assert psb.query("SYST:ERR:ALL?") == '-222,"Data out of range; 70"'
    psb.reset()  # *RST: set values to 0, limits and protections back to their maxima, output off
    assert psb.current_setpoint_a == 0.0 and psb.overvoltage_protection_v == pytest.approx(66.0)
    assert psb.sink_current_limit_high_a == pytest.approx(61.2) and not psb.is_output_on()
    assert psb.remote_owner() == "REMOTE"  # *RST keeps remote control


def test_psb_runs_a_protocol_beyond_the_keithley_range(tmp_path):
    """The engine with the PSB as cycler: a 10 A (2C) discharge, rest, CC charge of an NMC 21700.

    Sampling every 10 s and ``short_collapse_v: 0.15``: at 2C the first seconds of polarisation
    drop the voltage 50-70 mV between two samples, and the PSB reads voltage in 10 mV steps, so
    the default internal-short and frozen-reading rules would trip on a healthy cell.
    """
    from bench.runfile.reader import RunFile
    from bench.simulated.builtin_bench import cell_datasheet
    from protocols.loader import load_protocol

    path = tmp_path / "fast.yaml"
    path.write_text(
        "name: fast_discharge\ncell: {preset: nmc_21700, current_max_a: 15}\n"
        "limits: {voltage_max_v: 4.25, voltage_min_v: 2.4, current_max_a: 15, temperature_max_c: 70,"
        " short_collapse_v: 0.15}\n"
        "sampling: {period_s: 10}\n"
        "steps:\n  - Discharge at 10 A until 3.0 V\n  - Rest for 10 minutes\n  - Charge at 3 A until 4.1 V\n")
    protocol = load_protocol(str(path), cell_defaults=cell_datasheet)
    outcome = run_on_sim_bench(protocol, tmp_path / "run.h5", soc=0.5, cycler="ea_psb10000")
    assert outcome.exit_code == 0, outcome.report
    with RunFile(tmp_path / "run.h5") as run:
        steps = run.steps
        current = run.samples["Current / A"]
    assert [s["end_reason"] for s in steps] == ["3.0 V", "time", "4.1 V"]
    assert current.min() == pytest.approx(-10.0, abs=0.01) and current.max() == pytest.approx(3.0, abs=0.01)


# -- transports: lost links are reported, then reopened -------------------------------------------
def test_visa_link_lost_in_process_is_reported_then_reopened(psb_bench):
    from drivers.transport import InstrumentConnectionLost
    from sim_instruments.wire.endpoint import CommsFault

    psb, clock = psb_bench.cycler, psb_bench.clock
    endpoint = psb_bench.simulation.endpoints["cycler"]
    endpoint.faults.append(CommsFault("disconnect", clock.now_s(), 30.0))
    with pytest.raises(InstrumentConnectionLost, match="connection lost"):
        psb.measure()  # idempotent: retried over a reopened link, still down
    assert psb.transport.broken
    with pytest.raises(InstrumentConnectionLost):
        psb.output_off()
    clock.sleep(31.0)  # the cable is back
    assert psb.measure()[1] == 0.0
    assert not psb.transport.broken


def test_visa_socket_closed_by_the_instrument_is_reopened():
    """pyvisa-py over loopback TCP: a closed socket is a lost link (not a timeout), reopened later."""
    import pyvisa

    from drivers.catalog import open_instrument
    from drivers.transport import InstrumentConnectionLost
    from sim_instruments.cyclers.ea_psb import EaPsbSim
    from sim_instruments.wire.endpoint import CommsFault
    from sim_instruments.wire.tcp_server import LineServer
    from sim_instruments.world.clock import VirtualClock
    from sim_instruments.world.sim_world import SimWorld

    clock = VirtualClock()
    world = SimWorld.single_cell(clock)
    rm = pyvisa.ResourceManager("@py")
    with LineServer(EaPsbSim(world), clock.now_s, name="cycler", lock=world.lock) as server:
        psb = open_instrument("ea_psb10000", f"TCPIP::127.0.0.1::{server.port}::SOCKET", name="cycler",
                              resource_manager=rm, timeout_s=0.3)
        try:
            assert "PSB 10060-60" in psb.verify_identity()
            server.faults.append(CommsFault("disconnect", clock.now_s(), 10.0))
            with pytest.raises(InstrumentConnectionLost, match="closed by the instrument"):
                psb.verify_identity()
            clock.sleep(11.0)
            assert "PSB 10060-60" in psb.verify_identity()
        finally:
            psb.transport.close()
            rm.close()


def test_serial_link_lost_is_reported_then_reopened(psb_bench):
    from drivers.transport import InstrumentConnectionLost
    from sim_instruments.wire.endpoint import CommsFault

    chamber, clock = psb_bench.chamber, psb_bench.clock
    psb_bench.simulation.endpoints["chamber"].faults.append(CommsFault("disconnect", clock.now_s(), 5.0))
    with pytest.raises(InstrumentConnectionLost):
        chamber.read_air_c()
    assert chamber.transport.broken
    clock.sleep(6.0)
    assert chamber.read_air_c() == pytest.approx(25.0, abs=0.5)
    assert not chamber.transport.broken
