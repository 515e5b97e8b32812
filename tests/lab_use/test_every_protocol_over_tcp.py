"""Tested the way a lab uses it: every shipped protocol, shortened with ``--set`` only, runs against
``bench sim serve`` over loopback TCP with nothing but ``--bench FILE`` (the served bench file
names its cell in ``[cell]``), on every cycler ``sim serve`` offers.

Each served bench (one ``bench sim serve`` process, accelerated ``--speed``) runs the protocols
assigned to it, so every protocol runs once and every cycler runs at least one; ``lfp_26650`` is the
second cell (served with ``--cell``). The claim of each case: the run completes (exit 0 passed or
1 claims not met / not tested: short variants test fewer cycles than the claims need), no safety
trip (3), no instrument failure (4), and the run file records the served cell's datasheet.
A run that tripped after its samples fell behind the accelerated world (samples more than
``tests.served_lag.BEHIND_PERIODS`` of their step's periods apart under current, or a step ended by time (soak, rest, pulse) that overran its own
duration, which only a late runner can do: a loaded
machine cannot sample at this speed) is not tested (skipped, with the gap), not passed: sparse
samples across a discharge knee look like a voltage collapse.
``nail_penetration`` on a bench that is not the built-in simulator is an operator-confirmed abuse
test: without a terminal it is refused before anything runs (exit 2), as it would be in a lab.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest

from bench.cli import main
from tests.served_lag import skip_if_runner_fell_behind

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

#: Simulated seconds per wall second of the served world (the runner reads it from [bench] speed).
SPEED = "3000"
EIS_SHORT = "EIS from 1 kHz to 10 Hz, 2 points per decade, 10 mV"
#: protocol -> the --set pairs of its short variant (few cycles, short soaks, short spectra).
SHORT: dict[str, list[str]] = {
    "capacity_check": ["rate=1C"],
    "cold_capacity": ["soak=10 minutes", "cold_temperature_c=10"],
    "cold_capacity_eis": ["soak=10 minutes", "cold_temperature_c=10", f"eis={EIS_SHORT}"],
    # a coarse test profile (30 s holds) sampled every 30 s: 1 s samples cannot keep up at --speed 3000
    "cold_range": ["soak=10 minutes", "cold_temperature_c=10", "rest=1 minute", "settle=1 minute",
                   "max_drive=10 minutes", f"profile={Path(__file__).parent.parent / 'data/profiles/coarse_drive.csv'}",
                   "replay_period=30 seconds"],
    "cycle_life": ["rpt_every=1", "rpt_blocks=1", f"eis={EIS_SHORT}"],
    "fade_to_80": ["max_cycles=1"],
    "fast_charge": [],
    "fast_charge_cccv": [],
    "fast_charge_cycling": ["cycles=1", "blocks=1"],
    "fast_charge_gb38031": ["cycles=2"],
    "fast_charge_profile_cycling": ["cycles=1"],
    "nail_penetration": [],
    "puncture_safe_cycling": ["cycles=1", "discharge_rate=C/2"],
    "hot_box": ["test_temperature_c=130", "heating_time=56 minutes", "observe=5 minutes"],
    "interface_impedance": [f"eis={EIS_SHORT}"],
}
#: (cycler, channels, cell) served -> the protocols run on it. EIS protocols need the single-channel
#: bench (the served impedance meter); a multi-channel system runs one protocol on both channels;
#: the N6781A channels of the N6700 source at most 3 A (the M50's 1C and its 3.4 A charge do not fit).
MATRIX: dict[tuple[str, int, str], list[str]] = {
    ("keithley2460", 1, "nmc_21700"): ["capacity_check", "cold_capacity_eis", "nail_penetration", "cold_capacity",
                                         "cold_range", "interface_impedance"],
    ("ea_psb10000", 1, "lfp_26650"): ["fast_charge_gb38031", "cycle_life", "fade_to_80"],
    ("maccor_macnet", 2, "nmc_21700"): ["fast_charge_cccv", "fast_charge", "fast_charge_cycling"],
    ("arbin_cti", 2, "nmc_21700"): ["fast_charge_profile_cycling"],
    ("keysight_n6700", 2, "nmc_21700"): ["puncture_safe_cycling"],
    # a fourth element names the served chamber (default espec_p300): the hot box needs an oven
    ("keithley2460", 1, "nmc_21700", "memmert_oven"): ["hot_box"],
}
DATASHEET = {"nmc_21700": "lg_inr21700_m50", "lfp_26650": "lfp_26650"}


def test_the_matrix_covers_every_shipped_protocol_and_every_served_cycler() -> None:
    from bench.simulated.multichannel import SYSTEM_CYCLERS
    from bench.simulated.serve import CYCLERS
    from protocols.loader import shipped_protocols

    assert sorted(p for ps in MATRIX.values() for p in ps) == sorted(shipped_protocols()) == sorted(SHORT)
    assert {key[0] for key in MATRIX} == set(CYCLERS) | set(SYSTEM_CYCLERS) | {"keysight_n6700"}


def _serve(bench_file: Path, cycler: str, channels: int, cell: str, chamber: str = "espec_p300") -> subprocess.Popen:
    argv = [sys.executable, "-m", "bench.cli", "sim", "serve", "--write-bench", str(bench_file), "--speed", SPEED,
            "--cycler", cycler, "--cell", cell, "--chamber", chamber]
    if channels > 1:
        argv += ["--channels", str(channels)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline, fd, text = time.monotonic() + 60.0, proc.stdout.fileno(), ""  # type: ignore[union-attr]
    while "bench config" not in text:  # block on the server's stdout until it announces the file
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(fd, 65536) if ready else b""
        if not chunk:
            proc.kill()
            raise AssertionError(f"bench sim serve did not start: {text} {proc.communicate(timeout=5)[1]}")
        text += chunk.decode()
    return proc


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=5)


class _Servers:
    """The served benches of this module, started on first use and stopped at its end."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.running: dict[tuple[str | int, ...], tuple[subprocess.Popen, Path]] = {}

    def bench_file(self, key: tuple[str | int, ...]) -> Path:
        if key not in self.running:
            self.stop()  # one served bench at a time: the cases come grouped by bench
            path = self.root / f"{'-'.join(str(k) for k in key)}.toml"
            self.running[key] = (_serve(path, *key), path)
        return self.running[key][1]

    def stop(self) -> None:
        for proc, _path in self.running.values():
            _stop(proc)
        self.running.clear()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory):
    served = _Servers(tmp_path_factory.mktemp("served"))
    yield served
    served.stop()


