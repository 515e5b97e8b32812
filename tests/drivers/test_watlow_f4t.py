"""Watlow F4T driver: register conversations for every method, the Modbus TCP transport, and the
production driver through pymodbus against the simulated F4T served on 127.0.0.1 (virtual clock)."""

from __future__ import annotations

import socket

import pytest

from drivers.errors import InstrumentCommandError, InstrumentError, InstrumentReplyError, SetpointOutOfRange
from drivers.modbus import (
    ModbusTcpTransport,
    float_to_registers,
    parse_resource,
    registers_to_float,
    registers_to_text,
)
from drivers.roles import ThermalChamber
from drivers.transport import InstrumentConnectionLost
from drivers.watlow_f4t import WatlowF4t

PART = "F4T1R1DAAAA1AAA"


class RegisterConversation:
    """A fake register transport: ``("read", address, count) -> registers`` and
    ``("write", address, values) -> None`` pairs that must be used exactly, in order."""

    resource = "registers"

    def __init__(self, pairs: list[tuple[tuple, list[int] | None]]) -> None:
        self.pairs = list(pairs)
        self.position = 0

    def _next(self, request: tuple) -> list[int] | None:
        assert self.position < len(self.pairs), f"unexpected extra request {request!r}"
        expected, reply = self.pairs[self.position]
        assert request == expected, f"request {self.position}: sent {request!r}, script expects {expected!r}"
        self.position += 1
        return reply

    def read_registers(self, address: int, count: int) -> list[int]:
        """A read must match the next scripted read."""
        reply = self._next(("read", address, count))
        assert reply is not None and len(reply) == count
        return list(reply)

    def write_registers(self, address: int, values: list[int]) -> None:
        """A write must match the next scripted write."""
        assert self._next(("write", address, list(values))) is None

    def close(self) -> None:
        """Nothing to close."""

    def assert_done(self) -> None:
        """Every scripted pair was used."""
        assert self.position == len(self.pairs), f"unused pairs: {self.pairs[self.position:]}"


def text(value: str, count: int = 15) -> list[int]:
    return [ord(c) for c in value] + [0] * (count - len(value))


def f(value: float) -> list[int]:
    return float_to_registers(value, "little")


IDENTIFY = [(("read", 16, 15), text(PART)), (("read", 90, 1), [138]), (("read", 1328, 1), [15]),
            (("read", 2774, 2), f(-70.0)), (("read", 2776, 2), f(180.0))]


def make(pairs):
    conv = RegisterConversation(pairs)
    return WatlowF4t(conv, name="chamber"), conv


# -- conversations --------------------------------------------------------------------------------
def test_identify_reads_part_units_and_range():
    chamber, conv = make(IDENTIFY)
    assert isinstance(chamber, ThermalChamber)
    assert chamber.verify_identity() == f"Watlow F4T {PART}"
    assert chamber.setpoint_range_c == (-70.0, 180.0) and chamber.alarm_count == 6
    conv.assert_done()


def test_identify_rejects_another_controller_a_failed_device_and_fahrenheit():
    """Display units are register 1328 and device status register 90 (F4T Setup and Operations
    User's Guide, ch. 6 appendix p. 225)."""
    chamber, conv = make([(("read", 16, 15), text("PM6C1CA")),
                          (("read", 16, 15), text("F4T1R1FAAAA1AAA")), (("read", 90, 1), [32]),
                          (("read", 16, 15), text("F4T1R1FAAAA1AAA")), (("read", 90, 1), [138]),
                          (("read", 1328, 1), [30])])
    with pytest.raises(InstrumentReplyError, match="'PM6C1CA' is not a Watlow F4T"):
        chamber.verify_identity()
    with pytest.raises(InstrumentReplyError, match="device status is fail"):
        chamber.verify_identity()
    with pytest.raises(InstrumentReplyError, match="temperatures in °F"):
        chamber.verify_identity()
    conv.assert_done()


