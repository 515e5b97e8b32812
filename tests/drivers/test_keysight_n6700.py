"""Keysight N6700 mainframe with N6781A modules: conversation tests, and the production driver
driving several channels of the simulated mainframe in process (virtual clock)."""

from __future__ import annotations

import pytest

from drivers.catalog import open_instrument
from drivers.errors import InstrumentError, InstrumentReplyError, ProtectionNotTaken, SetpointOutOfRange
from drivers.keysight_n6700 import N6700System, channel_list
from drivers.roles import Cycler, ProtectionLimits
from tests.drivers.conversation import Conversation

NO_ERROR = (":SYST:ERR?", '+0,"No error"')
IDN = ("*IDN?", "Keysight Technologies,N6705C,MY56000001,D.04.01")
MODULES = [("SYST:CHAN:COUN?", "+4"), ("SYST:CHAN:MOD? (@1:4)", "N6781A,N6781A,N6781A,N6752A")]


def make(pairs, number=2):
    conv = Conversation(MODULES + pairs)
    system = N6700System(conv, name="n6700")
    return system.channel(number, name="cell2"), conv


def test_channel_lists():
    assert channel_list([1, 2, 3, 4]) == "(@1:4)"
    assert channel_list([3, 1]) == "(@1,3)"


def test_identity_names_the_module_of_the_channel():
    ch, conv = make([IDN])
    assert ch.verify_identity().endswith("channel 2: N6781A")
    conv.assert_done()


def test_protection_then_a_discharge_in_current_priority():
    ch, conv = make([("VOLT:PROT:REM 4.2925,(@2)", None), ("VOLT:LIM 4.25,(@2)", None), ("CURR:LIM 3.06,(@2)", None),
                     NO_ERROR, ("VOLT:PROT:REM? (@2)", "+4.292500E+00"), ("VOLT:LIM? (@2)", "+4.250000E+00"),
                     ("CURR:LIM? (@2)", "+3.060000E+00"),
                     ("FUNC CURR,(@2)", None), ("VOLT:LIM 4.2,(@2)", None), ("CURR -1.5,(@2)", None), NO_ERROR,
                     ("OUTP:PROT:CLE (@2)", None), ("OUTP ON,(@2)", None), NO_ERROR,
                     ("MEAS:VOLT? (@2)", "+3.712000E+00"), ("MEAS:CURR? (@2)", "-1.499900E+00")])
    ch.configure_protection(ProtectionLimits(voltage_max_v=4.25, voltage_min_v=2.5, current_max_a=5.0))
    ch.set_current(-1.5, 4.2)
    ch.output_on()
    assert ch.measure() == (pytest.approx(3.712), pytest.approx(-1.4999))
    conv.assert_done()


def test_an_ovp_the_module_did_not_take_stops_before_any_output():
    """The remote OVP reads back at its *RST value (22 V, MAX): ProtectionNotTaken (exit 4)."""
    ch, conv = make([("VOLT:PROT:REM 4.2925,(@2)", None), ("VOLT:LIM 4.25,(@2)", None), ("CURR:LIM 3.06,(@2)", None),
                     NO_ERROR, ("VOLT:PROT:REM? (@2)", "+2.200000E+01")])
    with pytest.raises(ProtectionNotTaken, match=r"^n6700 \(conversation\) channel 2: configure_protection: "
                                                r"VOLT:PROT:REM set to 4.2925 V but the instrument reads back 22"):
        ch.configure_protection(ProtectionLimits(voltage_max_v=4.25, voltage_min_v=2.5, current_max_a=5.0))
    conv.assert_done()


def test_voltage_priority_and_protection_status():
    ch, conv = make([("FUNC VOLT,(@2)", None), ("CURR:LIM 1,(@2)", None), ("VOLT 4.2,(@2)", None), NO_ERROR,
                     ("STAT:QUES:COND? (@2)", "+1"), ("OUTP OFF,(@2)", None)])
    ch.set_voltage(4.2, 1.0)
    assert ch.protection_tripped() == "OVP"
    ch.output_off()
    conv.assert_done()


