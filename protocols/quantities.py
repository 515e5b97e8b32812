"""Numbers with units as technicians write them: ``0.5 A``, ``500 mA``, ``C/3``, ``1C``, ``10 W``,
``4.2 V``, ``2 hours``, ``30 min``, ``-20 °C``, ``2 K``, ``80 %``, ``1 K/min``.

Every quantity is converted to SI base units of its dimension: A, V, W, s, °C, K, Ah, fraction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: unit text (lower case) -> (dimension, factor to the base unit)
UNITS: dict[str, tuple[str, float]] = {
    "a": ("current", 1.0), "ma": ("current", 1e-3), "ua": ("current", 1e-6),
    "v": ("voltage", 1.0), "mv": ("voltage", 1e-3),
    "w": ("power", 1.0), "mw": ("power", 1e-3), "kw": ("power", 1e3),
    "ah": ("charge", 1.0), "mah": ("charge", 1e-3),
    "wh": ("energy", 1.0), "mwh": ("energy", 1e-3),
    "s": ("time", 1.0), "sec": ("time", 1.0), "second": ("time", 1.0), "seconds": ("time", 1.0),
    "min": ("time", 60.0), "mins": ("time", 60.0), "minute": ("time", 60.0), "minutes": ("time", 60.0),
    "h": ("time", 3600.0), "hr": ("time", 3600.0), "hrs": ("time", 3600.0), "hour": ("time", 3600.0),
    "hours": ("time", 3600.0), "day": ("time", 86400.0), "days": ("time", 86400.0),
    "°c": ("temperature", 1.0), "oc": ("temperature", 1.0), "degc": ("temperature", 1.0), "c°": ("temperature", 1.0),
    "k": ("temperature_difference", 1.0),
    "%": ("fraction", 0.01),
    "ohm": ("resistance", 1.0), "mohm": ("resistance", 1e-3), "ω": ("resistance", 1.0), "mω": ("resistance", 1e-3),
    "hz": ("frequency", 1.0), "khz": ("frequency", 1e3), "mhz_milli": ("frequency", 1e-3),
    "k/min": ("temperature_rate", 1.0 / 60.0), "k/s": ("temperature_rate", 1.0),
    "°c/min": ("temperature_rate", 1.0 / 60.0), "°c/s": ("temperature_rate", 1.0),
}

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_QUANTITY = re.compile(rf"^\s*(?P<num>{_NUMBER})\s*(?P<unit>[^\s\d][^\s]*(?:\s*/\s*(?:min|s))?)?\s*$")
_C_RATE = re.compile(rf"^\s*(?:(?P<mult>{_NUMBER})\s*C(?:\s*/\s*(?P<div1>{_NUMBER}))?|C\s*/\s*(?P<div>{_NUMBER}))\s*$")


@dataclass(frozen=True)
class Quantity:
    """A value in the base unit of ``dimension`` (A, V, W, s, °C, K, Ah, Wh, fraction...).

    ``dimension == "c_rate"``: ``value`` is the C-rate multiple (1C = 1.0, C/3 = 0.333...).
    """

    value: float
    dimension: str
    text: str


class QuantityError(ValueError):
    """Text that is not a number with a known unit; the message says what was expected,
    ``suggestion`` what was probably meant."""

    def __init__(self, message: str, suggestion: str = "") -> None:
        super().__init__(message)
        self.suggestion = suggestion


#: Words of the step grammar that may follow a quantity (for "did you mean" on a misspelt one).
GRAMMAR_WORDS = ("until", "for", "or", "at", "and", "with", "every", "then")


def _unparsed(raw: str) -> QuantityError:
    """The error for text that is not one quantity: when it starts with one, name the first word
    after it (``'untill'``) and the grammar word it was probably meant to be."""
    import difflib

    words = raw.split()
    for k in range(len(words) - 1, 0, -1):
        head = " ".join(words[:k])
        if _QUANTITY.fullmatch(head) or _C_RATE.fullmatch(head):
            extra = words[k]
            close = difflib.get_close_matches(extra.lower(), GRAMMAR_WORDS, n=1, cutoff=0.75)
            hint = f"did you mean {close[0]!r}?" if close else ""
            return QuantityError(f"unexpected word {extra!r} after {head!r} in {raw!r}", hint)
    return QuantityError(f"expected a number with a unit, got {raw!r}")


def parse_quantity(text: str) -> Quantity:
    """Parse ``text`` into a Quantity; raises QuantityError with a hint."""
    raw = text.strip()
    match = _C_RATE.match(raw)
    if match:
        if match.group("div"):
            rate = 1.0 / float(match.group("div"))
        else:
            rate = float(match.group("mult"))
            if match.group("div1"):
                rate /= float(match.group("div1"))
        return Quantity(rate, "c_rate", raw)
    match = _QUANTITY.match(raw)
    if not match:
        raise _unparsed(raw)
    number = float(match.group("num"))
    unit_text = (match.group("unit") or "").replace(" ", "")
    if not unit_text:
        raise QuantityError(f"{raw!r} has no unit")
    key = unit_text.lower()
    if unit_text == "mHz":
        key = "mhz_milli"
    elif unit_text in ("MHz",):
        raise QuantityError(f"unit {unit_text!r} (megahertz) is not a battery frequency; did you mean mHz?")
    if key not in UNITS:
        import difflib

        spellings = ["A", "mA", "V", "mV", "W", "Ah", "mAh", "Wh", "s", "min", "hour", "hours", "°C", "K", "%",
                     "Hz", "kHz", "mHz", "K/min", "ohm", "C"]
        close = difflib.get_close_matches(unit_text, spellings, n=1, cutoff=0.5)
        raise QuantityError(f"unknown unit {unit_text!r} in {raw!r}",
                            f"did you mean '{close[0]}'?" if close else "units: A, mA, C-rate, V, W, Ah, Wh, s, "
                            "min, hours, °C, K, %, Hz")
    dimension, factor = UNITS[key]
    return Quantity(number * factor, dimension, raw)


def format_duration(seconds: float) -> str:
    """``5400`` -> ``1 h 30 min``; short durations in seconds."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    hours, rest = divmod(int(round(seconds)), 3600)
    minutes = rest // 60
    if hours == 0:
        return f"{minutes} min"
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