def test_setpoint_is_a_float_low_word_first_and_range_checked_before_sending():
    chamber, conv = make([(("write", 2782, f(-20.0)), None), (("read", 2782, 2), f(-20.0))])
    chamber.set_setpoint_c(-20.0)
    assert chamber.read_setpoint_c() == pytest.approx(-20.0)
    with pytest.raises(SetpointOutOfRange, match="setpoint 200 °C is outside \\[-70, 180\\] °C"):
        chamber.set_setpoint_c(200.0)
    conv.assert_done()


def test_read_air_power_and_running():
    chamber, conv = make([(("read", 2820, 2), f(23.5)), (("read", 2808, 2), f(-42.0)), (("read", 2814, 1), [10]),
                          (("read", 2820, 2), [0, 0x7FC0])])
    assert chamber.read_air_c() == pytest.approx(23.5)
    assert chamber.read_power_pct() == pytest.approx(-42.0)
    assert chamber.is_running()
    with pytest.raises(InstrumentReplyError, match="loop_process_value_c \\(register 2820\\) is not a number"):
        chamber.read_air_c()
    conv.assert_done()


def test_start_terminates_a_running_profile_then_auto_and_stop_is_off():
    chamber, conv = make([(("read", 16568, 1), [149]), (("write", 16566, [148]), None), (("write", 2730, [10]), None),
                          (("read", 16568, 1), [61]), (("write", 2730, [10]), None),
                          (("write", 2730, [62]), None)])
    chamber.start()
    chamber.start()
    chamber.stop()
    conv.assert_done()


def test_profile_state_names():
    chamber, conv = make([(("read", 16568, 1), [146]), (("read", 16568, 1), [61])])
    assert chamber.profile_state() == "paused"
    assert chamber.profile_state() == "none"
    conv.assert_done()


def test_alarm_lists_active_alarm_instances():
    states = [61, 7, 88, 28, 12, 61]
    chamber, conv = make([(("read", 1356 + 100 * n, 1), [s]) for n, s in enumerate(states)]
                         + [(("read", 1356 + 100 * n, 1), [61]) for n in range(6)])
    assert chamber.alarm() == "alarm 2 high, alarm 4 error"
    assert chamber.alarm() == ""
    conv.assert_done()


def test_loop_two_uses_the_loop_stride_and_writes_are_checked():
    conv = RegisterConversation([(("read", 2980, 2), f(30.0))])
    chamber = WatlowF4t(conv, loop=2)
    assert chamber.read_air_c() == pytest.approx(30.0)
    with pytest.raises(AttributeError, match="read-only"):
        chamber.write("loop_process_value_c", 1.0)
    with pytest.raises(SetpointOutOfRange, match="not one of"):
        chamber.write("loop_control_mode", 11)
    with pytest.raises(SetpointOutOfRange, match="outside \\[-200, 1000\\]"):
        chamber.write("loop_setpoint_c", 2000.0)
    conv.assert_done()


def test_register_codecs():
    assert registers_to_float(float_to_registers(-20.25, "little"), "little") == -20.25
    assert registers_to_float(float_to_registers(1.5, "big"), "big") == 1.5
    assert float_to_registers(1.0, "little") == [0x0000, 0x3F80]
    assert registers_to_text([70, 52, 84, 0, 65]) == "F4T"


def test_parse_resource():
    assert parse_resource("modbus-tcp://10.0.0.5") == ("10.0.0.5", 502, 1)
    assert parse_resource("modbus-tcp://127.0.0.1:1502/3") == ("127.0.0.1", 1502, 3)
    for bad in ("tcp://1.2.3.4", "modbus-tcp://", "modbus-tcp://h:1/x", "modbus-tcp://h/300", "modbus-tcp://h:99999"):
        with pytest.raises(ValueError):
            parse_resource(bad)


