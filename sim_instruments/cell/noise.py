"""Measurement noise shared by the cell models: what a voltmeter and a thermocouple read."""

from __future__ import annotations

import random


class MeasurementNoise:
    """Seeded Gaussian noise on the terminal voltage and the surface temperature.

    The cell model provides ``terminal_voltage_v(current_a)``, the surface temperature ``_ts``
    (°C), a ``random.Random`` ``_rng`` and the noise settings ``_v_noise`` (V), ``_t_noise`` (K)
    and ``_t_offset`` (K).
    """

    _rng: random.Random
    _ts: float
    _v_noise: float
    _t_noise: float
    _t_offset: float

    def terminal_voltage_v(self, current_a: float) -> float:  # pragma: no cover - the model's
        raise NotImplementedError

    def measured_voltage_v(self, current_a: float) -> float:
        """Terminal voltage plus Gaussian measurement noise (seeded), V."""
        return self.terminal_voltage_v(current_a) + self._rng.gauss(0.0, self._v_noise)

    def measured_temperature_c(self) -> float:
        """Surface temperature plus thermocouple offset and Gaussian noise, °C."""
        return self._ts + self._t_offset + self._rng.gauss(0.0, self._t_noise)

    def set_thermocouple_noise(self, sigma_k: float, offset_k: float = 0.0) -> None:
        """Set the thermocouple noise (1 sigma, K) and a fixed calibration offset (K)."""
        self._t_noise = float(sigma_k)
        self._t_offset = float(offset_k)

    def set_voltage_noise(self, sigma_v: float) -> None:
        """Set the voltage measurement noise (1 sigma), V."""
        self._v_noise = float(sigma_v)
