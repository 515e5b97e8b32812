"""``bench run --seed N``: the simulated bench's measurement noise is seeded (a study repeats a
profile with other noise); the same seed gives the same run, another seed other readings."""

from __future__ import annotations

import numpy as np

from bench.cli import main
from bench.runfile.reader import RunFile

PROTOCOL = "name: noise\ncell: {preset: nmc_21700}\nsteps:\n  - Discharge at 1C for 2 minutes\n"


def _volts(tmp_path, name: str, *args: str) -> np.ndarray:
    path = tmp_path / "noise.yaml"
    path.write_text(PROTOCOL, encoding="utf-8")
    out = tmp_path / f"{name}.h5"
    assert main(["run", str(path), "--out", str(out), "--no-progress", *args]) == 0
    with RunFile(out) as run:
        return np.asarray(run.samples["Voltage / V"], dtype=float)


def test_seed_sets_the_noise(tmp_path):
    default, zero, one = _volts(tmp_path, "a"), _volts(tmp_path, "b", "--seed", "0"), _volts(tmp_path, "c", "--seed", "1")
    assert np.array_equal(default, zero)
    assert default.shape == one.shape and not np.array_equal(default, one)
    assert np.max(np.abs(default - one)) < 0.005  # the same cell, other noise (0.2 mV rms)
