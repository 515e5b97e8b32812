"""PyMeasure's own Keithley2450 driver against our 2460 simulator (an independent client).

PyMeasure (test extra) talks to the simulator in process through our VISA library, on a virtual
clock: its ordinary calls must leave nothing in the error queue. Its ``ramp_to_*`` pause on
``time.sleep``; the test gives its module a clock whose sleep advances the simulation instead.
"""

from __future__ import annotations

import types

import pytest

pymeasure_k2450 = pytest.importorskip("pymeasure.instruments.keithley.keithley2450")

from sim_instruments.cyclers.keithley2460 import Keithley2460Sim  # noqa: E402
from sim_instruments.wire.endpoint import LineEndpoint  # noqa: E402
from sim_instruments.wire.visa_library import SimVisaLibrary  # noqa: E402
from sim_instruments.world.clock import VirtualClock  # noqa: E402
from sim_instruments.world.sim_world import SimWorld  # noqa: E402

RESOURCE = "USB0::0x05E6::0x2460::04412345::INSTR"


@pytest.fixture
def smu(monkeypatch):
    clock = VirtualClock()
    world = SimWorld.single_cell(clock, soc=0.5)
    sim = Keithley2460Sim(world)
    library = SimVisaLibrary.create({RESOURCE: LineEndpoint(sim, clock.now_s)})
    monkeypatch.setattr(pymeasure_k2450, "time", types.SimpleNamespace(sleep=clock.sleep))
    keithley = pymeasure_k2450.Keithley2450(RESOURCE, visa_library=library)
    yield keithley, sim, clock
    keithley.adapter.close()


def _queue_empty(keithley, sim) -> None:
    assert list(sim.errors) == [], f"error queue: {list(sim.errors)}"
    assert keithley.check_errors() == []


def test_ordinary_calls_leave_no_error(smu):
    keithley, sim, clock = smu
    assert "MODEL 2460" in keithley.id
    keithley.reset()
    keithley.clear()
    _queue_empty(keithley, sim)

    # Source current into the cell (a charge), measure its voltage; ranges and NPLC.
    keithley.apply_current(compliance_voltage=4.2)
    keithley.source_current_range = 1.0
    keithley.source_current = 0.5
    keithley.measure_voltage(nplc=1)
    keithley.voltage_range = 5.0
    keithley.voltage_nplc = 0.1
    keithley.current_output_off_state = "HIMP"
    keithley.voltage_output_off_state = "HIMP"
    keithley.use_rear_terminals()
    keithley.use_front_terminals()
    keithley.enable_source()
    assert keithley.source_enabled
    clock.sleep(10.0)
    voltage = keithley.voltage
    assert 3.0 < voltage < 4.2  # the cell's terminal voltage while charging at 0.5 A
    assert keithley.source_mode == "current"
    assert keithley.source_current == pytest.approx(0.5)
    assert keithley.source_current_range == pytest.approx(1.0)
    assert keithley.voltage_range == pytest.approx(7.0)  # the smallest 2460 range holding 5 V
    assert keithley.voltage_nplc == pytest.approx(0.1)
    assert keithley.compliance_voltage == pytest.approx(4.2)
    assert keithley.current_output_off_state == "HIMP"
    _queue_empty(keithley, sim)

    # Source voltage, measure current.
    keithley.apply_voltage(compliance_current=1.0)
    keithley.source_voltage_range = 10
    keithley.source_voltage = 3.5
    keithley.measure_current(nplc=1, current=1.0, auto_range=False)
    keithley.current_nplc = 1
    clock.sleep(5.0)
    current = keithley.current
    assert current == pytest.approx(-1.0, abs=1e-6)  # 3.5 V is below the cell: sinking at the limit
    assert keithley.current_range == pytest.approx(1.0)
    assert keithley.compliance_current == pytest.approx(1.0)
    _queue_empty(keithley, sim)

    # Buffers: size, readings taken by :INIT, statistics, the status byte.
    keithley.buffer_points = 50
    assert keithley.buffer_points == 50
    keithley.measure_voltage()
    keithley.write(":SENS:COUN 5")  # readings per :INIT (PyMeasure has no property for it)
    keithley.start_buffer()
    assert int(keithley.ask(":TRAC:ACT?")) == 5
    # 3.5 V is below the cell: the 1 A current limit holds, the terminals stay above 3.5 V.
    assert keithley.ask(":SOUR:VOLT:ILIM:TRIP?").strip() == "1"
    assert 3.5 < keithley.means < 4.2
    assert keithley.maximums >= keithley.means >= keithley.minimums
    assert keithley.standard_devs >= 0.0
    assert not keithley.is_buffer_full()  # *STB? answered; the 2460 has no 2400 "buffer full" bit
    keithley.stop_buffer()
    keithley.beep(440, 0.1)
    keithley.write("*OPC")
    assert int(keithley.ask("*ESR?")) & 1
    keithley.write("*WAI")
    _queue_empty(keithley, sim)

    keithley.shutdown()
    assert not keithley.source_enabled
    assert keithley.source_voltage == pytest.approx(0.0)
    _queue_empty(keithley, sim)


def test_commands_outside_the_2460_tree_still_get_minus_113(smu):
    """PyMeasure's buffer set-up sends the 2400-emulation :TRAC:FEED / :STAT:MEAS commands, which
    the 2460's own command set does not have (PyMeasure's docstring says so too): -113."""
    keithley, sim, _clock = smu
    keithley.write(":TRAC:FEED SENSE;:TRAC:FEED:CONT NEXT;")
    codes = [int(e.split(",")[0]) for e in (keithley.ask("SYST:ERR?") for _ in range(2))]
    assert codes == [-113, -113]
    assert int(keithley.ask("*ESR?")) & 0x20  # command error bit
    keithley.write(":SOUR:CURR:BOGUS 1")
    assert keithley.ask("SYST:ERR?").startswith("-113")


def test_over_loopback_tcp_as_bench_sim_serve_serves_it(monkeypatch):
    """The issue's finding was made over ``bench sim serve``: the same client through pyvisa-py and a
    loopback SCPI socket (the simulator's LineServer, ephemeral port, virtual clock)."""
    from sim_instruments.wire.tcp_server import LOOPBACK, LineServer

    clock = VirtualClock()
    world = SimWorld.single_cell(clock, soc=0.5)
    monkeypatch.setattr(pymeasure_k2450, "time", types.SimpleNamespace(sleep=clock.sleep))
    with LineServer(Keithley2460Sim(world), clock.now_s, name="k2460", lock=world.lock) as server:
        keithley = pymeasure_k2450.Keithley2450(f"TCPIP::{LOOPBACK}::{server.port}::SOCKET", visa_library="@py",
                                                read_termination="\n", write_termination="\n", timeout=2000)
        try:
            assert "MODEL 2460" in keithley.id
            keithley.reset()
            keithley.apply_current(compliance_voltage=4.2)
            keithley.source_current = -1.0
            keithley.measure_voltage()
            keithley.enable_source()
            clock.sleep(30.0)
            assert 3.0 < keithley.voltage < 4.2
            keithley.shutdown()
            assert keithley.check_errors() == []
        finally:
            keithley.adapter.close()
