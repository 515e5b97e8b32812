"""The Watlow F4T simulator read and written by pymodbus' own client (not our driver) over
`bench sim serve --chamber watlow_f4t`, register by register from the F4T Setup and Operations
User's Guide, chapter 6 appendix (page numbers of that guide). Each access names its register as
``"holding register N"``; the helper sends exactly that address."""

from __future__ import annotations

import struct

import pytest
from pymodbus.client import ModbusTcpClient

from bench.simulated.serve import start_sim_servers
from sim_instruments.world.clock import VirtualClock

pytestmark = pytest.mark.timeout(60)


class F4tClient:
    """pymodbus' client with the F4T's encodings: floats and 32-bit integers low word first."""

    def __init__(self, port: int) -> None:
        self.client = ModbusTcpClient("127.0.0.1", port=port, timeout=5)
        assert self.client.connect()

    @staticmethod
    def _address(register: str) -> int:
        prefix = "holding register "
        assert register.startswith(prefix)
        return int(register[len(prefix):])

    def words(self, register: str, count: int = 1) -> list[int]:
        response = self.client.read_holding_registers(self._address(register), count=count, device_id=1)
        assert not response.isError(), f"{register}: {response}"
        return list(response.registers)

    def exception(self, register: str, count: int = 1, write: list[int] | None = None) -> int:
        """The Modbus exception code a read (or write) of ``register`` answers."""
        address = self._address(register)
        if write is None:
            response = self.client.read_holding_registers(address, count=count, device_id=1)
        else:
            response = self.client.write_registers(address, write, device_id=1)
        assert response.isError(), f"{register}: no exception"
        return int(response.exception_code)

    def float(self, register: str) -> float:
        low, high = self.words(register, 2)
        return struct.unpack(">f", struct.pack(">HH", high, low))[0]

    def int32(self, register: str) -> int:
        low, high = self.words(register, 2)
        return struct.unpack(">i", struct.pack(">HH", high, low))[0]

    def write(self, register: str, value: int) -> None:
        response = self.client.write_register(self._address(register), value, device_id=1)
        assert not response.isError(), f"{register} = {value}: {response}"

    def write_float(self, register: str, value: float) -> None:
        high, low = struct.unpack(">HH", struct.pack(">f", value))
        response = self.client.write_registers(self._address(register), [low, high], device_id=1)
        assert not response.isError(), f"{register} = {value}: {response}"


@pytest.fixture
def f4t():
    clock = VirtualClock()
    servers = start_sim_servers(chamber="watlow_f4t", clock=clock)
    client = F4tClient(servers.instruments["chamber"].server.port)
    yield client, servers, clock
    client.client.close()
    servers.close()


def test_device_parameters(f4t):
    """p. 225: hardware id, part number, device status, line frequency, device name, display units."""
    c, _servers, _clock = f4t
    assert c.int32("holding register 0") == 124
    part = "".join(chr(w) for w in c.words("holding register 16", 15) if w)
    assert part.startswith("F4T")
    assert c.words("holding register 90") == [138]  # device status OK
    assert c.words("holding register 94") == [4]  # 60 Hz
    c.write("holding register 94", 3)
    assert c.words("holding register 94") == [3]
    name = [ord(ch) for ch in "Chamber 7"] + [0] * 23
    c.client.write_registers(46, name, device_id=1)
    assert "".join(chr(w) for w in c.words("holding register 46", 32) if w) == "Chamber 7"
    assert c.words("holding register 1328") == [15]  # display units °C, as shipped
    assert c.words("holding register 6730") == [15]  # the Modbus-TCP profile units mirror them
    assert c.exception("holding register 94", write=[5]) == 3  # not an enumeration the guide lists
    assert c.exception("holding register 90", write=[32]) == 2  # read-only


