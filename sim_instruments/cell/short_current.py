"""The internal short's current over one physics step, solved semi-implicitly: a mixin of
:class:`~sim_instruments.cell.model.CellModel` (it reads the cell's parameters and state).

With a short of ``R_s`` across the cell, ``I_cell = I_terminal - V/R_s``. Taken explicitly (the
polarisation of the step before), a depleted electrolyte (crowding up to 1/(1 - ZE_MAX) = 1000)
swung the short's current past zero every step: a shorted empty cell recharged itself and the heat
diverged (NaN). Here each element's end-of-step response to the cell current enters the solution.
Units: V, A, Ω, s.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from typing import Any

from sim_instruments.cell.voltage_hold import crowding_at_step_end

#: SOC span below 0 over which the over-discharged cell's OCV ramps to 0 V (model.py's).
OVERDISCHARGE_SPAN = 0.03


class ShortCurrent:
    """``_short_voltage_v``: the terminal voltage over a step with an internal short."""

    preset: Any
    _ze: float
    _ilim: float
    _lim_c: float
    _soc: float
    _delta: float
    _ocv_x: Any
    _ocv_y: Any
    _ocv_slope: Any
    _ocv_last: int
    _a_g: float
    _taud: float
    _cap_as: float
    _b: float
    _v1: float
    _v2: float
    _v3: float
    _v4: float
    _e: float
    _r0: float
    _rct: float
    _r2: float
    _r3: float
    _r4: float
    _rs: float | None

    def _short_voltage_v(self, current_a: float, e1: float, e2: float, e3: float, ed: float,
                         ez: float) -> float:
        """Terminal voltage (V) over a step with an internal short and ``current_a`` (A) at the
        terminals: :meth:`_short_voltage_at` with the crowding the step ends with (the depletion
        follows the terminal current, see :meth:`_advance`; ``e*`` the step's decays)."""
        crowd = crowding_at_step_end(self, current_a, ez)  # type: ignore[arg-type]  # a mixin of the same cell
        return self._short_voltage_at(current_a, crowd, e1, e2, e3, ed)

    def _short_voltage_at(self, current_a: float, crowd: float, e1: float, e2: float, e3: float,
                          ed: float) -> float:
        """Terminal voltage (V) over a step with an internal short, the short's current taken
        semi-implicitly: each slow element's end-of-step value responds linearly to the cell
        current (``v_new = v·e + R·(1 - e)·I``; the surface-SOC lag through the OCV's local slope;
        the Butler-Volmer element linearised at its present state, slope ``crowd·Rct/cosh(v1/b)``),
        so the short sees the crowded polarisation it is about to build, not the last step's.
        Explicitly (R0 alone), a depleted electrolyte (crowding up to 1/(1 - ZE_MAX)) swung the
        short's current past zero every step: the cell recharged itself and the heat diverged.
        ``crowd``: the crowding the step ends with (the caller predicts it from this current).
        (Discharge-direction values: a short drains the cell. Off the no-short hot path.)"""
        x = self._soc + self._delta
        if x <= 0.0:
            slope = self._ocv_y[0] / OVERDISCHARGE_SPAN if x > -OVERDISCHARGE_SPAN else 0.0
        else:
            i = bisect_right(self._ocv_x, x) - 1
            slope = self._ocv_slope[i if i <= self._ocv_last else self._ocv_last]
        g_delta = (self.preset.diffusion_gain * self._a_g * self._taud * crowd / self._cap_as) * slope
        b = self._b
        u1 = self._v1 / b
        r = (self._r0 + crowd * self._rct / math.cosh(u1) * (1.0 - e1) + self._r2 * (1.0 - e2)
             + self._r3 * crowd * (1.0 - e3) + (self._r4 + g_delta) * (1.0 - ed))
        e0 = (self._e - b * math.tanh(u1) * (1.0 - e1) - self._v2 * (1.0 - e2) - self._v3 * (1.0 - e3)
              - (self._v4 + slope * self._delta) * (1.0 - ed))
        return (e0 + r * current_a) / (1.0 + r / self._rs)
