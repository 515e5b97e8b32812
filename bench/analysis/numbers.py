"""Reading numbers from run-file attributes, where a value may be missing, text, NaN or zero."""

from __future__ import annotations

import math
from typing import Any


def positive_or_none(value: Any) -> float | None:
    """``value`` as a float when it is a finite number above 0, else None (not stated)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None
