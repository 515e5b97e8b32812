"""daqmon's HP 34970A driver (an independent client, test extra) against `bench sim serve`'s DAQ970A
over TCP, on a virtual clock, with the error queue read after every one of its calls.

daqmon opens a serial port; pyserial's ``socket://`` URL stands for the serial-to-LAN path (its
``serial.Serial`` is given ``serial.serial_for_url``), and its pauses advance the virtual clock.
"""

from __future__ import annotations

import types

import pytest
import serial

daqmon_instrument = pytest.importorskip("daqmon.instrument")
daqmon_scanner = pytest.importorskip("daqmon.scanner")
daqmon_config = pytest.importorskip("daqmon.config")

from bench.simulated.serve import start_sim_servers  # noqa: E402
from sim_instruments.meters.thermocouple import type_k_emf_v  # noqa: E402
from sim_instruments.world.clock import VirtualClock  # noqa: E402

pytestmark = pytest.mark.timeout(60)

NO_ERROR = '0,"No error"'


@pytest.fixture
def daq(monkeypatch):
    clock = VirtualClock()
    servers = start_sim_servers(clock=clock)
    servers.world.channels[0].cell.set_thermocouple_noise(0.0)  # readings comparable to the world's state
    port = servers.instruments["thermometer"].server.port
    fake_time = types.SimpleNamespace(sleep=clock.sleep, time=clock.now_s)
    monkeypatch.setattr(daqmon_instrument, "time", fake_time)
    monkeypatch.setattr(daqmon_scanner, "time", fake_time)
    monkeypatch.setattr(daqmon_instrument.serial, "Serial",
                        lambda port, **kwargs: serial.serial_for_url(port, **kwargs))
    inst = daqmon_instrument.HP34970A(port=f"socket://127.0.0.1:{port}", timeout=5.0)
    inst.open()
    yield inst, servers, clock
    inst.close()
    servers.close()


def _no_error(inst) -> None:
    assert inst.query("SYST:ERR?") == NO_ERROR


def test_daqmon_thermocouple_scan_leaves_no_error(daq):
    inst, servers, clock = daq
    assert inst.idn().startswith("Keysight Technologies,DAQ970A,")
    _no_error(inst)
    cell = daqmon_config.ChannelConfig(101, "cell", function="temperature", tc_type="K", nplc=1.0)
    air = daqmon_config.ChannelConfig(102, "air", function="temperature", tc_type="K", nplc=1.0, delay=0.1)
    scan = daqmon_config.ScanConfig(channels=[cell, air], scan_interval=10.0, scan_count=0)
    # reset, *CLS, CONF:TEMP TC,K / TEMP:NPLC / TEMP:TRAN:TC:RJUN:TYPE INT per channel,
    # ROUT:CHAN:DELAY, ROUT:SCAN, TRIG:SOURCE TIMER, TRIG:TIMER, TRIG:COUNT INF, FORM:READ:CHAN ON
    daqmon_scanner.configure_scan(inst, scan)
    _no_error(inst)

    inst.initiate_scan()
    _no_error(inst)
    clock.sleep(35.0)  # sweeps at 0, 10, 20 and 30 s
    assert inst.get_data_count() == 8
    _no_error(inst)
    pairs = inst.query_readings_with_channels("DATA:REM? 8")
    _no_error(inst)
    assert [channel for _value, channel in pairs] == [101, 102] * 4
    world = servers.world
    cell_c = world.channels[0].cell.measured_temperature_c()
    assert pairs[-2][0] == pytest.approx(cell_c, abs=1e-6)
    assert pairs[-1][0] == pytest.approx(world.chamber.air_c, abs=1e-6)
    readings = daqmon_scanner.parse_readings(pairs, scan)  # the client's own sweep parsing
    assert [r["name"] for r in readings[:2]] == ["cell", "air"]
    assert inst.get_data_count() == 0
    _no_error(inst)

    # The client's read-back of the configuration (as its config backup does).
    assert inst.query_channel_function(101) == '"TEMP"'
    assert float(inst.query_channel_nplc(101, "TEMP")) == 1.0
    assert inst.query_tc_type(102) == "K"
    assert inst.query_tc_rjunction(101) == "INT"
    assert float(inst.query_channel_delay(102)) == pytest.approx(0.1)
    assert inst.query_trigger_source() == "TIM"
    assert float(inst.query_trigger_timer()) == 10.0
    assert float(inst.query_trigger_count()) == 9.9e37
    assert inst.get_scan_channel_list() == "(@101,102)"
    _no_error(inst)

    inst.abort_scan()
    _no_error(inst)
    clock.sleep(30.0)
    assert inst.get_data_count() == 0  # stopped: no more sweeps
    _no_error(inst)


def test_daqmon_dc_voltage_reads_the_thermocouple_emf(daq):
    inst, servers, _clock = daq
    inst.reset()
    inst.configure_dc_voltage([101], range_val="auto", nplc=1.0)  # CONF:VOLT:DC DEF / VOLT:DC:NPLC
    _no_error(inst)
    inst.set_scan_list([101])
    (emf,) = inst.query_values("READ?")
    _no_error(inst)
    world = servers.world
    expected = type_k_emf_v(world.channels[0].cell.measured_temperature_c()) - type_k_emf_v(world.chamber.lab_c)
    assert emf == pytest.approx(expected, abs=2e-6)  # type K: about 41 µV/K from the lab's terminal block


def test_daqmon_fixed_reference_junction_sends_a_header_the_manual_lacks(daq):
    """Pinned client defect: for a fixed reference junction daqmon sends
    ``TEMP:TRAN:TC:RJUN:FIX <t>``; the manual's command is ``[SENSe:]TEMPerature:TRANsducer:TCouple:
    RJUNction <t>`` (DAQ970A Programming Guide, SENSe subsystem; 34970A User's Guide ch. 5), so the
    instrument answers -113 and the fixed temperature stays at its default."""
    inst, _servers, _clock = daq
    inst.configure_thermocouple([101], tc_type="K", ref_junction="fixed", ref_fixed_temp=23.0)
    error = inst.query("SYST:ERR?")
    assert error.startswith("-113,")
    assert "RJUN:FIX" in error
    _no_error(inst)
    assert inst.query_tc_rjunction(101) == "FIX"
    assert inst.query("TEMP:TRAN:TC:RJUN? (@101)") == "+0.00000000E+00"  # not the 23 °C asked for
