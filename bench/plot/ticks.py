"""Tick and range arithmetic for plots (no Qt): 1-2-5 steps, whole-number ticks, a capacity axis
from zero, frequency labels. Used by the pyqtgraph axes (:mod:`bench.plot.axes`) and by the
hand-written SVG of a study report.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: Headroom above the largest capacity on a capacity axis that starts at 0, fraction.
CAPACITY_HEADROOM = 0.08


def nice_step(raw: float) -> float:
    """The smallest 1-2-5 x 10^k step >= ``raw`` (> 0)."""
    exponent = math.floor(math.log10(raw))
    for mantissa in (1.0, 2.0, 5.0, 10.0):
        step = mantissa * 10.0 ** exponent
        if step >= raw - 1e-12:
            return step
    return 10.0 ** (exponent + 1)


def integer_ticks(low: float, high: float, pixels: float, min_spacing_px: float = 60.0) -> list[int]:
    """Whole-number tick values between ``low`` and ``high`` with at least ``min_spacing_px``
    between them on an axis ``pixels`` long (a cycle number is never 2.5)."""
    span = high - low
    if not math.isfinite(span) or span <= 0:
        return []
    slots = max(1.0, pixels / min_spacing_px)
    step = max(1, int(nice_step(span / slots)))
    first = math.ceil(low / step) * step
    return list(range(int(first), int(math.floor(high)) + 1, step))


def capacity_range(values: Sequence[float]) -> tuple[float, float] | None:
    """Y range of a capacity axis: from 0 to the largest value plus headroom, so a 0.2 % drift
    looks like one (None when there is nothing finite to show)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return None
    top = max(finite) if max(finite) > 0 else 1.0
    # a hair below 0 so the axis shows its "0" tick label
    return -0.01 * top, top * (1.0 + CAPACITY_HEADROOM)


def frequency_text(frequency_hz: float) -> str:
    """``1 kHz``, ``10 Hz``, ``0.1 Hz``, ``10 mHz``."""
    if frequency_hz >= 1e3:
        return f"{frequency_hz / 1e3:g} kHz"
    if frequency_hz >= 1.0:
        return f"{frequency_hz:g} Hz"
    if frequency_hz >= 0.1:
        return f"{frequency_hz:g} Hz"
    return f"{frequency_hz * 1e3:g} mHz"


def decade_points(frequency_hz: np.ndarray) -> list[tuple[int, float]]:
    """Indices of the points nearest each whole decade (1 kHz, 100 Hz, ... 10 mHz) within the
    swept range, with the decade: where a Nyquist curve gets its frequency markers."""
    f = np.asarray(frequency_hz, dtype=float)
    good = np.isfinite(f) & (f > 0)
    if good.sum() < 2:
        return []
    lo, hi = math.ceil(math.log10(f[good].min()) - 1e-9), math.floor(math.log10(f[good].max()) + 1e-9)
    out: list[tuple[int, float]] = []
    log_f = np.where(good, np.log10(np.where(good, f, 1.0)), np.inf)
    for exponent in range(int(hi), int(lo) - 1, -1):
        index = int(np.argmin(np.abs(log_f - exponent)))
        if abs(log_f[index] - exponent) < 0.15:
            out.append((index, 10.0 ** exponent))
    return out