def test_bad_input_is_a_one_line_error_naming_system_and_channel():
    conv = Conversation(MODULES)
    system = N6700System(conv, name="n6700")
    with pytest.raises(SetpointOutOfRange, match=r"^n6700 \(conversation\): no channel 7 \(installed: 1, 2, 3, 4\)$"):
        system.channel(7)
    with pytest.raises(InstrumentReplyError, match=r"channel 4: module N6752A is not a cycler module"):
        system.channel(4)
    ch = system.channel(1)
    with pytest.raises(SetpointOutOfRange, match=r"^n6700 \(conversation\) channel 1: source_current_a = 4"):
        ch.set_current(4.0, 4.2)
    conv.assert_done()


def test_a_vendor_error_reply_names_the_channel():
    ch, conv = make([("OUTP:PROT:CLE (@2)", None), ("OUTP ON,(@2)", None), (":SYST:ERR?", '-222,"Data out of range"'),
                     NO_ERROR])
    with pytest.raises(InstrumentError, match=r"^n6700 \(conversation\) channel 2: .*-222"):
        ch.output_on()
    conv.assert_done()


# -- against the simulated mainframe, in process -------------------------------------------------
@pytest.fixture
def mainframe():
    import pyvisa

    from sim_instruments.cyclers.keysight_n6700 import KeysightN6700Sim
    from sim_instruments.wire.endpoint import CommsFault, LineEndpoint
    from sim_instruments.wire.visa_library import SimVisaLibrary
    from sim_instruments.world.clock import VirtualClock
    from sim_instruments.world.sim_world import SimWorld

    clock = VirtualClock()
    world = SimWorld.single_cell(clock, soc=0.5, channels=4)
    resource = "USB0::0x2A8D::0x0F02::MY56000001::INSTR"
    endpoint = LineEndpoint(KeysightN6700Sim(world, cells=[0, 1, 2, 3]), clock.now_s)
    rm = pyvisa.ResourceManager(SimVisaLibrary.create({resource: endpoint}))
    yield resource, rm, clock, world, endpoint, CommsFault
    rm.close()


def test_production_driver_runs_three_channels_of_the_simulated_mainframe(mainframe):
    resource, rm, clock, world, endpoint, comms_fault = mainframe
    systems: dict = {}
    channels = [open_instrument("keysight_n6700", resource, name=f"cell{n}", resource_manager=rm, channel=n,
                                systems=systems) for n in (1, 2, 4)]
    assert len(systems) == 1  # one connection to the mainframe
    limits = ProtectionLimits(voltage_max_v=4.2, voltage_min_v=2.5, current_max_a=3.0)
    for ch, current in zip(channels, (1.0, -2.0, -0.5), strict=True):
        assert isinstance(ch, Cycler)
        assert "N6705C" in ch.verify_identity()
        ch.configure_protection(limits)
        ch.set_current(current, 4.2)
        ch.output_on()
    before = [ch.measure() for ch in channels]
    clock.sleep(600.0)
    after = [ch.measure() for ch in channels]
    assert [round(i, 6) for _, i in after] == [1.0, -2.0, -0.5]
    assert after[0][0] > before[0][0] and after[1][0] < before[1][0]  # charging rises, discharging falls
    assert world.channels[2].source.output_on is False  # channel 3 untouched
    system = systems[("keysight_n6700", resource)]
    assert [round(i, 6) for _, i in system.measure_channels([1, 2, 4])] == [1.0, -2.0, -0.5]
    # A CV hold on channel 4 (voltage priority), then the lost link: one line naming system and channel.
    channels[2].set_voltage(3.6, 1.0)
    endpoint.faults.append(comms_fault("disconnect", start_s=clock.now_s()))
    with pytest.raises(InstrumentError) as info:
        channels[1].measure()
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"keysight_n6700 ({resource}) channel 2: ")


def test_the_mainframe_refuses_a_channel_it_does_not_have(mainframe):
    resource, rm, *_ = mainframe
    with pytest.raises(SetpointOutOfRange, match=r"keysight_n6700 .* no channel 5"):
        open_instrument("keysight_n6700", resource, name="cell5", resource_manager=rm, channel=5)
    with pytest.raises(ValueError, match="give channel = N"):
        open_instrument("keysight_n6700", resource, name="x", resource_manager=rm)


def test_a_lost_link_names_the_resource_once(mainframe):
    resource, rm, clock, _world, endpoint, comms_fault = mainframe
    ch = open_instrument("keysight_n6700", resource, name="cell1", resource_manager=rm, channel=1)
    endpoint.faults.append(comms_fault("disconnect", start_s=clock.now_s()))
    with pytest.raises(InstrumentError) as info:
        ch.output_on()
    assert str(info.value).count(resource) == 1
