"""Axis helpers shared by the run view and the report's figures: whole-number ticks for cycle
axes, a capacity range that starts at zero, and frequency labels on Nyquist curves.

Every axis label is written ``Quantity / unit`` (ISO 80000-1 quantity calculus), never
``Quantity (unit)``; pyqtgraph's automatic SI prefixes are not used, so the unit printed is the unit
plotted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg

from bench.plot.ticks import capacity_range, decade_points, frequency_text, integer_ticks, nice_step

__all__ = ["IntegerAxis", "capacity_range", "decade_points", "frequency_text", "integer_ticks",
           "label_frequencies", "nice_step"]


class IntegerAxis(pg.AxisItem):
    """An axis whose ticks fall on whole numbers only (cycle number)."""

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, list[float]]]:  # noqa: N802, N803 - pyqtgraph's names
        """One level of whole-number ticks."""
        ticks = integer_ticks(minVal, maxVal, size)
        return [(1.0, [float(t) for t in ticks])] if ticks else []

    def tickStrings(self, values: Sequence[float], scale: float, spacing: float) -> list[str]:  # noqa: N802 - pyqtgraph's name
        """Whole numbers, no decimals."""
        return [f"{int(round(v * scale))}" for v in values]


def label_frequencies(plot: Any, real: np.ndarray, minus_imag: np.ndarray, frequency_hz: np.ndarray,
                      color: Any = (90, 90, 90)) -> list[Any]:
    """Put a small ``1 kHz``-style text by the decade points of one Nyquist curve; returns the items."""
    items = []
    for index, decade in decade_points(frequency_hz):
        if not (math.isfinite(float(real[index])) and math.isfinite(float(minus_imag[index]))):
            continue  # a point the analyser rejected: no label (a NaN position wrecks the view range)
        text = pg.TextItem(frequency_text(decade), color=color, anchor=(0.0, 1.0))
        text.setPos(float(real[index]), float(minus_imag[index]))
        plot.addItem(text)
        items.append(text)
    return items
