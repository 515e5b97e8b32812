"""Measurement noise shared by the cell models: what a voltmeter and a thermocouple read.

Speed: ``random.gauss`` costs ~1.5 µs a call and every sample draws two variates, so the standard
normals are drawn in blocks of :data:`BLOCK` with numpy from the *same* Mersenne Twister state as
the cell's ``random.Random`` (its state is copied into a numpy ``MT19937``, and written back after
the block). numpy's ``Generator.random`` builds each double from two 32-bit MT outputs exactly as
``random.random`` does, and the block applies ``random.gauss``'s Box-Muller formula (cosine
variate first, then the cached sine variate), so the variates are the ones ``random.gauss`` would
have returned, in the same order: runs stay deterministic per seed and the noise statistics are
unchanged. (Bit-identical where numpy's float64 log/sin/cos round as the C library's do, e.g.
x86-64 without AVX-512; elsewhere they may differ in the last bit.) A block already drawn is
discarded whenever ``_rng`` is assigned (re-seeding); a Random subclass without a Mersenne Twister
state falls back to calling its ``gauss``.
"""

from __future__ import annotations

import itertools
import math
import random
import threading
from collections.abc import Iterator
from typing import Any

#: Standard normal variates drawn per refill (even: Box-Muller makes them in pairs). A refill
#: costs ~0.8 ms here (~95 ns a variate) against ~1.2 µs a variate for ``random.gauss``.
BLOCK = 8192
_TWO_PI = 2.0 * math.pi  # random.TWOPI
#: Serialises refills (they share one numpy bit generator), so two threads never draw the same
#: block from one generator state.
_refill_lock = threading.Lock()
#: An exhausted iterator: ``next()`` on it raises StopIteration, which triggers the first refill.
_EMPTY: Iterator[float] = iter(())
_bitgen: Any = None  # numpy MT19937, created on first use (seeding a new one costs ~0.3 ms)


def standard_normal_block(rng: random.Random, n: int = BLOCK) -> list[float]:
    """The next ``n`` (even) values ``rng.gauss(0.0, 1.0)`` would return, advancing ``rng`` past
    the uniforms used (see the module docstring). A pending cached ``gauss`` variate comes first.
    Call with ``_refill_lock`` held."""
    global _bitgen
    if type(rng) is not random.Random:
        return [rng.gauss(0.0, 1.0) for _ in range(n)]
    import numpy as np

    if _bitgen is None:
        _bitgen = np.random.MT19937(0)
    bitgen = _bitgen
    version, internal, cached = rng.getstate()
    bitgen.state = {"bit_generator": "MT19937",
                    "state": {"key": np.array(internal[:-1], dtype=np.uint32), "pos": internal[-1]}}
    u = np.random.Generator(bitgen).random(n)
    # random.gauss: x2pi = random() * TWOPI; g2rad = sqrt(-2 log(1 - random())); z = cos·g2rad,
    # and the next call returns the cached sin·g2rad.
    x2pi = u[0::2] * _TWO_PI
    g2rad = np.sqrt(-2.0 * np.log(1.0 - u[1::2]))
    z = np.empty(n)
    z[0::2] = np.cos(x2pi) * g2rad
    z[1::2] = np.sin(x2pi) * g2rad
    state = bitgen.state["state"]
    rng.setstate((version, (*state["key"].tolist(), int(state["pos"])), None))
    values = z.tolist()
    if cached is not None:
        values.insert(0, cached)
    return values


class MeasurementNoise:
    """Seeded Gaussian noise on the terminal voltage and the surface temperature.

    The cell model provides ``terminal_voltage_v(current_a)``, the surface temperature ``_ts``
    (°C), a ``random.Random`` ``_rng`` and the noise settings ``_v_noise`` (V), ``_t_noise`` (K)
    and ``_t_offset`` (K).
    """

    _ts: float
    _v_noise: float
    _t_noise: float
    _t_offset: float
    #: Standard normal variates drawn from ``_rng`` and not used yet.
    _z_it: Iterator[float] = _EMPTY

    @property
    def _rng(self) -> random.Random:
        """The seeded generator every noise variate comes from."""
        return self._noise_rng

    @_rng.setter
    def _rng(self, rng: random.Random) -> None:
        self._noise_rng = rng
        self._z_it = _EMPTY  # variates of a previous generator are never used

    def _refill_normals(self) -> float:
        """Draw a new block of standard normals; return the first one (the rest are queued)."""
        with _refill_lock:
            it = iter(standard_normal_block(self._noise_rng))
            first = next(it)
            self._z_it = it
        return first

    def prime_noise(self, count: int) -> None:
        """Draw the next ``count`` standard normals now (rounded up to even, at least 2) rather than
        at the first reading, after those already drawn. The variates and their order are those
        the readings would get anyway (one stream); only *when* a refill's cost falls moves. A
        bench of hundreds of cells built at once gives each a different ``count``: their refills
        (about 1 ms each) then fall apart, not all in the first sample period, nor all again
        :data:`BLOCK` variates later."""
        count = max(2, count + count % 2)
        with _refill_lock:
            self._z_it = itertools.chain(self._z_it, standard_normal_block(self._noise_rng, count))

    def terminal_voltage_v(self, current_a: float) -> float:  # pragma: no cover - the model's
        raise NotImplementedError

    def measured_voltage_v(self, current_a: float) -> float:
        """Terminal voltage plus Gaussian measurement noise (seeded), V."""
        try:
            z = next(self._z_it)
        except StopIteration:
            z = self._refill_normals()
        return self.terminal_voltage_v(current_a) + z * self._v_noise

    def measured_temperature_c(self) -> float:
        """Surface temperature plus thermocouple offset and Gaussian noise, °C."""
        try:
            z = next(self._z_it)
        except StopIteration:
            z = self._refill_normals()
        return self._ts + self._t_offset + z * self._t_noise

    def set_thermocouple_noise(self, sigma_k: float, offset_k: float = 0.0) -> None:
        """Set the thermocouple noise (1 sigma, K) and a fixed calibration offset (K)."""
        self._t_noise = float(sigma_k)
        self._t_offset = float(offset_k)

    def set_voltage_noise(self, sigma_v: float) -> None:
        """Set the voltage measurement noise (1 sigma), V."""
        self._v_noise = float(sigma_v)
