"""Plating detection on synthetic terminal-voltage traces (no simulator needed)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.analysis.plating import dvdq_signature, relaxation_plateau


def _relaxation(t: np.ndarray, *, strip_s: float | None = None, plateau_v: float = 0.015,
                noise_v: float = 0.0002, seed: int = 0) -> np.ndarray:
    """Rest voltage after a charge: two exponentials; with plating a stripping plateau that holds
    the voltage ``plateau_v`` higher until ``strip_s`` and then releases it over ~60 s."""
    rng = np.random.default_rng(seed)
    v = 4.10 - 0.03 * (1 - np.exp(-t / 60.0)) - 0.02 * (1 - np.exp(-t / 900.0))
    if strip_s is not None:
        v = v + plateau_v / (1.0 + np.exp((t - strip_s) / 40.0))
    return v + rng.normal(0.0, noise_v, t.size)


@pytest.mark.parametrize("seed", range(8))
def test_plain_relaxation_is_not_flagged(seed: int) -> None:
    t = np.arange(0.0, 1800.0, 10.0)
    result = relaxation_plateau(t, _relaxation(t, seed=seed))
    assert result["tested"] and not result["found"], result


@pytest.mark.parametrize("seed", range(8))
def test_stripping_plateau_is_flagged(seed: int) -> None:
    t = np.arange(0.0, 1800.0, 10.0)
    result = relaxation_plateau(t, _relaxation(t, strip_s=500.0, seed=seed))
    assert result["found"], result
    assert 300.0 <= result["at_s"] <= 900.0


def test_short_rest_is_not_tested() -> None:
    t = np.arange(0.0, 60.0, 10.0)
    result = relaxation_plateau(t, _relaxation(t))
    assert not result["tested"] and not result["found"]


def test_dvdq_stripping_plateau_against_the_runs_other_discharges() -> None:
    q = np.linspace(0.0, 1.5, 400)  # Ah of a 5 Ah cell
    rng = np.random.default_rng(1)
    base = 4.05 - 0.12 * q - 0.05 * (1 - np.exp(-q / 0.05))  # OCV features of its own: not plating

    def noisy(v: np.ndarray) -> np.ndarray:
        return v + rng.normal(0, 0.0002, q.size)

    baseline = [(q, noisy(base)) for _ in range(4)]
    assert not dvdq_signature(q, noisy(base), baseline, 5.0)["found"]
    stripped = noisy(base + 0.02 / (1.0 + np.exp((q - 0.4) / 0.03)))
    found = dvdq_signature(q, stripped, baseline, 5.0)
    assert found["found"] and found["excess_v"] > 0.01 and found["at_ah"] < 0.5, found
    assert not dvdq_signature(q, stripped, baseline[:1], 5.0)["tested"]  # needs two others to compare


def test_quantised_readback_is_not_tested() -> None:
    t = np.arange(0.0, 1800.0, 10.0)
    coarse = np.round(_relaxation(t, noise_v=0.0) / 0.01) * 0.01  # a 10 mV readback
    result = relaxation_plateau(t, coarse)
    assert not result["tested"] and "10 mV" in result["reason"]
