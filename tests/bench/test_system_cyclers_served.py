"""``bench sim serve --cycler maccor_macnet|arbin_cti --channels N``: the bench config it writes
opens through the production channel drivers over loopback, and ``bench check`` asks every channel."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main
from bench.multichannel.run import check_multichannel, open_multichannel
from bench.simulated.multichannel import serve_multichannel, to_toml
from drivers.roles import ProtectionLimits

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("driver", ["maccor_macnet", "arbin_cti", "keysight_n6700"])
def test_served_system_channels_open_measure_and_check(driver: str, tmp_path: Path, capsys) -> None:
    with serve_multichannel(2, speed=10.0, cycler=driver) as servers:
        config = servers.config
        assert [e["channel"] for e in config["cycler"]] == [1, 2]
        assert len({e["resource"] for e in config["cycler"]}) == 1   # one system (mainframe), one connection
        assert check_multichannel(config, "sim.toml") == []
        bench_file = tmp_path / "sim.toml"
        bench_file.write_text(to_toml(config), encoding="utf-8")
        assert main(["check", "--bench", str(bench_file)]) == 0
        out = capsys.readouterr().out
        assert out.count(f" ok    {driver}") == 2
        mbench = open_multichannel(config)
        try:
            for cycler in mbench.cyclers:  # the vendor limits go first: measuring before them is refused
                cycler.configure_protection(ProtectionLimits(voltage_max_v=4.25, voltage_min_v=2.4, current_max_a=7.0))
                voltage_v, current_a = cycler.measure()
                assert 3.0 < voltage_v < 4.2 and abs(current_a) < 0.01   # a rested cell near 50 % SOC
        finally:
            mbench.close()


def test_a_system_channel_without_its_channel_number_is_refused() -> None:
    config = {"cycler": [{"driver": "maccor_macnet", "resource": "TCPIP::127.0.0.1::57570::SOCKET"}]}
    problems = check_multichannel(config, "lab.toml")
    assert problems and "needs 'channel'" in problems[0]


def test_channels_of_one_mainframe_used_from_many_threads_get_their_own_replies() -> None:
    """One engine thread per channel shares the mainframe's connection: every reply reaches the
    channel that asked (the driver holds the mainframe for each conversation)."""
    import threading

    errors: list[str] = []
    with serve_multichannel(4, speed=10.0, cycler="keysight_n6700") as servers:
        mbench = open_multichannel(servers.config)
        try:
            def work(cycler) -> None:
                try:
                    for _ in range(20):
                        assert "N6781A" in cycler.verify_identity()
                        voltage_v, _current_a = cycler.measure()
                        assert 3.0 < voltage_v < 4.2
                except Exception as exc:  # noqa: BLE001 - collected and asserted below
                    errors.append(f"{type(exc).__name__}: {exc}")

            threads = [threading.Thread(target=work, args=(c,)) for c in mbench.cyclers]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
        finally:
            mbench.close()
    assert errors == []


def test_served_maccor_drives_the_fast_charge_cell_with_a_readback_the_plating_detector_reads() -> None:
    """``bench sim serve --cycler maccor_macnet --cell xfc_nmc_pouch``: the channel takes the cell's
    25 A over loopback (the 5 V / 60 A channel) and its voltage reads in 16-bit steps of the 5 V span
    (76 µV), fine enough for the relaxation test (bench.analysis.plating: at most 1 mV)."""
    import numpy as np

    from bench.analysis.plating import MAX_RESOLUTION_V, resolution_v

    with serve_multichannel(1, "xfc_nmc_pouch", speed=50.0, cycler="maccor_macnet") as servers:
        mbench = open_multichannel(servers.config)
        try:
            (cycler,) = mbench.cyclers
            assert cycler.current_range_a[1] >= 25.0
            cycler.configure_protection(ProtectionLimits(voltage_max_v=4.2, voltage_min_v=2.5, current_max_a=25.0))
            cycler.set_current(25.0, 4.2)
            cycler.output_on()
            readings = [cycler.measure() for _ in range(40)]
            cycler.output_off()
        finally:
            mbench.close()
    volts = np.array([v for v, _ in readings])
    assert all(abs(i - 25.0) < 0.01 for _, i in readings[1:])
    step = 5.0 / 2 ** 16
    assert np.allclose(np.round(volts / step) * step, volts, atol=1e-6)  # float32 on the wire
    assert resolution_v(volts) <= MAX_RESOLUTION_V
