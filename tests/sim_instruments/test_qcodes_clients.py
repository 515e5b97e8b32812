"""QCoDeS 0.58's own drivers against our simulators over loopback TCP (issue 25 item 2).

``qcodes.instrument_drivers.Keithley.Keithley2450`` against the simulated Keithley 2460 and
``qcodes.instrument_drivers.Keysight.KeysightN6705B`` against the simulated N6705C with four
N6781A modules, each through pyvisa-py to the simulator's ``LineServer`` (what ``bench sim serve``
runs), on a virtual clock. The simulator's error queue is read after every client call: the
client's ordinary calls leave it empty. Where the client itself is wrong against the manual the
test pins what the simulator answers, citing the manual.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("qcodes")

from qcodes.instrument_drivers.Keithley import Keithley2450  # noqa: E402
from qcodes.instrument_drivers.Keysight import KeysightN6705B  # noqa: E402

from sim_instruments.cyclers.keithley2460 import Keithley2460Sim  # noqa: E402
from sim_instruments.cyclers.keysight_n6700 import KeysightN6700Sim  # noqa: E402
from sim_instruments.wire.tcp_server import LOOPBACK, LineServer  # noqa: E402
from sim_instruments.world.clock import VirtualClock  # noqa: E402
from sim_instruments.world.sim_world import SimWorld  # noqa: E402

_names = itertools.count()


def _synced(client: Any) -> None:
    """Wait until the simulator has taken every line the client sent: a write has no reply, and the
    server handles it on its own thread, so the error queue is read after an ``*OPC?`` round trip
    (IEEE 488.2 common command; it leaves the error queue as it is)."""
    assert client.ask("*OPC?").strip() == "1"


def _clean(sim, client: Any) -> Callable[[Callable[[], Any]], Any]:
    """``call(fn)``: run one client call, then (synced) the error queue must be empty."""
    def call(fn: Callable[[], Any]) -> Any:
        result = fn()
        _synced(client)
        assert list(sim.errors) == [], f"error queue after the call: {list(sim.errors)}"
        return result
    return call


@pytest.fixture
def k2450() -> Iterator[tuple[Any, Keithley2460Sim, VirtualClock]]:
    clock = VirtualClock()
    world = SimWorld.single_cell(clock, soc=0.5)
    sim = Keithley2460Sim(world)
    with LineServer(sim, clock.now_s, name="k2460", lock=world.lock) as server:
        smu = Keithley2450(f"k2450_{next(_names)}", f"TCPIP::{LOOPBACK}::{server.port}::SOCKET", visalib="@py",
                           terminator="\n", timeout=2)
        try:
            yield smu, sim, clock
        finally:
            smu.close()


def test_qcodes_keithley2450_ordinary_calls_leave_no_error(k2450):
    """The driver constructs (its ``*LANG?`` check answers SCPI) and every ordinary call, source
    and sense settings, a measurement, a linear sweep and the buffers, leaves the queue empty."""
    smu, sim, clock = k2450
    call = _clean(sim, smu)
    _synced(smu)
    assert sim.errors == type(sim.errors)()  # construction: *LANG? and *IDN? answered
    call(smu.reset)
    call(lambda: smu.terminals("front"))
    assert call(smu.terminals) == "FRON"  # the reply is the short form (section 6, :ROUTe:TERMinals?)
    assert float(call(smu.line_frequency)) == 60.0
    call(lambda: smu.source_function("current"))
    call(lambda: smu.sense_function("voltage"))
    source, sense = smu.source, smu.sense
    for setter in (lambda: source.range(1.0), lambda: source.auto_range(True), lambda: source.limit(4.2),
                   lambda: source.current(0.5), lambda: source.delay(0.01), lambda: source.auto_delay(True),
                   lambda: source.read_back_enabled(True), lambda: source.user_number(2),
                   lambda: source.user_delay(0.1), lambda: sense.four_wire_measurement(True),
                   lambda: sense.range(7), lambda: sense.auto_range(True), lambda: sense.nplc(1),
                   lambda: sense.user_number(3), lambda: sense.user_delay(0.25), lambda: sense.auto_zero_enabled(False),
                   sense.auto_zero_once, lambda: sense.count(1), lambda: smu.output_enabled(True)):
        call(setter)
    assert call(source.limit) == pytest.approx(4.2) and call(source.current) == pytest.approx(0.5)
    assert float(call(source.user_delay)) == pytest.approx(0.1)
    assert float(call(sense.user_delay)) == pytest.approx(0.25)
    assert call(sense.auto_zero_enabled) is False
    assert call(source.limit_tripped) is False
    clock.sleep(10.0)
    voltage = call(sense.voltage)  # :MEASure? 'defbuffer1'
    assert 3.0 < voltage < 4.2
    buffer = smu.buffer("defbuffer1")
    assert call(buffer.get_last_reading) == f"{voltage:+.6E}"  # :FETCh? 'defbuffer1': the same reading
    assert int(call(buffer.number_of_readings)) == 1
    call(lambda: source.sweep_setup(0.0, 0.5, 5))  # :SOURce:SWEep:current:LINear ..., :INIT, *WAI
    sweep = call(sense.sweep)
    assert len(sweep) == 5 and list(sweep) == sorted(sweep)  # more charge current, higher terminal voltage
    with smu.buffer("qbuffer", 100) as mine:  # :TRACe:MAKE / :TRACe:DELete
        call(mine.size)
    call(lambda: smu.output_enabled(False))
    call(lambda: smu.source_function("voltage"))
    call(lambda: smu.sense_function("current"))
    assert call(smu.source_function) == "voltage" and call(smu.sense_function) == "current"


def test_qcodes_keithley2450_user_delay_without_a_user_number_is_the_clients_own_header(k2450):
    """The client builds ``:SENSe:<f>:DELay:USER<n>`` from ``user_number``, None until set: it
    sends ``...:USERNone``, a header the manual does not have (2460-901-01 section 6,
    :SENSe[1]:<function>:DELay:USER<n>, n = 1..5), so the instrument answers -113. A snapshot with
    update=True asks it for every function."""
    smu, sim, _clock = k2450
    assert smu.sense.user_number.get_latest() is None
    smu.sense.user_delay(0.1)  # the client's header: :SENSe:voltage:DELay:USERNone 0.1
    _synced(smu)
    assert [(code, text) for code, text in sim.errors] == [(-113, "Undefined header; :SENSe:voltage:DELay:USERNone")]


# -- Keysight N6705B driver against the N6705C with four N6781A ---------------------------------
@pytest.fixture
def n6705b() -> Iterator[tuple[Any, KeysightN6700Sim, VirtualClock]]:
    clock = VirtualClock()
    world = SimWorld.single_cell(clock, soc=0.5, channels=4)
    sim = KeysightN6700Sim(world, cells=[0, 1, 2, 3])
    with LineServer(sim, clock.now_s, name="n6705", lock=world.lock) as server:
        mainframe = KeysightN6705B(f"n6705b_{next(_names)}", f"TCPIP::{LOOPBACK}::{server.port}::SOCKET",
                                   visalib="@py", terminator="\n", timeout=2)
        try:
            yield mainframe, sim, clock
        finally:
            mainframe.close()


def test_qcodes_n6705b_ordinary_calls_leave_no_error(n6705b):
    mainframe, sim, clock = n6705b
    call = _clean(sim, mainframe)
    assert call(mainframe.get_idn)["model"] == "N6705C"
    ch1, ch2 = mainframe.channels[0], mainframe.channels[1]
    call(lambda: ch1.source_voltage(4.1))
    call(lambda: ch1.source_current(1.0))
    assert call(ch1.source_voltage) == pytest.approx(4.1) and call(ch1.source_current) == pytest.approx(1.0)
    call(lambda: ch1.enable("on"))
    call(lambda: ch2.enable("off"))
    assert call(ch1.enable) == "on" and call(ch2.enable) == "off"
    clock.sleep(30.0)
    voltage, current = call(ch1.voltage), call(ch1.current)
    # Voltage priority (the N678xA's FUNCtion after *RST): charging toward 4.1 V, the current bounded
    # by CURRent:LIMit (3.06 A); ``CURR`` is the current-priority level on an N678xA, not a limit.
    assert 3.0 < voltage <= 4.1 and 0.0 < current <= 3.06
    assert call(ch2.current) == 0.0
    call(lambda: ch1.enable("off"))


def test_qcodes_n6705b_ovp_and_priority_mode_are_not_n6781a_commands(n6705b):
    """The driver's ``voltage_limit`` is ``SOUR:VOLT:PROT``, which the N6700 programmer's reference
    says "does NOT apply to models N678xA SMU" (use VOLTage:PROTection:REMote), and its set form
    writes the channel list ``@(1)`` where the manual's form is ``(@1)``; its ``source_mode`` is
    ``OUTPut:PMODe``, which applies only to the N6761A/N6762A. The set, with no channel list the
    manual's way, is -109 (missing parameter: the list); the mode and the OVP query on an N6781A
    channel are refused with -113; nothing changes: the OVP stays at its *RST MAX of 22 V (p. 304)."""
    mainframe, sim, _clock = n6705b
    ch1 = mainframe.channels[0]
    ch1.voltage_limit(4.3)
    ch1.source_mode("voltage")
    mainframe.timeout(0.3)
    with pytest.raises(Exception):  # noqa: B017 - the query is refused: no reply, a VISA timeout
        ch1.voltage_limit()
    assert [code for code, _ in sim.errors] == [-109, -113, -113]
    sim.errors.clear()
    assert float(mainframe.ask("VOLT:PROT:REM? (@1)")) == pytest.approx(22.0)
