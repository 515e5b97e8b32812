"""``bench run --seed N``: the simulated bench's measurement noise is seeded (a study repeats a
profile with other noise); the same seed gives the same run, another seed other readings.

The other seed's readings are compared over the protocol's own samples: the final observation that
follows (bench/engine/final_watch.py) lasts until the noisy block means of the cell's excess over
the air are judged, so its length may differ by a block between seeds (since the nmc_21700 refit on
the depletion law, 0e4f2aa, this 1C discharge leaves the cell at the judge's 1 K tolerance: 151 vs
157 samples)."""

from __future__ import annotations

import numpy as np

from bench.cli import main
from bench.runfile.reader import RunFile

PROTOCOL = "name: noise\ncell: {preset: nmc_21700}\nsteps:\n  - Discharge at 1C for 2 minutes\n"


def _volts(tmp_path, name: str, *args: str) -> tuple[np.ndarray, np.ndarray]:
    """The run's voltages (V): all of them, and the protocol's (before the final observation)."""
    path = tmp_path / "noise.yaml"
    path.write_text(PROTOCOL, encoding="utf-8")
    out = tmp_path / f"{name}.h5"
    assert main(["run", str(path), "--out", str(out), "--no-progress", *args]) == 0
    with RunFile(out) as run:
        samples = run.samples
        start = next(e["time_s"] for e in run.events if e["kind"] == "final_observation_start")
    volts = np.asarray(samples["Voltage / V"], dtype=float)
    return volts, volts[np.asarray(samples["Test Time / s"], dtype=float) < start]


def test_seed_sets_the_noise(tmp_path):
    (whole, default), (zero, _) = _volts(tmp_path, "a"), _volts(tmp_path, "b", "--seed", "0")
    one = _volts(tmp_path, "c", "--seed", "1")[1]
    assert np.array_equal(whole, zero)  # the whole run, final observation included
    assert len(default) >= 120  # the 2-minute discharge at 1 s
    assert default.shape == one.shape and not np.array_equal(default, one)
    assert np.max(np.abs(default - one)) < 0.005  # the same cell, other noise (0.2 mV rms)
