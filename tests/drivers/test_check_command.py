"""``bench check --bench FILE`` against simulators served on 127.0.0.1: a table row per instrument,
exit 0 when all answer as their drivers expect, 4 with a clear error for a missing or wrong one."""

from __future__ import annotations

import socket

import pytest

from bench.cli import main


def _closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    return port


@pytest.fixture
def served():
    """The EA PSB (SCPI raw socket) and the Watlow F4T (Modbus TCP) on one world, on loopback."""
    from sim_instruments.chambers.watlow_f4t import ModbusSimServer, WatlowF4tRegisters
    from sim_instruments.cyclers.ea_psb import EaPsbSim
    from sim_instruments.wire.tcp_server import LineServer
    from sim_instruments.world.clock import VirtualClock
    from sim_instruments.world.sim_world import SimWorld

    clock = VirtualClock()
    world = SimWorld.single_cell(clock)
    with LineServer(EaPsbSim(world), clock.now_s, name="cycler", lock=world.lock) as psb, \
            ModbusSimServer(WatlowF4tRegisters(world), name="chamber") as f4t:
        yield {"cycler": f"TCPIP::127.0.0.1::{psb.port}::SOCKET", "chamber": f4t.resource}


def _bench(tmp_path, cycler: tuple[str, str], chamber: tuple[str, str]):
    path = tmp_path / "bench.toml"
    path.write_text(f'[cycler]\ndriver = "{cycler[0]}"\nresource = "{cycler[1]}"\ntimeout_s = 0.5\n\n'
                    f'[chamber]\ndriver = "{chamber[0]}"\nresource = "{chamber[1]}"\ntimeout_s = 0.5\n')
    return str(path)


def test_check_identifies_every_served_instrument(tmp_path, capsys, served):
    bench = _bench(tmp_path, ("ea_psb10000", served["cycler"]), ("watlow_f4t", served["chamber"]))
    assert main(["check", "--bench", bench]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert len(rows) == 2
    assert rows[0].split()[:3] == ["cycler", "ok", "ea_psb10000"] and "PSB 10060-60" in rows[0]
    assert rows[1].split()[:3] == ["chamber", "ok", "watlow_f4t"] and "Watlow F4T F4T1R1DAAAA1AAA" in rows[1]


def test_check_missing_modbus_chamber_exits_4_and_still_lists_the_others(tmp_path, capsys, served):
    missing = f"modbus-tcp://127.0.0.1:{_closed_port()}"
    bench = _bench(tmp_path, ("ea_psb10000", served["cycler"]), ("watlow_f4t", missing))
    assert main(["check", "--bench", bench]) == 4
    captured = capsys.readouterr()
    rows = captured.out.splitlines()
    assert rows[0].split()[:2] == ["cycler", "ok"]
    assert rows[1].split()[:3] == ["chamber", "FAIL", "watlow_f4t"] and "cannot connect" in rows[1]
    assert captured.err.count("\n") == 1 and "1 of 2 instruments failed the check: chamber" in captured.err


def test_check_missing_visa_cycler_exits_4(tmp_path, capsys, served):
    missing = f"TCPIP::127.0.0.1::{_closed_port()}::SOCKET"
    bench = _bench(tmp_path, ("ea_psb10000", missing), ("watlow_f4t", served["chamber"]))
    assert main(["check", "--bench", bench]) == 4
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].split()[:2] == ["cycler", "FAIL"] and missing in rows[0]
    assert rows[1].split()[:2] == ["chamber", "ok"]


def test_check_wrong_instrument_exits_4_naming_what_answered(tmp_path, capsys, served):
    bench = _bench(tmp_path, ("keithley2460", served["cycler"]), ("watlow_f4t", served["chamber"]))
    assert main(["check", "--bench", bench]) == 4
    row = capsys.readouterr().out.splitlines()[0]
    assert row.split()[:3] == ["cycler", "FAIL", "keithley2460"]
    assert "PSB 10060-60" in row and "expected one of MODEL 2460" in row


def test_check_invalid_bench_file_exits_2(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('[cycler]\ndriver = "ea_psb10000"\nresource = "x"\n[chamber]\ndriver = "ea_psb10000"\nresource = "y"\n')
    assert main(["check", "--bench", str(path)]) == 2
    assert "[chamber] driver 'ea_psb10000' is a cycler driver" in capsys.readouterr().err
    assert main(["check", "--bench", str(tmp_path / "none.toml")]) == 2


def test_drivers_lists_the_new_drivers(capsys):
    assert main(["drivers"]) == 0
    out = capsys.readouterr().out
    assert any(line.split()[:3] == ["ea_psb10000", "cycler", "visa"] for line in out.splitlines())
    assert any(line.split()[:3] == ["watlow_f4t", "chamber", "modbus"] for line in out.splitlines())
