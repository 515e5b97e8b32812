"""Every driver against its simulator over real loopback sockets (``bench sim serve`` servers).

The servers run in this process on 127.0.0.1 ephemeral ports with a VirtualClock the test
advances, so physics is deterministic and nothing waits on the wall clock. The drivers are the
production ones, through pyvisa-py (``TCPIP::...::SOCKET``) and pyserial (``socket://``).
"""

from __future__ import annotations

import socket

import numpy as np
import pytest
import pyvisa

from bench.simulated.serve import start_sim_servers
from drivers.catalog import open_instrument
from drivers.errors import InstrumentCommandError, InstrumentReplyError, SetpointOutOfRange
from drivers.roles import ProtectionLimits
from sim_instruments.wire.endpoint import CommsFault
from sim_instruments.world.clock import VirtualClock

#: Sockets and threads: bound every test well below the suite-wide timeout.
pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def rm():
    """One pyvisa-py resource manager for the module (creating one costs ~0.5 s)."""
    manager = pyvisa.ResourceManager("@py")
    yield manager
    manager.close()


@pytest.fixture(params=[("keithley2460", "espec_p300")], ids="+".join)
def served(request):
    """Fresh servers on one world (NMC 21700 at 50 % SOC, 25 °C) and the clock that drives it.

    Parametrised indirectly with ``(cycler, chamber)`` for the alternative instruments.
    """
    cycler, chamber = request.param
    clock = VirtualClock()
    with start_sim_servers("nmc_21700", soc=0.5, clock=clock, cycler=cycler, chamber=chamber) as servers:
        yield servers, clock


@pytest.fixture
def connect(served, rm):
    """``connect(*roles)``: the production drivers of ``roles`` over loopback; closed after the test."""
    servers, _clock = served
    opened = []

    def _connect(*roles: str) -> list:
        out = []
        for role in roles:
            inst = servers.instruments[role]
            out.append(open_instrument(inst.spec.driver, inst.resource, name=role, resource_manager=rm))
        opened.extend(out)
        return out

    yield _connect
    for inst in opened:
        inst.transport.close()


ALTERNATIVES = pytest.mark.parametrize("served", [("ea_psb10000", "watlow_f4t")], indirect=True, ids="+".join)
ROLES = ("cycler", "chamber", "thermometer", "impedance")


def _client_socket(instrument) -> socket.socket:
    """The client-side socket under a driver (pyvisa-py session or pyserial socket:// port)."""
    transport = instrument.transport
    port = getattr(transport, "_port", None)
    if port is not None:
        return port._socket
    session = transport._rm.visalib.sessions[transport._inst.session]
    return session.interface


def test_resources_are_loopback_raw_sockets_with_nodelay_on_both_ends(served, connect):
    servers, _ = served
    instruments = dict(zip(ROLES, connect(*ROLES), strict=True))
    assert servers.instruments["cycler"].resource.startswith("TCPIP::127.0.0.1::")
    assert servers.instruments["cycler"].resource.endswith("::SOCKET")
    assert servers.instruments["chamber"].resource.startswith("socket://127.0.0.1:")
    assert servers.instruments["impedance"].resource.startswith("socket://127.0.0.1:")
    for role, inst in instruments.items():
        inst.verify_identity()  # the server has accepted the connection
        sock = _client_socket(inst)
        assert sock.getpeername() == ("127.0.0.1", servers.instruments[role].server.port)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY), role
        server = servers.instruments[role].server
        assert server.connection_count == 1
        # server side: the accepted socket of this connection
        (accepted,) = server._connections.values()
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY), role


def test_keithley2460_charges_the_shared_cell_over_pyvisa_py(served, connect):
    servers, clock = served
    (cycler,) = connect("cycler")
    cell = servers.world.channels[0].cell
    assert "MODEL 2460" in cycler.verify_identity()
    cycler.configure()
    cycler.configure_protection(ProtectionLimits(voltage_max_v=4.25, voltage_min_v=2.4, current_max_a=7.0))
    assert cycler.overvoltage_protection == "PROT5"
    cycler.set_current(2.5, 4.2)
    assert cycler.source_current_a == pytest.approx(2.5)
    cycler.output_on()
    assert cycler.is_output_on()
    voltage_0, current_0 = cycler.measure()
    soc_0 = cell.soc
    clock.sleep(720.0)  # 12 simulated minutes at 2.5 A = 0.5 Ah
    voltage_1, current_1 = cycler.measure()
    assert current_0 == pytest.approx(2.5, abs=0.01) and current_1 == pytest.approx(2.5, abs=0.01)
    assert (cell.soc - soc_0) * cell.preset.capacity_ah == pytest.approx(0.5, rel=0.02)
    assert 3.3 < voltage_0 < voltage_1 < 4.2
    assert voltage_1 == pytest.approx(cell.terminal_voltage_v(2.5), abs=0.01)
    cycler.output_off()
    assert not cycler.is_output_on()
    assert not servers.world.channels[0].source.output_on


def test_keithley2460_error_queue_and_limits_over_tcp(connect):
    (cycler,) = connect("cycler")
    cycler.configure()
    with pytest.raises(SetpointOutOfRange):
        cycler.source_current_a = 9.0  # refused by the driver before anything is sent
    cycler.write(":SOUR:CURR 9")  # sent anyway: the instrument refuses it with -222
    with pytest.raises(InstrumentCommandError, match="-222"):
        cycler.check_errors("raw write")
    cycler.write(":SOUR:CURRR 1")
    with pytest.raises(InstrumentCommandError, match="-113"):
        cycler.check_errors("typo")
    cycler.check_errors("after draining")  # the queue is empty again


