"""The current that holds a terminal voltage over a whole step (a cycler's CV loop, implicit).

A cycler in constant-voltage mode regulates its current continuously; the simulated world holds
each current for one physics step (0.1-10 s). Choosing that current from the present state alone,
``I = (V - E)/R0`` (what :meth:`CellModel.current_for_voltage_a` returns for a zero-length step),
is an explicit update: when the charge-transfer or film resistance that responds within the step
exceeds ``R0`` (a cold cell), the voltage at the end of the step overshoots, the next current
undershoots and the hold oscillates. Here the current is the one whose **end-of-step** terminal
voltage is the held voltage, with every element advanced exactly as
:meth:`CellModel._advance` advances it (exact exponentials for a held current, surface SOC,
coulomb count): an implicit (backward) step on the voltage constraint, stable for any step and
decaying monotonically as the polarisations relax.

The end voltage is strictly increasing in the current (every steady state grows with I), so a
secant iteration from the explicit estimate converges in a few evaluations. Only the CV hold pays
for it: a constant-current sample never calls it. Units: A, V, s; current + = charge.
"""

from __future__ import annotations

import math
from math import asinh, exp
from typing import Any

#: Numerical guard on the electrolyte depletion ``|z|`` (model.py): the crowding factor
#: ``1/(1 - |z|)`` stays finite (<= 1000) once the electrolyte is empty. Past ``I_lim`` the
#: depletion reaches 1 only in a finite (Sand) time and the terminal voltage crosses any cut-off
#: before that: ``clamp_report`` measures the guard's active time in every calibration case (0).
ZE_MAX = 0.999


def crowding_at_step_end(cell: CellVoltageHold, current_a: float, ez: float) -> float:
    """The electrolyte crowding ``1/(1 - |z|)`` a step of ``current_a`` (A, terminal) ends with,
    ``ez`` = exp(-h / tau_e): the depletion relaxed toward the load over I_lim, guarded at
    ZE_MAX (CellModel._advance inlines the same on its hot path)."""
    if cell._ilim <= 0.0:
        return 1.0
    zs = (current_a * cell._lim_c if current_a >= 0.0 else current_a) / cell._ilim
    ze = zs + (cell._ze - zs) * ez
    az = ze if ze >= 0.0 else -ze
    return 1.0 / (1.0 - (az if az < ZE_MAX else ZE_MAX))

#: The iteration stops when the end voltage is this close to the held voltage, V (a tenth of the
#: simulated voltage noise).
TOLERANCE_V = 2e-6
#: Most secant iterations (each one evaluation of the end voltage); 4-6 are usual.
MAX_ITERATIONS = 30


class CellVoltageHold:
    """Mixin for :class:`~sim_instruments.cell.model.CellModel` (which owns the attributes): the
    state and present parameters the end-of-step voltage is computed from."""

    _advance_k: tuple[Any, ...]
    _decay_k: tuple[float, ...]
    _b: float
    _rct: float
    _r0: float
    _r2: float
    _r3: float
    _r4: float
    _ilim: float
    _taud: float
    _soc: float
    _delta: float
    _v1: float
    _v2: float
    _v3: float
    _ze: float
    _a_g: float
    _lim_c: float
    _v4: float
    _vpl: float
    _e: float
    _cv_slope: float
    _tc: float
    _param_tc: float

    def _refresh(self) -> None:  # pragma: no cover - the model's
        raise NotImplementedError

    def _decay_constants(self, h: float) -> tuple[float, ...]:  # pragma: no cover - the model's
        raise NotImplementedError

    def _ocv(self, soc: float) -> float:  # pragma: no cover - the model's
        raise NotImplementedError


