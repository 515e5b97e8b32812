"""Impedance spectra: equivalent-circuit fit and a Kramers-Kronig (Lin-KK) validity check.

Circuit (ohms, seconds, henry)::

    Z(ω) = R0 + jωL + R1 / (1 + (jωτ1)^α1) + R2 / (1 + (jωτ2)^α2) + σ·√2 / √(jω)

R0 ohmic resistance; R1 ∥ CPE1 the charge-transfer arc (the faster one, τ1 < τ2); R2 ∥ CPE2
the slower (SEI / second electrode) arc; a semi-infinite Warburg tail σ (Ω·s^-1/2); the series
inductance L of cell and leads. An R ∥ CPE with CPE admittance Q·(jω)^α equals the form above
with ``τ^α = R·Q``. Fitted with :func:`scipy.optimize.least_squares` on log-parameters, residuals
normalised by |Z| (modulus weighting), several starts; ``fit_rms_pct`` is the RMS of the
normalised real and imaginary residuals in percent.

Kramers-Kronig: the Lin-KK test (Schönleber et al., Electrochim. Acta 131 (2014) 20-27): a
linear least-squares fit of M Voigt RC elements with time constants log-spaced over the measured
band plus R, L and a series capacitance. The share of negative resistances
μ = 1 - Σ|R_k<0| / Σ R_k≥0 falls to 0.85 or below once M over-fits; μ is not monotonic in M, so
every M up to the third over-fitted one in a row is tried and the best fit with μ > 0.85 is used. Residuals above 2 % of |Z| mean the system was not linear,
causal and stationary during the sweep (drift, too large an amplitude, temperature change); a
valid spectrum cut off mid-arc (over range at low frequency) shows up to ~1.5 % at its edge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.runfile.reader import RunFile

#: A spectrum whose largest Lin-KK residual stays below this passes the check, % of |Z|.
KK_LIMIT_PCT = 2.0
#: Fewest valid points a spectrum needs for the circuit fit.
MIN_POINTS = 8
MU_CRITERION = 0.85


@dataclass
class CircuitFit:
    """Fitted circuit values (Ω, s, H, Ω·s^-1/2) and fit quality."""

    r0_ohm: float
    inductance_h: float
    rct_ohm: float
    tau_ct_s: float
    alpha_ct: float
    r2_ohm: float
    tau2_s: float
    alpha2: float
    warburg_sigma: float
    fit_rms_pct: float
    points: int
    at_bounds: list[str]
    #: 1-sigma uncertainty of ``rct_ohm`` from the fit (Jacobian at the optimum, residual variance), Ω.
    rct_sigma_ohm: float = math.nan

    @property
    def cpe_ct_q(self) -> float:
        """CPE coefficient of the charge-transfer arc, F·s^(α-1) (``τ^α / R``)."""
        return self.tau_ct_s ** self.alpha_ct / self.rct_ohm if self.rct_ohm > 0 else math.nan


@dataclass
class KramersKronig:
    """Lin-KK outcome: RC count, μ, residuals (% of |Z|) and the verdict."""

    elements: int
    mu: float
    residual_max_pct: float
    residual_rms_pct: float
    valid: bool


def model_impedance(params: np.ndarray, frequencies_hz: np.ndarray) -> np.ndarray:
    """Z (Ω) of the circuit; ``params`` = [R0, L, R1, τ1, α1, R2, τ2, α2, σ]."""
    r0, ind, r1, t1, a1, r2, t2, a2, sigma = params
    jw = 1j * 2.0 * math.pi * frequencies_hz
    return (r0 + jw * ind + r1 / (1.0 + (jw * t1) ** a1) + r2 / (1.0 + (jw * t2) ** a2)
            + sigma * math.sqrt(2.0) / np.sqrt(jw))


_NAMES = ("r0_ohm", "inductance_h", "rct_ohm", "tau_ct_s", "alpha_ct", "r2_ohm", "tau2_s", "alpha2", "warburg_sigma")


def fit_circuit(frequencies_hz: np.ndarray, z: np.ndarray) -> CircuitFit:
    """Fit the circuit to one spectrum (finite points only); raises ValueError with too few points.

    Two stages: R0 + L + R1∥CPE1 + Warburg first (the dominant in-band arc is the charge-transfer
    arc), then the full circuit started from it with the second arc at several time constants;
    the second arc is kept only when it lowers the cost by more than 30 % (else R2 = 0).
    """
    f, z = _valid(frequencies_hz, z)
    if f.size < MIN_POINTS:
        raise ValueError(f"{f.size} valid points; the circuit fit needs at least {MIN_POINTS}")
    from scipy.optimize import least_squares  # imported here: scipy costs ~0.5 s, only EIS runs need it

    w = 2.0 * math.pi * f
    scale = float(np.median(np.abs(z)))
    tau_lo, tau_hi = 0.1 / w.max(), 10.0 / w.min()
    r0_guess = max(float(np.min(z.real)) * 0.98, 1e-6 * scale)
    high = int(np.argmax(f))
    l_guess = max(float(z.imag[high]) / w[high], 1e-12)
    span = max(float(np.max(z.real)) - r0_guess, 1e-3 * scale)
    peak = float(f[np.argmin(z.imag)])
    t1_guess = float(np.clip(1.0 / (2.0 * math.pi * peak), tau_lo * 1.01, tau_hi * 0.99))
    lower = np.array([math.log(1e-6 * scale), math.log(1e-13), math.log(1e-6 * scale), math.log(tau_lo), 0.5,
                      math.log(1e-6 * scale), math.log(tau_lo), 0.5, math.log(1e-9 * scale)])
    upper = np.array([math.log(10 * scale), math.log(1e-3), math.log(100 * scale), math.log(tau_hi), 1.0,
                      math.log(100 * scale), math.log(tau_hi * 100), 1.0, math.log(10 * scale)])
    # stage A: one arc (x[5:8] frozen at a negligible arc)
    fixed = np.array([math.log(1e-6 * scale) + 1e-6, math.log(tau_lo) + 1e-6, 0.9])
    a_idx = [0, 1, 2, 3, 4, 8]
    best_a = None
    for share in (0.8, 0.4):
        x0 = np.array([math.log(r0_guess), math.log(l_guess), math.log(share * span), math.log(t1_guess), 0.9,
                       math.log(0.05 * span)])
        x0 = np.clip(x0, lower[a_idx] + 1e-9, upper[a_idx] - 1e-9)
        result = least_squares(_residuals_a, x0, jac=_jacobian_a, bounds=(lower[a_idx], upper[a_idx]),
                               args=(fixed, f, z), x_scale="jac", max_nfev=400)
        if best_a is None or result.cost < best_a.cost:
            best_a = result
    assert best_a is not None
    x_a = np.concatenate([best_a.x[:5], fixed, best_a.x[5:]])
    best, best_x = best_a.cost, x_a
    best_result = best_a
    for t2_factor in (10.0, 100.0, 1000.0):
        x0 = x_a.copy()
        x0[5] = math.log(0.3 * math.exp(x_a[2]))
        x0[6] = x_a[3] + math.log(t2_factor)
        x0[7] = 0.9
        x0 = np.clip(x0, lower + 1e-9, upper - 1e-9)
        result = least_squares(_residuals, x0, jac=_jacobian, bounds=(lower, upper), args=(f, z), x_scale="jac",
                               max_nfev=150)
        if result.cost < 0.7 * best_a.cost and result.cost < best:
            best, best_x, best_result = result.cost, result.x, result
    params = _params(best_x)
    rct_index = 2  # log R1 in both stages' parameter vectors
    if best_x is x_a:
        params[5] = 0.0
    elif abs(best_x[6] - x_a[3]) < abs(best_x[3] - x_a[3]):
        # the second arc took the place of stage A's arc: that one is the charge-transfer arc
        params[[2, 3, 4, 5, 6, 7]] = params[[5, 6, 7, 2, 3, 4]]
        rct_index = 5
    rct_sigma = float(params[2]) * _log_sigma(best_result.jac, best_result.fun, rct_index)
    residual = _residuals(best_x, f, z)
    rms_pct = float(np.sqrt(np.mean(residual ** 2)) * 100.0)
    free = [i for i in range(9) if best_x is not x_a or i in a_idx]
    at_bounds = [_NAMES[i] for i in free if best_x[i] <= lower[i] + 1e-6 or best_x[i] >= upper[i] - 1e-6]
    values = dict(zip(_NAMES, (float(v) for v in params), strict=True))
    return CircuitFit(**values, fit_rms_pct=rms_pct, points=int(f.size), at_bounds=at_bounds,
                      rct_sigma_ohm=rct_sigma)


def _log_sigma(jac: np.ndarray, residual: np.ndarray, index: int) -> float:
    """1-sigma of the fitted log-parameter ``index``: covariance (JᵀJ)⁻¹ · s², s² the residual
    variance per degree of freedom (NaN when the problem has no degrees of freedom or J is singular).
    A sigma of a log parameter is that parameter's relative uncertainty."""
    m, n = jac.shape
    if m <= n:
        return math.nan
    s2 = float(residual @ residual) / (m - n)
    try:
        cov = np.linalg.pinv(jac.T @ jac) * s2
    except np.linalg.LinAlgError:
        return math.nan
    return math.sqrt(max(float(cov[index, index]), 0.0))