def test_display_units_convert_every_temperature_register(f4t):
    c, servers, _clock = f4t
    air_c = c.float("holding register 2820")
    c.write("holding register 1328", 30)  # °F
    assert c.float("holding register 2820") == pytest.approx(air_c * 1.8 + 32.0, abs=1e-3)
    c.write_float("holding register 2782", 104.0)  # 40 °C written in °F
    assert servers.world.chamber.setpoint_c == pytest.approx(40.0, abs=1e-4)
    assert c.float("holding register 1334") == pytest.approx(150.0 * 1.8 + 32.0, abs=1e-3)  # alarm 1 high
    c.write("holding register 1328", 15)
    assert c.float("holding register 2782") == pytest.approx(40.0, abs=1e-4)


def test_alarm_type_sides_set_points_and_state_follow_the_air(f4t):
    """Alarm 3 (registers 1330 + 200 ...): a process high alarm at 30 °C with 2 K hysteresis trips
    as the chamber heats past it and clears only 2 K below."""
    c, servers, clock = f4t
    assert c.words("holding register 1330") == [76] and c.words("holding register 1332") == [37]  # alarm 1
    assert c.float("holding register 1334") == pytest.approx(150.0)
    assert c.words("holding register 1342") == [60]  # non-latching
    assert c.float("holding register 1338") == pytest.approx(0.6)  # hysteresis as shipped (p. 225)
    assert c.words("holding register 1356") == [61]  # alarm 1 state: none
    c.write("holding register 1530", 76)  # alarm 3 type: process
    c.write("holding register 1532", 37)  # sides: high
    c.write_float("holding register 1534", 30.0)
    c.write_float("holding register 1538", 2.0)  # hysteresis
    assert c.float("holding register 1538") == pytest.approx(2.0)
    assert c.words("holding register 1556") == [61]  # alarm 3 state: none at 25 °C
    c.write_float("holding register 2782", 40.0)
    c.write("holding register 2730", 10)  # auto
    clock.sleep(600.0)
    assert c.float("holding register 2820") > 30.0
    assert c.words("holding register 1556") == [7]  # high
    c.write_float("holding register 2782", 29.0)
    for _ in range(200):  # cool back, 30 s at a time, until the air is within 1 K of 30 °C
        clock.sleep(30.0)
        if c.float("holding register 2820") < 29.5:
            break
    air = c.float("holding register 2820")
    assert 28.0 < air < 30.0 and c.words("holding register 1556") == [7]  # inside the hysteresis: still high
    c.write_float("holding register 2782", 25.0)
    clock.sleep(3600.0)
    assert c.float("holding register 2820") < 28.0 and c.words("holding register 1556") == [61]
    assert c.exception("holding register 1530", write=[99]) == 3


def test_loop_range_power_and_events(f4t):
    c, servers, clock = f4t
    c.write_float("holding register 2776", 60.0)  # set point range high (RW, as the guide has it)
    assert c.float("holding register 2776") == pytest.approx(60.0)
    c.write_float("holding register 2774", -20.0)
    assert c.exception("holding register 2782", write=list(struct.unpack("<HH", struct.pack("<f", 70.0)))) == 3
    c.write_float("holding register 2782", 55.0)
    c.write("holding register 2730", 10)
    clock.sleep(60.0)
    assert c.float("holding register 2808") == pytest.approx(100.0)  # heating flat out
    c.write_float("holding register 2784", 35.0)  # manual power: stored
    assert c.float("holding register 2784") == pytest.approx(35.0)
    assert c.exception("holding register 2730", write=[54]) == 3  # manual mode is not modelled
    assert c.words("holding register 16594") == [62]
    c.write("holding register 16594", 63)  # event output 1 on
    assert c.words("holding register 16594") == [63]
    assert c.words("holding register 16568") == [61]  # no profile
    assert c.exception("holding register 16562", write=[1782]) == 3  # no profiles stored
    assert c.exception("holding register 5000") == 2
    assert c.exception("holding register 2846", count=2) == 2  # PID set 3: not modelled
    assert c.exception("holding register 4010") == 2  # no cascade loop


def test_restore_factory_settings(f4t):
    c, _servers, _clock = f4t
    c.write("holding register 86", 31)
    assert c.words("holding register 1328") == [30]  # factory default °F
    assert c.words("holding register 1330") == [62]  # alarms off
    assert c.words("holding register 86") == [61]
