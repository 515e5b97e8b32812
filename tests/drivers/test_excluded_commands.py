"""No driver sends a model a command its manual excludes for that model.

``drivers.keysight_n6700.EXCLUDED_COMMANDS`` holds, per module model, the headers the N6700
programmer's reference excludes (e.g. ``[SOURce:]VOLTage:PROTection[:LEVel]``, which "does NOT
apply to models N678xA SMU"). Every channel class's whole life (identity, protection, both source
modes, output, measurement, protection status) is run against the simulated mainframe through a
recording transport, and every message is checked against the table for each model the class
drives; every declared property is checked too. The simulator refuses those commands as a real
unit does (-113), so a driver that sent one would also fail the over-the-wire test below.
"""

from __future__ import annotations

import pytest

from drivers.catalog import open_instrument
from drivers.keysight_n6700 import EXCLUDED_COMMANDS, MODULE_CLASSES, N6781AChannel
from drivers.roles import ProtectionLimits
from drivers.scpi import scpi_property
from drivers.scpi_headers import matches
from sim_instruments.cyclers.keysight_n6700 import KeysightN6700Sim
from sim_instruments.wire.endpoint import LineEndpoint
from sim_instruments.wire.visa_library import SimVisaLibrary
from sim_instruments.world.clock import VirtualClock
from sim_instruments.world.sim_world import SimWorld

RESOURCE = "USB0::0x2A8D::0x0F02::MY56000001::INSTR"
LIMITS = ProtectionLimits(voltage_max_v=4.2, voltage_min_v=2.5, current_max_a=3.0)


class Recorder:
    """A transport that passes every message on and keeps a copy."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.resource = inner.resource
        self.sent: list[str] = []

    def write(self, message: str) -> None:
        self.sent.append(message)
        self.inner.write(message)

    def query(self, message: str) -> str:
        self.sent.append(message)
        return self.inner.query(message)

    def close(self) -> None:
        self.inner.close()


def violations(model: str, messages: list[str]) -> list[str]:
    """``message: header (why)`` for every message using a header the manual excludes for ``model``."""
    return [f"{m!r}: {header} ({why})" for m in messages for header, why in EXCLUDED_COMMANDS.get(model, ())
            if matches(header, m)]


@pytest.fixture
def mainframe():
    import pyvisa

    clock = VirtualClock()
    world = SimWorld.single_cell(clock, soc=0.5, channels=2)
    sim = KeysightN6700Sim(world, cells=[0, 1])
    rm = pyvisa.ResourceManager(SimVisaLibrary.create({RESOURCE: LineEndpoint(sim, clock.now_s)}))
    yield rm, clock, sim, world
    rm.close()


def lifecycle(channel: N6781AChannel, clock) -> None:
    """Everything the bench asks of a cycler channel in a run."""
    channel.verify_identity()
    channel.output_off()
    channel.configure_protection(LIMITS)
    channel.set_current(1.0, 4.2)
    channel.output_on()
    clock.sleep(10.0)
    channel.measure()
    channel.set_voltage(4.0, 1.0)
    channel.measure()
    channel.protection_tripped()
    channel.is_output_on()
    channel.output_off()


@pytest.mark.parametrize("model", sorted(MODULE_CLASSES))
def test_no_channel_class_sends_its_model_an_excluded_command(mainframe, model):
    rm, clock, _sim, _world = mainframe
    cls = MODULE_CLASSES[model]
    declared = [p.command for p in vars(cls).values() if isinstance(p, scpi_property)]
    for module in cls.module_models:
        assert violations(module, declared) == [], f"{cls.__name__} declares an excluded command"
    systems: dict = {}
    channel = open_instrument("keysight_n6700", RESOURCE, name="cell1", resource_manager=rm, channel=1,
                              systems=systems)
    system = systems[("keysight_n6700", RESOURCE)]
    recorder = system.transport = Recorder(system.transport)
    lifecycle(channel, clock)
    assert any(m.startswith("VOLT:PROT:REM ") for m in recorder.sent)  # the protection was sent
    for module in cls.module_models:
        assert violations(module, recorder.sent) == []


def test_the_check_finds_the_old_ovp_command():
    """The table and the matcher catch what the driver sent before (``VOLT:PROT`` to an N6781A),
    in its short, long and query forms, and leave the remote OVP alone."""
    assert violations("N6781A", ["VOLT:PROT 4.2925,(@2)"])
    assert violations("N6781A", [":SOURce:VOLTage:PROTection:LEVel 4.3,(@1)", "VOLT:PROT? (@1)"])
    assert violations("N6781A", ["OUTP:PMOD VOLT,(@1)"])
    assert violations("N6781A", ["VOLT:PROT:REM 4.2925,(@2)", "VOLT:PROT:REM:NEG -1,(@2)"]) == []


def test_the_simulated_n6781a_refuses_the_excluded_ovp_and_takes_the_remote_one(mainframe):
    """Over the wire: ``VOLT:PROT`` is refused with -113 and leaves the OVP at its *RST MAX (22 V);
    the driver's ``VOLT:PROT:REM`` sets it, and the driver reads it back."""
    rm, clock, sim, world = mainframe
    channel = open_instrument("keysight_n6700", RESOURCE, name="cell1", resource_manager=rm, channel=1)
    system = channel.system
    system.write("VOLT:PROT 4.3,(@1)")
    assert system.query(":SYST:ERR?").startswith("-113,")
    assert float(system.query("VOLT:PROT:REM? (@1)")) == pytest.approx(22.0)
    channel.configure_protection(LIMITS)
    assert float(system.query("VOLT:PROT:REM? (@1)")) == pytest.approx(4.2 * 1.01)
    assert world.channels[0].source.overvoltage_v == pytest.approx(4.242)
    system.check_errors()