def test_espec_over_pyserial_socket_and_daq970a_see_the_same_world(served, connect):
    servers, clock = served
    chamber, daq = connect("chamber", "thermometer")
    assert chamber.verify_identity() == "T,S2,100.0"  # sensor, controller, max °C (temperature-only chamber)
    assert "DAQ970A" in daq.verify_identity()
    daq.configure((101, 102))
    surface_0, air_0 = daq.read_c()
    assert air_0 == pytest.approx(25.0, abs=0.2) and surface_0 == pytest.approx(25.0, abs=0.5)
    chamber.set_setpoint_c(45.0)
    chamber.start()
    assert chamber.read_setpoint_c() == pytest.approx(45.0)
    clock.sleep(3 * 3600.0)  # three simulated hours: the air holds 45 °C, the cell has followed
    air = chamber.read_air_c()
    surface, air_daq = daq.read_c()
    assert air == pytest.approx(45.0, abs=0.5)
    assert air_daq == pytest.approx(servers.world.chamber.air_c, abs=0.01)
    assert air_daq == pytest.approx(air, abs=0.1)  # Espec reports 0.1 °C resolution
    assert surface == pytest.approx(45.0, abs=1.0)
    assert chamber.alarm() == ""
    chamber.stop()
    assert chamber.transport.query("MODE?") == "STANDBY"
    assert chamber.transport.query("MODE, BOGUS").startswith("NA:")


def test_garbled_replies_over_tcp_are_reported_and_recovered_from(served, connect):
    servers, clock = served
    (cycler,) = connect("cycler")
    cycler.configure()
    fault = CommsFault("garbled", start_s=clock.now_s(), duration_s=60.0)
    servers.instruments["cycler"].server.faults.append(fault)
    with pytest.raises(InstrumentReplyError, match="cycler"):
        cycler.measure()
    clock.sleep(61.0)
    voltage, current = cycler.measure()  # same connection, fault over
    assert 3.0 < voltage < 4.2 and current == pytest.approx(0.0, abs=1e-3)


def test_hioki_bt4560_measures_the_shared_cells_impedance_over_pyserial_socket(served, connect):
    servers, clock = served
    (meter,) = connect("impedance")
    meter.sleep = clock.sleep  # the measurement wait runs on the world's (virtual) clock
    assert meter.verify_identity().startswith("HIOKI,BT4560")
    meter.configure(speed="SLOW")
    cell = servers.world.channels[0].cell
    for frequency_hz in (1000.0, 10.0):
        actual_hz, r_ohm, x_ohm = meter.measure_at(frequency_hz)
        expected = complex(cell.impedance_ohm(np.array([actual_hz]))[0])
        assert actual_hz == pytest.approx(frequency_hz)
        assert r_ohm == pytest.approx(expected.real, rel=0.01)
        assert x_ohm == pytest.approx(expected.imag, rel=0.05, abs=2e-5)


@ALTERNATIVES
def test_ea_psb_charges_and_discharges_the_shared_cell_over_pyvisa_py(served, connect):
    servers, clock = served
    (psb,) = connect("cycler")
    cell = servers.world.channels[0].cell
    assert "PSB 10060-60" in psb.verify_identity()
    psb.configure()
    psb.configure_protection(ProtectionLimits(voltage_max_v=4.25, voltage_min_v=2.5, current_max_a=20.0))
    psb.set_current(3.0, 4.2)
    psb.output_on()
    voltage_0, current_0 = psb.measure()
    soc_0 = cell.soc
    clock.sleep(600.0)  # 10 simulated minutes at 3 A = 0.5 Ah
    voltage_1, current_1 = psb.measure()
    assert current_0 == pytest.approx(3.0, abs=0.05) and current_1 == pytest.approx(3.0, abs=0.05)
    assert (cell.soc - soc_0) * cell.preset.capacity_ah == pytest.approx(0.5, rel=0.02)
    assert voltage_0 < voltage_1 < 4.2
    psb.set_current(-3.0, 4.2)  # sink: the supply discharges the cell
    soc_1 = cell.soc
    clock.sleep(600.0)
    voltage_2, current_2 = psb.measure()
    assert current_2 == pytest.approx(-3.0, abs=0.05) and voltage_2 < voltage_1
    assert (soc_1 - cell.soc) * cell.preset.capacity_ah == pytest.approx(0.5, rel=0.02)
    psb.output_off()
    assert not psb.is_output_on() and psb.protection_tripped() == ""


@ALTERNATIVES
def test_watlow_f4t_over_modbus_tcp_drives_the_air_the_daq_reads(served, connect):
    servers, clock = served
    assert servers.instruments["chamber"].resource.startswith("modbus-tcp://127.0.0.1:")
    chamber, daq = connect("chamber", "thermometer")
    assert chamber.verify_identity().startswith("Watlow F4T F4T")
    daq.configure((101, 102))
    chamber.set_setpoint_c(10.0)
    chamber.start()
    assert chamber.is_running() and chamber.read_setpoint_c() == pytest.approx(10.0)
    clock.sleep(3 * 3600.0)
    air = chamber.read_air_c()
    surface, air_daq = daq.read_c()
    assert air == pytest.approx(10.0, abs=0.5)
    assert air_daq == pytest.approx(air, abs=0.01)
    assert surface == pytest.approx(10.0, abs=1.0)
    chamber.stop()
    assert not chamber.is_running()