CASES = [pytest.param(key, protocol, id=f"{key[0]}-{protocol}") for key, protocols in MATRIX.items()
         for protocol in protocols]


@pytest.mark.parametrize(("key", "protocol"), CASES)
def test_shipped_protocol_runs_over_tcp_with_only_the_bench_file(key: tuple, protocol: str, servers,
                                                                 tmp_path: Path, capsys, caplog) -> None:
    cycler, channels, cell = key[:3]
    bench_file = servers.bench_file(key)
    out = tmp_path / f"{protocol}.h5"
    argv = ["run", protocol, "--bench", str(bench_file), "--out", str(out), "--no-progress"]
    argv += [f"--set={pair}" for pair in SHORT[protocol]]
    code = main(argv)
    err = capsys.readouterr().err.strip()
    last_error = err.splitlines()[-1] if err else ""
    if protocol == "nail_penetration":
        assert code == 2 and "needs an operator at a terminal" in last_error, (code, last_error)
        assert not list(tmp_path.glob("*.h5"))  # refused before a run file exists
        return
    files = [out] if channels == 1 else sorted(tmp_path.glob(f"{protocol}*.h5"))
    if code == 3 and files:  # a trip is a finding only where the samples kept pace with the world
        skip_if_runner_fell_behind(files, caplog.text, SPEED)
    assert code in (0, 1), f"{protocol} on {cycler}: exit {code} {last_error}"
    assert len(files) == channels, files
    for path in files:
        with h5py.File(path, "r") as f:
            assert len(f["samples"]["Test Time / s"]) > 100
            assert DATASHEET[cell] in str(f.attrs.get("cell", "")), f.attrs.get("cell")


def test_channels_with_a_watlow_chamber_serve_a_watlow_and_a_protocol_too_big_for_a_channel_is_refused(
        tmp_path: Path, capsys) -> None:
    """``--chamber`` is honoured with ``--channels`` (it served an Espec P-300 before), and on a
    multi-channel bench file a step beyond a channel's range is refused before anything runs
    (exit 2 naming the line), not met mid-run as an instrument error."""
    from bench.config import load_bench_config

    bench_file = tmp_path / "n6700.toml"
    argv = [sys.executable, "-m", "bench.cli", "sim", "serve", "--write-bench", str(bench_file), "--speed", "10",
            "--cycler", "keysight_n6700", "--channels", "2", "--chamber", "watlow_f4t"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline, fd, text = time.monotonic() + 60.0, proc.stdout.fileno(), ""  # type: ignore[union-attr]
        while "bench config" not in text:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(fd, 65536) if ready else b""
            assert chunk, f"bench sim serve did not start: {text}"
            text += chunk.decode()
        config = load_bench_config(bench_file)
        assert config["chamber"]["driver"] == "watlow_f4t" and config["chamber"]["resource"].startswith("modbus-tcp://")
        assert config["cell"] == {"name": "lg_inr21700_m50"}
        assert main(["check", "--bench", str(bench_file)]) == 0
        assert "watlow_f4t" in capsys.readouterr().out
        out = tmp_path / "fc.h5"
        assert main(["run", "fast_charge", "--bench", str(bench_file), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert "fast_charge.yaml:" in err and "beyond the cycler's range ±3.06 A" in err
        assert not list(tmp_path.glob("fc*.h5"))
    finally:
        _stop(proc)