def end_voltage_v(cell: CellVoltageHold, h: float, current_a: float) -> float:
    """Terminal voltage after ``h`` s with ``current_a`` held (no internal short), from the present
    state and parameters; the state is unchanged. Same expressions as ``CellModel._advance``
    (tests/sim_instruments/test_cv_hold.py checks it against a real step)."""
    (cap_as, gain, gain_charge, r4_charge, r_charge_high, r_charge_width, inv_i_ref,
     _, r2_charge) = cell._advance_k[:9]
    dk = cell._decay_k
    if dk[0] != h:
        dk = cell._decay_constants(h)
    _, e1, e2, e3, ed, _, ez = dk
    i = current_a
    crowd = crowding_at_step_end(cell, i, ez)
    b = cell._b
    g1 = b * asinh(i * crowd * cell._rct / b)
    v1 = g1 + (cell._v1 - g1) * e1
    g2 = cell._r2 * i
    if i > 0.0:
        g2 *= r2_charge + r_charge_high * exp((cell._soc - 1.0) / r_charge_width) * (i * inv_i_ref)
    v2 = g2 + (cell._v2 - g2) * e2
    g3 = cell._r3 * i * crowd
    v3 = g3 + (cell._v3 - g3) * e3
    dss = gain * cell._a_g * cell._taud * i * crowd / cap_as
    g4 = cell._r4 * i
    if i > 0.0:
        dss *= gain_charge
        g4 *= r4_charge
    delta = dss + (cell._delta - dss) * ed
    v4 = g4 + (cell._v4 - g4) * ed
    soc = cell._soc + i * h / cap_as
    return cell._ocv(soc + delta) + v1 + v2 + v3 + v4 + cell._vpl + cell._r0 * i


def current_for_voltage_over_step(cell: CellVoltageHold, voltage_v: float, h: float) -> float:
    """External current (A, + = charge) that, held for ``h`` s, leaves ``voltage_v`` at the
    terminals at the end of the step (no internal short: the caller handles that case).

    Secant iteration from the explicit estimate, the first step along the slope dV_end/dI of the
    last solve (``cell._cv_slope``; cold start: the small-signal resistance seen over the step),
    so a hold usually needs two evaluations a step; bisection whenever a secant step leaves the
    bracket. The parameters are first recomputed at the present temperature and SOC (the cell
    otherwise follows them in steps of 0.02 K / 0.05 %): a held voltage then never sees a
    parameter step, and its current decays monotonically."""
    cell._param_tc = math.nan
    cell._refresh()
    i0 = (voltage_v - cell._e) / cell._r0  # the explicit (instantaneous) estimate
    f0 = end_voltage_v(cell, h, i0) - voltage_v
    if -TOLERANCE_V < f0 < TOLERANCE_V:
        return i0
    slope = cell._cv_slope
    if not slope > 0.0:
        _, e1, e2, e3, ed, _, _ = cell._decay_k
        slope = (cell._r0 + cell._rct * (1.0 - e1) + cell._r2 * (1.0 - e2) + cell._r3 * (1.0 - e3)
                 + cell._r4 * (1.0 - ed))
    i1 = i0 - f0 / slope
    f1 = end_voltage_v(cell, h, i1) - voltage_v
    bracketed = (f0 < 0.0) != (f1 < 0.0)
    lo, hi = (i0, i1) if f0 < 0.0 else (i1, i0)
    for _ in range(MAX_ITERATIONS):
        if -TOLERANCE_V < f1 < TOLERANCE_V or f1 == f0:
            break
        i2 = i1 - f1 * (i1 - i0) / (f1 - f0)
        if bracketed and not lo < i2 < hi:
            i2 = 0.5 * (lo + hi)  # a secant step out of the bracket: bisect instead
        i0, f0 = i1, f1
        i1 = i2
        f1 = end_voltage_v(cell, h, i1) - voltage_v
        if bracketed:
            if f1 < 0.0:
                lo = i1
            else:
                hi = i1
        elif (f0 < 0.0) != (f1 < 0.0):
            bracketed = True
            lo, hi = (i0, i1) if f0 < 0.0 else (i1, i0)
    if f1 != f0 and i1 != i0:
        cell._cv_slope = (f1 - f0) / (i1 - i0)
    return i1