def _residuals_a(x: np.ndarray, fixed: np.ndarray, f: np.ndarray, z: np.ndarray) -> np.ndarray:
    return _residuals(np.concatenate([x[:5], fixed, x[5:]]), f, z)


def _jacobian_a(x: np.ndarray, fixed: np.ndarray, f: np.ndarray, z: np.ndarray) -> np.ndarray:
    return _jacobian(np.concatenate([x[:5], fixed, x[5:]]), f, z)[:, [0, 1, 2, 3, 4, 8]]


def _jacobian(x: np.ndarray, f: np.ndarray, z: np.ndarray) -> np.ndarray:
    """d residuals / d x (analytic; x holds log R0, log L, log R1, log τ1, α1, ..., log σ)."""
    r0, ind, r1, t1, a1, r2, t2, a2, sigma = _params(x)
    jw = 1j * 2.0 * math.pi * f
    columns = [np.full(f.shape, r0, dtype=complex), jw * ind]
    for r, t, a in ((r1, t1, a1), (r2, t2, a2)):
        u = (jw * t) ** a
        denominator = (1.0 + u) ** 2
        columns += [r / (1.0 + u), -r * a * u / denominator, -r * u * np.log(jw * t) / denominator]
    columns.append(sigma * math.sqrt(2.0) / np.sqrt(jw))
    d = np.column_stack(columns) / np.abs(z)[:, None]
    return np.vstack([d.real, d.imag])


