"""The N6781A over-voltage protection on a real-bench path: ``bench sim serve``'s mainframe server
(``serve_multichannel(cycler="keysight_n6700")``), the bench config it writes, ``bench run``. Each
channel's remote OVP (``VOLT:PROT:REM``) ends at the protocol's limit plus 1 %, read back by the
driver; the command the manual excludes for N678xA modules (``VOLT:PROT``) never reached the
mainframe (its error queue would have ended the run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main
from bench.simulated.multichannel import serve_multichannel, to_toml

pytestmark = pytest.mark.timeout(120)

PROTOCOL = """\
name: n6781a_ovp
cell: {preset: nmc_21700, capacity_ah: 5.0, voltage_max_v: 4.2, voltage_min_v: 2.5, current_max_a: 3.0}
limits: {voltage_max_v: 4.25, voltage_min_v: 2.4, current_max_a: 3.06, temperature_max_c: 60, stale_data_s: 60}
sampling: {period_s: 1}
steps:
  - Discharge at 1 A for 1 minute
"""


def test_bench_run_over_tcp_sets_the_remote_ovp_of_every_channel(tmp_path: Path, capsys) -> None:
    protocol = tmp_path / "ovp.yaml"
    protocol.write_text(PROTOCOL, encoding="utf-8")
    with serve_multichannel(2, speed=120.0, cycler="keysight_n6700") as servers:
        bench_file = tmp_path / "sim.toml"
        bench_file.write_text(to_toml(servers.config), encoding="utf-8")
        code = main(["run", str(protocol), "--bench", str(bench_file), "--out", str(tmp_path / "run.h5"),
                     "--no-progress"])
        levels = [ch.source.overvoltage_v for ch in servers.world.channels[:2]]
    assert code == 0, capsys.readouterr()
    assert levels == [pytest.approx(4.25 * 1.01), pytest.approx(4.25 * 1.01)]


def test_a_remote_ovp_the_module_does_not_store_is_exit_4_before_any_output(tmp_path: Path, caplog,
                                                                         monkeypatch) -> None:
    """Simulator fault: the mainframe acknowledges ``VOLT:PROT:REM`` without storing it (the OVP
    stays at its *RST 22 V). The driver reads it back: exit 4, and no channel's output was ever on."""
    import sim_instruments.cyclers.keysight_n6700 as n6700

    monkeypatch.setattr(n6700, "_set_remote_ovp", lambda _src, _value: None)
    protocol = tmp_path / "ovp.yaml"
    protocol.write_text(PROTOCOL, encoding="utf-8")
    seen_on: list[bool] = []
    with serve_multichannel(2, speed=120.0, cycler="keysight_n6700") as servers:
        for channel in servers.world.channels[:2]:
            base = type(channel.source)

            class Watch(base):  # type: ignore[misc, valid-type]  # records every output state set
                def __setattr__(self, name, value, _base=base):
                    if name == "output_on":
                        seen_on.append(bool(value))
                    _base.__setattr__(self, name, value)
            channel.source.__class__ = Watch
        bench_file = tmp_path / "sim.toml"
        bench_file.write_text(to_toml(servers.config), encoding="utf-8")
        code = main(["run", str(protocol), "--bench", str(bench_file), "--out", str(tmp_path / "run.h5"),
                     "--no-progress"])
    assert code == 4
    for n in (1, 2):
        assert (f"channel {n}: configure_protection: VOLT:PROT:REM set to 4.2925 V but the instrument reads "
                "back 22.0; not taken") in caplog.text
    assert True not in seen_on
