"""The Espec P-300 simulator against its communication manual, probed raw over `bench sim serve`
(pyserial ``socket://``, CR LF) the way Espec's ChamberConnectLibrary reads each reply.

ChamberConnectLibrary (PyPI 2.2.5) is Python 2 code and cannot be imported here; these probes send
the commands its ``P300.read_*`` methods send and check that each reply has the fields those
methods take apart (field counts and types, not its code)."""

from __future__ import annotations

import datetime as dt

import pytest
import serial

from bench.simulated.serve import start_sim_servers
from sim_instruments.chambers.espec_p300 import EspecChamberSim
from sim_instruments.world.clock import VirtualClock
from sim_instruments.world.sim_world import SimWorld

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def served():
    clock = VirtualClock()
    servers = start_sim_servers(clock=clock)
    port = servers.instruments["chamber"].server.port
    link = serial.serial_for_url(f"socket://127.0.0.1:{port}", timeout=5.0)

    def ask(line: str) -> str:
        link.write(line.encode("ascii") + b"\r\n")
        reply = link.read_until(b"\r\n")
        assert reply.endswith(b"\r\n"), f"{line!r}: no reply"
        return reply[:-2].decode("ascii")

    yield ask, servers, clock
    link.close()
    servers.close()


def test_replies_have_the_fields_espec_library_parses(served):
    ask, servers, clock = served
    fields = ask("TYPE?").split(",")
    assert len(fields) == 3 and fields[0] == "T" and float(fields[2]) == 100.0  # dry bulb, controller, max
    assert ask("ROM?")
    assert ask("TEMP, S25.0 H100.0 L-45.0") == "OK: TEMP, S25.0 H100.0 L-45.0"
    assert ask("MODE, CONSTANT") == "OK: MODE, CONSTANT"
    pv, sp, high, low = (float(x) for x in ask("TEMP?").split(","))
    assert (sp, high, low) == (25.0, 100.0, -45.0) and pv == pytest.approx(servers.world.chamber.air_c, abs=0.05)
    assert ask("MODE?") == "CONSTANT" and ask("MODE?,DETAIL") == "CONSTANT"
    temp, humi, mode, alarms = ask("MON?").split(",")
    assert humi == "" and mode == "CONSTANT" and int(alarms) == 0 and float(temp) == pytest.approx(pv, abs=0.05)
    assert ask("ALARM?") == "0"
    setpoint, enable = ask("CONSTANT SET?,TEMP").split(",")
    assert float(setpoint) == 25.0 and enable == "ON"
    assert ask("KEYPROTECT?") == "OFF"
    assert ask("KEYPROTECT, ON") == "OK: KEYPROTECT, ON" and ask("KEYPROTECT?") == "ON"
    year, month_day = ask("DATE?").split(".")[:2]
    month, day = month_day.split("/")
    hour, minute, second = (int(x) for x in ask("TIME?").split(":"))
    assert 1 <= int(month) <= 12 and 1 <= int(day) <= 31 and int(year) >= 0 and 0 <= hour < 24
    count, dry = ask("%?").split(",")
    assert count == "1" and 0.0 <= float(dry) <= 100.0


def test_heater_output_follows_the_chamber_air(served):
    """Heating from 25 °C to 60 °C the heater runs flat out; holding 60 °C it balances the leak."""
    ask, servers, clock = served
    ask("TEMP, S60.0")
    ask("MODE, CONSTANT")
    clock.sleep(60.0)
    assert ask("%?") == "1,100.0"
    clock.sleep(4 * 3600.0)
    heater = float(ask("%?").split(",")[1])  # the world is synced to now by this query
    chamber = servers.world.chamber
    assert chamber.air_c == pytest.approx(60.0, abs=0.1)
    balance = 100.0 * chamber.leak_w_per_k * (chamber.air_c - chamber.lab_c) / 1200.0
    assert heater == pytest.approx(balance, abs=0.1)
    assert 0.0 < balance < 100.0


def test_refusals_are_the_manuals_na_messages(served):
    ask, _servers, _clock = served
    assert ask("TENMP?") == "NA:CMD ERR"  # the manual's own example
    assert ask("TEMP, X25.0") == "NA:PARA ERR"
    assert ask("TEMP,") == "NA:PARA ERR"
    assert ask("MODE, SPIN") == "NA:PARA ERR"
    assert ask("TEMP, S120.0") == "NA:DATA OUT OF RANGE"  # above the high alarm
    assert ask("TEMP, S50.0 H40.0") == "NA:DATA OUT OF RANGE"  # beyond the new high alarm
    assert ask("HUMI?") == "NA:CONT NOT READY-1"  # no humidity system
    assert ask("CONSTANT SET?,HUMI") == "NA:CONT NOT READY-1"
    for unsupported in ("SRQ?", "TIMER USE?", "PRGM MON?", "REF?"):
        assert ask(unsupported) == "NA:CMD ERR"
    assert ask("POWER, OFF") == "OK: POWER, OFF" and ask("MODE?") == "OFF"
    assert ask("KEYPROTECT, ON") == "NA:CONT NOT READY-4"  # key lock while power is OFF
    assert ask("POWER, ON") == "OK: POWER, ON" and ask("MODE?") == "CONSTANT"  # starts in constant mode


def test_calendar_runs_on_simulated_time_and_can_be_set():
    clock = VirtualClock()
    sim = EspecChamberSim(SimWorld.single_cell(clock, seed=0))
    assert sim.handle_line("DATE, 26.03/02. MON") == "OK: DATE, 26.03/02. MON"
    assert sim.handle_line("TIME, 08:30:00") == "OK: TIME, 08:30:00"
    clock.sleep(16 * 3600.0)  # to the next day
    assert sim.handle_line("DATE?") == "26.03/03. TUE"
    assert sim.handle_line("TIME?") == "00:30:00"
    assert sim.handle_line("TIME, 25:00:00") == "NA:PARA ERR"
    assert dt.date(2026, 3, 3).weekday() == 1