def _params(x: np.ndarray) -> np.ndarray:
    p = np.exp(x)
    p[4], p[7] = x[4], x[7]
    return p


def _residuals(x: np.ndarray, f: np.ndarray, z: np.ndarray) -> np.ndarray:
    diff = (model_impedance(_params(x), f) - z) / np.abs(z)
    return np.concatenate([diff.real, diff.imag])


def _valid(frequencies_hz: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(frequencies_hz, dtype=float)
    z = np.asarray(z, dtype=complex)
    keep = np.isfinite(f) & np.isfinite(z.real) & np.isfinite(z.imag) & (f > 0) & (np.abs(z) > 0)
    return f[keep], z[keep]


def lin_kk(frequencies_hz: np.ndarray, z: np.ndarray, *, limit_pct: float = KK_LIMIT_PCT) -> KramersKronig:
    """Lin-KK test of one spectrum (finite points only)."""
    f, z = _valid(frequencies_hz, z)
    if f.size < 4:
        raise ValueError(f"{f.size} valid points; the Kramers-Kronig test needs at least 4")
    w = 2.0 * math.pi * f
    weight = 1.0 / np.abs(z)
    best: tuple[float, int, float, np.ndarray] | None = None
    overfitted = 0
    for m in range(1, max(1, min(f.size - 3, 50)) + 1):
        taus = np.array([1.0 / w.max()]) if m == 1 else np.geomspace(1.0 / w.max(), 1.0 / w.min(), m)
        fit, rc = _kk_fit(w, z, weight, taus)
        positive = rc[rc >= 0].sum()
        mu = 1.0 - abs(rc[rc < 0].sum()) / positive if positive > 0 else 0.0
        if mu <= MU_CRITERION:
            overfitted += 1
            if overfitted >= 3 and best is not None:
                break
            continue
        overfitted = 0
        res = (z - fit) / np.abs(z)
        worst = float(max(np.max(np.abs(res.real)), np.max(np.abs(res.imag))))
        if best is None or worst < best[0]:
            best = (worst, m, float(mu), fit)
    if best is None:
        raise ValueError(f"Lin-KK: every RC count over-fits (mu <= {MU_CRITERION:.2f})")
    _worst, m, mu, fit = best
    res = (z - fit) / np.abs(z)
    both = np.concatenate([res.real, res.imag]) * 100.0
    max_pct = float(np.max(np.abs(both)))
    return KramersKronig(elements=m, mu=mu, residual_max_pct=max_pct,
                         residual_rms_pct=float(np.sqrt(np.mean(both ** 2))), valid=max_pct <= limit_pct)


def _kk_fit(w: np.ndarray, z: np.ndarray, weight: np.ndarray, taus: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted linear fit of R + jωL + 1/(jωC) + Σ R_k/(1+jωτ_k); returns (fitted Z, R_k)."""
    basis = 1.0 / (1.0 + 1j * np.outer(w, taus))
    columns = np.column_stack([np.ones_like(w, dtype=complex), 1j * w, -1j / w, basis])
    a = np.vstack([columns.real * weight[:, None], columns.imag * weight[:, None]])
    b = np.concatenate([z.real * weight, z.imag * weight])
    coef, *_ = np.linalg.lstsq(a, b, rcond=None)
    return columns @ coef, coef[3:]


def spectra(run: RunFile) -> list[dict[str, Any]]:
    """Every stored spectrum: its ``eis/spectra`` row plus ``frequencies_hz`` and complex ``z_ohm``."""
    rows = run.table("eis/spectra")
    points = run.table("eis/points")
    out = []
    for row in rows:
        mine = points[points["spectrum"] == row["spectrum"]]
        record = {name: _plain(row[name]) for name in rows.dtype.names or ()}
        record["frequencies_hz"] = np.asarray(mine["Frequency / Hz"], dtype=float)
        record["z_ohm"] = np.asarray(mine["Z Real / Ohm"], dtype=float) + 1j * np.asarray(mine["Z Imaginary / Ohm"],
                                                                                           dtype=float)
        out.append(record)
    return out


def analyse_spectrum(frequencies_hz: np.ndarray, z: np.ndarray) -> dict[str, Any]:
    """Fit + Kramers-Kronig of one spectrum as a flat dict of rounded numbers (or the reason why not)."""
    out: dict[str, Any] = {"points": int(np.size(z)), "valid_points": int(_valid(frequencies_hz, z)[0].size)}
    try:
        fit = fit_circuit(frequencies_hz, z)
    except ValueError as exc:
        out["fit_error"] = str(exc)
    else:
        out.update({
            "r0_ohm": _round(fit.r0_ohm), "rct_ohm": _round(fit.rct_ohm), "rct_sigma_ohm": _round(fit.rct_sigma_ohm),
            "tau_ct_s": _round(fit.tau_ct_s),
            "alpha_ct": round(fit.alpha_ct, 3), "cpe_ct_q": _round(fit.cpe_ct_q), "r2_ohm": _round(fit.r2_ohm),
            "tau2_s": _round(fit.tau2_s), "alpha2": round(fit.alpha2, 3), "warburg_sigma": _round(fit.warburg_sigma),
            "inductance_h": _round(fit.inductance_h), "fit_rms_pct": round(fit.fit_rms_pct, 4),
        })
        if fit.at_bounds:
            out["fit_at_bounds"] = fit.at_bounds
    try:
        kk = lin_kk(frequencies_hz, z)
    except ValueError as exc:
        out["kk_error"] = str(exc)
    else:
        out.update({"kk_residual_max_pct": round(kk.residual_max_pct, 4),
                    "kk_residual_rms_pct": round(kk.residual_rms_pct, 4),
                    "kk_elements": kk.elements, "kk_valid": kk.valid})
    return out


def eis_summary(run: RunFile) -> list[dict[str, Any]]:
    """One analysed entry per stored spectrum, with the conditions it was measured under."""
    out = []
    for record in spectra(run):
        f = record["frequencies_hz"]
        valid_f = f[np.isfinite(record["z_ohm"].real)]
        entry = {
            "spectrum": record["spectrum"], "time_s": round(record["time_s"], 1), "cycle": record["cycle"],
            "temperature_c": round(record["temperature_c"], 2), "soc": round(record["soc"], 4),
            "amplitude": record["amplitude"], "mode": record["mode"],
            "frequency_max_hz": float(valid_f.max()) if valid_f.size else None,
            "frequency_min_hz": float(valid_f.min()) if valid_f.size else None,
        }
        entry.update(analyse_spectrum(f, record["z_ohm"]))
        out.append(entry)
    return out


def eis_analysis(run: RunFile) -> tuple[dict[str, Any], dict[str, Any]]:
    """``analysis: eis``: the last fitted spectrum's R0 / Rct / fit quality as headline metrics (every
    spectrum is in the report's ``eis`` section)."""
    summary = eis_summary(run)
    metrics: dict[str, Any] = {"eis_spectra": len(summary)}
    fitted = [s for s in summary if "r0_ohm" in s]
    if fitted:
        last = fitted[-1]
        metrics.update({"eis_r0_ohm": last["r0_ohm"], "eis_rct_ohm": last["rct_ohm"],
                        "eis_fit_rms_pct": last["fit_rms_pct"]})
        if "kk_residual_max_pct" in last:
            metrics["eis_kk_residual_max_pct"] = last["kk_residual_max_pct"]
    conditions = {"eis_circuit": "R0 + L + R1||CPE1 + R2||CPE2 + Warburg (least squares, |Z| weighting)",
                  "eis_kk_test": f"Lin-KK, mu <= {MU_CRITERION}, valid when residuals <= {KK_LIMIT_PCT} % of |Z|"}
    return metrics, conditions


def _round(value: float, digits: int = 6) -> float:
    if not math.isfinite(value) or value == 0:
        return value
    return float(f"{value:.{digits}g}")


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


__all__ = ["CircuitFit", "KramersKronig", "analyse_spectrum", "eis_analysis", "eis_summary", "fit_circuit",
           "lin_kk", "model_impedance", "spectra"]
