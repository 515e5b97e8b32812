"""Tested the way a lab uses it: every shipped protocol, shortened with ``--set`` only, runs against
``bench sim serve`` over loopback TCP with nothing but ``--bench FILE`` (the served bench file
names its cell in ``[cell]``), on every cycler ``sim serve`` offers.

Each served bench (one ``bench sim serve`` process, accelerated ``--speed``) runs the protocols
assigned to it, so every protocol runs once and every cycler runs at least one; ``lfp_26650`` is the
second cell (served with ``--cell``). The claim of each case: the run completes (exit 0 passed or
1 claims not met / not tested: short variants test fewer cycles than the claims need), no safety
trip (3), no instrument failure (4), and the run file records the served cell's datasheet.
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

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

#: Simulated seconds per wall second of the served world (the runner reads it from [bench] speed).
SPEED = "3000"
EIS_SHORT = "EIS from 1 kHz to 10 Hz, 2 points per decade, 10 mV"
#: protocol -> the --set pairs of its short variant (few cycles, short soaks, short spectra).
SHORT: dict[str, list[str]] = {
    "capacity_check": ["rate=1C"],
    "cold_capacity": ["soak=10 minutes", "cold_temperature_c=10"],
    "cold_capacity_eis": ["soak=10 minutes", "cold_temperature_c=10", f"eis={EIS_SHORT}"],
    "cycle_life": ["rpt_every=1", "rpt_blocks=1", f"eis={EIS_SHORT}"],
    "fade_to_80": ["max_cycles=1"],
    "fast_charge": [],
    "fast_charge_cccv": [],
    "fast_charge_cycling": ["cycles=1", "blocks=1"],
    "fast_charge_gb38031": ["cycles=2"],
    "fast_charge_profile_cycling": ["cycles=1"],
    "nail_penetration": [],
    "puncture_safe_cycling": ["cycles=1"],
}
#: (cycler, channels, cell) served -> the protocols run on it. EIS protocols need the single-channel
#: bench (the served impedance meter); a multi-channel system runs one protocol on both channels.
MATRIX: dict[tuple[str, int, str], list[str]] = {
    ("keithley2460", 1, "nmc_21700"): ["capacity_check", "cold_capacity_eis", "nail_penetration", "cold_capacity"],
    ("ea_psb10000", 1, "lfp_26650"): ["fast_charge_gb38031", "cycle_life", "fade_to_80"],
    ("maccor_macnet", 2, "nmc_21700"): ["puncture_safe_cycling", "fast_charge_cccv"],
    ("arbin_cti", 2, "nmc_21700"): ["fast_charge_profile_cycling"],
    ("keysight_n6700", 2, "nmc_21700"): ["fast_charge", "fast_charge_cycling"],
}
DATASHEET = {"nmc_21700": "lg_inr21700_m50", "lfp_26650": "lfp_26650"}


def test_the_matrix_covers_every_shipped_protocol_and_every_served_cycler() -> None:
    from bench.simulated.multichannel import SYSTEM_CYCLERS
    from bench.simulated.serve import CYCLERS
    from protocols.loader import shipped_protocols

    assert sorted(p for ps in MATRIX.values() for p in ps) == sorted(shipped_protocols()) == sorted(SHORT)
    assert {c for c, _n, _cell in MATRIX} == set(CYCLERS) | set(SYSTEM_CYCLERS) | {"keysight_n6700"}


def _serve(bench_file: Path, cycler: str, channels: int, cell: str) -> subprocess.Popen:
    argv = [sys.executable, "-m", "bench.cli", "sim", "serve", "--write-bench", str(bench_file), "--speed", SPEED,
            "--cycler", cycler, "--cell", cell]
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


@pytest.mark.parametrize(("cycler", "channels", "cell"), list(MATRIX), ids=[c for c, _n, _cell in MATRIX])
def test_shipped_protocols_run_over_tcp_with_only_the_bench_file(cycler: str, channels: int, cell: str,
                                                                 tmp_path: Path, capsys) -> None:
    bench_file = tmp_path / "sim.toml"
    proc = _serve(bench_file, cycler, channels, cell)
    outcomes: dict[str, tuple[int, str]] = {}
    try:
        for protocol in MATRIX[(cycler, channels, cell)]:
            out = tmp_path / f"{protocol}.h5"
            argv = ["run", protocol, "--bench", str(bench_file), "--out", str(out), "--no-progress"]
            argv += [f"--set={pair}" for pair in SHORT[protocol]]
            code = main(argv)
            captured = capsys.readouterr()
            outcomes[protocol] = (code, captured.err.strip().splitlines()[-1] if captured.err.strip() else "")
            if protocol == "nail_penetration":
                continue
            files = [out] if channels == 1 else sorted(tmp_path.glob(f"{protocol}*.h5"))
            assert len(files) == channels, (protocol, files)
            for path in files:
                with h5py.File(path, "r") as f:
                    assert len(f["samples"]["Test Time / s"]) > 100, (protocol, path)
                    assert f"'datasheet': '{DATASHEET[cell]}'" in str(dict(f.attrs).get("cell", "")) or \
                        DATASHEET[cell] in str(f.attrs.get("cell", "")), (protocol, dict(f.attrs).get("cell"))
    finally:
        _stop(proc)
    for protocol, (code, last_error) in outcomes.items():
        if protocol == "nail_penetration":
            assert code == 2 and "needs an operator at a terminal" in last_error, (code, last_error)
        else:
            assert code in (0, 1), f"{protocol} on {cycler}: exit {code} {last_error}"