# -- against the simulator over Modbus TCP (127.0.0.1) --------------------------------------------
@pytest.fixture
def f4t():
    """(driver, register model, clock): the simulated F4T on an ephemeral loopback port."""
    from sim_instruments.chambers.watlow_f4t import ModbusSimServer, WatlowF4tRegisters
    from sim_instruments.world.clock import VirtualClock
    from sim_instruments.world.sim_world import SimWorld

    clock = VirtualClock()
    model = WatlowF4tRegisters(SimWorld.single_cell(clock), alarm_low_c=-10.0)
    with ModbusSimServer(model) as server:
        chamber = WatlowF4t(ModbusTcpTransport.from_resource(server.resource, timeout_s=1.0))
        try:
            yield chamber, model, clock, server
        finally:
            chamber.transport.close()


def test_driver_against_simulator_setpoint_ramp_alarm_and_stop(f4t):
    chamber, model, clock, _server = f4t
    assert chamber.verify_identity() == "Watlow F4T F4T1R1DAAAA1AAA"
    chamber.set_setpoint_c(-20.0)
    chamber.start()
    assert chamber.is_running() and chamber.read_setpoint_c() == pytest.approx(-20.0)
    assert chamber.read_power_pct() == pytest.approx(-100.0)  # cooling flat out
    clock.sleep(120.0)
    assert 25.0 - 12.0 < chamber.read_air_c() < 25.0 - 2.0  # rate-limited, not a jump
    assert chamber.alarm() == ""
    clock.sleep(4 * 3600.0)
    assert chamber.read_air_c() == pytest.approx(-20.0, abs=0.2)
    assert chamber.alarm() == "alarm 2 low"  # below the simulated low alarm at -10 °C
    chamber.stop()
    assert not chamber.is_running()
    clock.sleep(5 * 3600.0)
    assert chamber.read_air_c() > -5.0  # drifting back towards the lab


def test_simulator_refusals_are_modbus_exceptions(f4t):
    chamber, model, _clock, _server = f4t
    chamber.setpoint_range_c = (-100.0, 300.0)  # past the controller's range: the controller refuses
    with pytest.raises(InstrumentCommandError, match="Modbus exception 3 \\(illegal data value\\)"):
        chamber.set_setpoint_c(250.0)
    with pytest.raises(InstrumentCommandError, match="exception 3"):
        chamber.write("loop_control_mode", 54)  # Manual is not modelled
    with pytest.raises(InstrumentCommandError, match="registers 2780..2781: Modbus exception 2 \\(illegal data"):
        chamber.transport.read_registers(2780, 2)
    with pytest.raises(InstrumentCommandError, match="exception 3"):
        chamber.transport.write_registers(2783, [0])  # half a float


def test_simulator_profile_left_running_is_terminated_by_start(f4t):
    chamber, model, _clock, _server = f4t
    model.profile_state = 149
    assert chamber.profile_state() == "running"
    chamber.start()
    assert chamber.profile_state() == "none" and chamber.is_running()


def test_modbus_connection_refused_lost_and_reconnected(f4t):
    from sim_instruments.chambers.watlow_f4t import ModbusSimServer

    chamber, model, _clock, server = f4t
    assert chamber.read_air_c() == pytest.approx(25.0)
    port = server.port
    server.stop()
    with pytest.raises(InstrumentConnectionLost):
        chamber.read_air_c()
    with pytest.raises(InstrumentError, match="cannot connect"):
        chamber.read_air_c()  # reconnect attempt: nobody listening
    with ModbusSimServer(model, port=port):
        assert chamber.read_air_c() == pytest.approx(25.0)  # reconnected on the same port
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    closed_port = listener.getsockname()[1]
    listener.close()
    with pytest.raises(InstrumentError, match=f"modbus-tcp://127.0.0.1:{closed_port}/1: cannot connect"):
        ModbusTcpTransport.from_resource(f"modbus-tcp://127.0.0.1:{closed_port}", timeout_s=0.5)
    with pytest.raises(InstrumentError, match="not a Modbus TCP resource"):
        ModbusTcpTransport.from_resource("TCPIP::1.2.3.4::502::SOCKET")
