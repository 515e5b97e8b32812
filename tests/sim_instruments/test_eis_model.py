"""Tests of the impedance model (sim_instruments.cell.impedance_spectrum) and its link to the cell state."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.linalg import lstsq

from sim_instruments.cell import CellModel, get_preset
from sim_instruments.cell.impedance_spectrum import impedance_ohm, warburg_sigma_for

FREQS = np.logspace(-2, 4, 61)  # 10 mHz .. 10 kHz, 10 per decade, like a typical sweep


def lin_kk_residuals(freqs: np.ndarray, z: np.ndarray, per_decade: int = 6) -> np.ndarray:
    """Lin-KK test (Schönleber et al. 2014 idea): fit R0 + jωL + 1/(jωC) + Σ R_k/(1 + jωτ_k) with
    fixed log-spaced τ_k by linear least squares; return |Z_fit - Z| / |Z| per frequency."""
    w = 2.0 * math.pi * freqs
    tmin, tmax = 1.0 / w.max(), 1.0 / w.min()
    m = int(round(math.log10(tmax / tmin) * per_decade)) + 1
    taus = np.logspace(math.log10(tmin), math.log10(tmax), m)
    cols = [np.ones_like(w, dtype=complex), 1j * w, 1.0 / (1j * w)]
    cols += [1.0 / (1.0 + 1j * w * t) for t in taus]
    a = np.stack(cols, axis=1)
    weight = 1.0 / np.abs(z)
    a_ri = np.concatenate([(a.real.T * weight).T, (a.imag.T * weight).T])
    b_ri = np.concatenate([z.real * weight, z.imag * weight])
    coef, *_ = lstsq(a_ri, b_ri)
    return np.abs(a @ coef - z) / np.abs(z)


# ----------------------------------------------------------------------------- elements
def test_ideal_rc_matches_the_analytic_impedance() -> None:
    z = impedance_ohm(FREQS, 0.01, [(0.02, 0.1, 1.0)])
    w = 2 * np.pi * FREQS
    np.testing.assert_allclose(z, 0.01 + 0.02 / (1 + 1j * w * 0.1), rtol=1e-12)


def test_semi_infinite_warburg_is_a_45_degree_line() -> None:
    z = impedance_ohm(FREQS, 0.0, [], warburg_sigma=0.01)
    np.testing.assert_allclose(np.angle(z, deg=True), -45.0, atol=1e-9)
    ratio = np.abs(z[0]) / np.abs(z[-1])
    assert ratio == pytest.approx(math.sqrt(FREQS[-1] / FREQS[0]), rel=1e-9)


def test_bounded_warburg_has_its_dc_resistance() -> None:
    sigma = warburg_sigma_for(0.03, 100.0)
    z = impedance_ohm(np.array([1e-7, 100.0]), 0.0, [], sigma, warburg_tau_s=100.0)
    assert z[0].real == pytest.approx(0.03, rel=1e-4)
    # at high frequency it joins the semi-infinite line
    z_inf = impedance_ohm(np.array([100.0]), 0.0, [], sigma)
    assert z[1] == pytest.approx(z_inf[0], rel=1e-6)


def test_inductance_and_capacitance_dominate_the_extremes() -> None:
    z = impedance_ohm(np.array([1e-4, 1e5]), 0.01, [], capacitance_f=1000.0, inductance_h=1e-6)
    assert z[0].imag < 0 and z[1].imag > 0
    assert z[1].imag == pytest.approx(2 * math.pi * 1e5 * 1e-6)


def test_rejects_non_positive_frequencies() -> None:
    with pytest.raises(ValueError):
        impedance_ohm(np.array([0.0, 1.0]), 0.01, [])


# ----------------------------------------------------------------------------- cell spectra
def test_cell_spectrum_limits_agree_with_the_dc_model() -> None:
    cell = CellModel(get_preset("nmc_21700"), soc=0.5)
    hf = cell.impedance_ohm(np.array([3000.0]))[0]
    assert hf.real == pytest.approx(cell.resistance_ohm(), rel=0.05)
    lf = cell.impedance_ohm(np.array([1e-7]))[0]
    assert lf.real == pytest.approx(cell.dc_resistance_ohm(1e7, current_a=0.0), rel=0.01)
    # the capacitive tail is the cell's own charge capacity: C = dQ/dOCV
    assert lf.imag < 0.0


@pytest.mark.parametrize(
    ("temperature_c", "soc"), [(25.0, 0.5), (-20.0, 0.5), (25.0, 0.08), (45.0, 0.9)]
)
def test_cell_spectrum_is_kramers_kronig_consistent(temperature_c: float, soc: float) -> None:
    cell = CellModel(get_preset("nmc_21700"), soc=soc, temperature_c=temperature_c)
    z = cell.impedance_ohm(FREQS)
    assert np.max(lin_kk_residuals(FREQS, z)) < 0.01


def test_lin_kk_flags_a_non_causal_spectrum() -> None:
    cell = CellModel(get_preset("nmc_21700"), soc=0.5)
    z = cell.impedance_ohm(FREQS)
    drifted = z * (1.0 + 0.2 * np.linspace(0.0, 1.0, FREQS.size) ** 2)  # drift during the sweep
    drifted = drifted.real + 1j * z.imag
    assert np.max(lin_kk_residuals(FREQS, drifted)) > 0.01


def test_cold_charge_transfer_arc_is_much_bigger_and_slower() -> None:
    p = get_preset("nmc_21700")
    warm, cold = CellModel(p, soc=0.5, temperature_c=25.0), CellModel(p, soc=0.5, temperature_c=-20.0)
    f = np.logspace(-1, 4, 300)
    zw, zc = warm.impedance_ohm(f), cold.impedance_ohm(f)
    arc_w = zw.real[np.argmin(np.abs(f - 0.1))] - zw.real.min()
    arc_c = zc.real[np.argmin(np.abs(f - 0.1))] - zc.real.min()
    assert arc_c > 5.0 * arc_w
    # the arc's apex (most negative imaginary part above 1 Hz) moves to lower frequency
    hi = f > 1.0
    assert f[hi][np.argmin(zc.imag[hi])] < f[hi][np.argmin(zw.imag[hi])]


def test_spectrum_follows_soc_and_the_cell_state() -> None:
    p = get_preset("nmc_21700")
    mid, low = CellModel(p, soc=0.5), CellModel(p, soc=0.03)
    f = np.array([0.1])
    assert low.impedance_ohm(f)[0].real > 1.2 * mid.impedance_ohm(f)[0].real
    before = mid.impedance_ohm(f)[0]
    for _ in range(600):
        mid.step(1.0, -5.0, -10.0)  # discharge in a cold chamber: cools and drains the cell
    assert mid.impedance_ohm(f)[0].real != before.real
