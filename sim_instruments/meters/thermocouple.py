"""Type-K thermocouple EMF after the NIST ITS-90 reference function (NIST Monograph 175,
"Temperature-Electromotive Force Reference Functions and Tables for the Letter-Designated
Thermocouple Types Based on the ITS-90", type K: -270..0 °C and 0..1372 °C), and its inverse.

A DAQ970A reading a thermocouple measures the EMF of the loop between the hot junction (the cell)
and the reference junction (the terminal block); it converts that voltage to temperature with the
reference junction's temperature (measured, fixed or external). Units: °C and volts.
"""

from __future__ import annotations

import math

#: E(t) in mV for -270 <= t < 0 °C.
_NEGATIVE = (0.0, 0.394501280250e-01, 0.236223735980e-04, -0.328589067840e-06, -0.499048287770e-08,
             -0.675090591730e-10, -0.574103274280e-12, -0.310888728940e-14, -0.104516093650e-16,
             -0.198892668780e-19, -0.163226974860e-22)
#: E(t) in mV for 0 <= t <= 1372 °C, plus a0 * exp(a1 * (t - a2)^2).
_POSITIVE = (-0.176004136860e-01, 0.389212049750e-01, 0.185587700320e-04, -0.994575928740e-07,
             0.318409457190e-09, -0.560728448890e-12, 0.560750590590e-15, -0.320207200030e-18,
             0.971511471520e-22, -0.121047212750e-25)
_A0, _A1, _A2 = 0.118597600000e+00, -0.118343200000e-03, 0.126968600000e+03
T_MIN_C, T_MAX_C = -270.0, 1372.0


def _poly(coefficients: tuple[float, ...], t: float) -> float:
    total = 0.0
    for c in reversed(coefficients):
        total = total * t + c
    return total


def type_k_emf_v(t_c: float) -> float:
    """EMF of a type-K thermocouple with its reference junction at 0 °C, volts (t clipped to the
    function's range -270..1372 °C)."""
    t = min(max(t_c, T_MIN_C), T_MAX_C)
    if t < 0.0:
        return _poly(_NEGATIVE, t) * 1e-3
    return (_poly(_POSITIVE, t) + _A0 * math.exp(_A1 * (t - _A2) ** 2)) * 1e-3


def type_k_temperature_c(emf_v: float) -> float:
    """Inverse of :func:`type_k_emf_v`: the temperature giving ``emf_v`` volts, °C (Newton's method
    on the reference function; the Seebeck coefficient is >= 15 µV/K over -200..1372 °C)."""
    t = emf_v / 41e-6  # start from the 41 µV/K slope near room temperature
    for _ in range(20):
        t = min(max(t, T_MIN_C), T_MAX_C)
        error = type_k_emf_v(t) - emf_v
        slope = (type_k_emf_v(t + 0.01) - type_k_emf_v(t - 0.01)) / 0.02
        step = error / max(slope, 1e-6)
        t -= step
        if abs(step) < 1e-6:
            break
    return t
