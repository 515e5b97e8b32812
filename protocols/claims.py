"""Claims: the pass criteria of a protocol as declared measurements with validators.

A claim names a measured quantity (a report metric such as ``time_10_80_s``), its unit, a
validator (``>=`` or ``<=`` a number, the claim's figure, usually a protocol parameter) and an
optional marginal band (a result within the band of the figure is flagged "marginal"; it still
meets or misses the claim). ``tested_if`` lists conditions on other metrics that must hold for
the claim to be tested at all (e.g. ``fast_charges >= 500`` for "fade < 20 % after 500 fast
charges"); when one does not hold, or the metric was not measured, the claim is "not tested",
never met. The pattern follows OpenHTF's measurements (name, units, validators, marginal).

Written in a protocol file under ``claims:`` (or the older ``pass:``), either as a line::

    claims:
      - time_10_80_s <= {claim_minutes} min          # a unit converts to the metric's (here s)
      - name: no fire, no explosion (EUCAR hazard level <= 3)
        claim: eucar_hazard_level <= 3
        source: EUCAR hazard levels (SAND2005-3123)
        marginal: 0
        tested_if: ["fast_charges >= {claim_cycles}"]
        missed_early_is_final: true    # fade only grows

The claims are evaluated in one place, :mod:`bench.report.claims`, from the run file's metrics.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from protocols.quantities import QuantityError, parse_quantity

#: ``metric op value [unit]``.
CLAIM_LINE = re.compile(r"^\s*(?P<metric>[a-z_][a-z0-9_]*)\s*(?P<op>>=|<=)\s*(?P<value>.+?)\s*$")
OPS = (">=", "<=")
#: Metric-name suffix -> (unit shown, SI dimension a quantity must have, factor from SI).
SUFFIX_UNITS: dict[str, tuple[str, str, float]] = {
    "_s": ("s", "time", 1.0), "_ah": ("Ah", "charge", 1.0), "_wh": ("Wh", "energy", 1.0),
    "_v": ("V", "voltage", 1.0), "_a": ("A", "current", 1.0), "_c": ("°C", "temperature", 1.0),
    "_k": ("K", "temperature_difference", 1.0), "_pct": ("%", "fraction", 100.0),
    "_wh_per_kg": ("Wh/kg", "", 1.0), "_wh_per_l": ("Wh/L", "", 1.0), "_ohm": ("Ω", "", 1.0),
    "_ohm_cm2": ("Ω·cm²", "", 1.0),
}


class ClaimError(ValueError):
    """A claim line that cannot be read; ``col`` is 1-based within the line."""

    def __init__(self, message: str, col: int = 1, suggestion: str = "") -> None:
        super().__init__(message)
        self.message, self.col, self.suggestion = message, col, suggestion


def metric_unit(metric: str) -> str:
    """The unit of a metric from its name's suffix (``time_10_80_s`` -> ``s``), '' if none."""
    for suffix in sorted(SUFFIX_UNITS, key=len, reverse=True):
        if metric.endswith(suffix):
            return SUFFIX_UNITS[suffix][0]
    return ""


@dataclass(frozen=True)
class Condition:
    """``metric op value``: one validator (the claim's, or a precondition of it)."""

    metric: str
    op: str
    value: float
    text: str = ""

    def holds(self, metrics: Mapping[str, Any]) -> bool | None:
        """True/False, or None when the metric was not measured (absent, None or NaN)."""
        observed = metrics.get(self.metric)
        if observed is None or isinstance(observed, bool) or not isinstance(observed, (int, float)):
            return None
        if isinstance(observed, float) and math.isnan(observed):
            return None
        return observed >= self.value if self.op == ">=" else observed <= self.value


@dataclass(frozen=True)
class Claim(Condition):
    """A declared measurement with its validator: see the module docstring.

    ``name``: what is claimed, in words; ``unit``: the metric's unit; ``marginal``: band around
    ``value`` (metric units) within which a result is flagged marginal; ``source``: where the
    figure comes from (a standard, a datasheet, a parameter); ``tested_if``: preconditions.
    """

    name: str = ""
    unit: str = ""
    marginal: float = 0.0
    source: str = ""
    tested_if: tuple[Condition, ...] = field(default_factory=tuple)
    #: A miss before the preconditions hold is final (a quantity that only grows, such as fade:
    #: 25 % fade after 300 cycles already misses "< 20 % after 500").
    missed_early_is_final: bool = False

    def evaluate(self, metrics: Mapping[str, Any]) -> dict[str, Any]:
        """``status`` (``met`` / ``not met`` / ``not tested``), ``observed``, ``marginal`` (bool),
        ``margin`` (observed minus the figure, signed so that positive means met) and, when not
        tested, ``reason``."""
        observed = metrics.get(self.metric)
        out: dict[str, Any] = {"observed": observed if self.holds(metrics) is not None else None,
                               "marginal": False, "margin": None, "reason": ""}
        early_miss = self.missed_early_is_final and self.holds(metrics) is False
        for pre in self.tested_if:
            if pre.holds(metrics) is not True and not early_miss:
                seen = metrics.get(pre.metric)
                out.update(status="not tested",
                           reason=f"precondition {pre.text or pre.metric} does not hold (measured {seen})")
                return out
        verdict = self.holds(metrics)
        if verdict is None or observed is None:  # (holds() is None whenever observed is None)
            out.update(status="not tested", reason=f"{self.metric} was not measured in this run")
            return out
        margin = (observed - self.value) if self.op == ">=" else (self.value - observed)
        out.update(status="met" if verdict else "not met", margin=round(float(margin), 6),
                   marginal=bool(self.marginal > 0 and abs(margin) <= self.marginal))
        return out

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form (the run file's ``pass_criteria`` attribute)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Claim:
        """Rebuild a claim from :meth:`as_dict` (or an older run file's ``metric/op/value/text``)."""
        pre = tuple(Condition(str(p["metric"]), str(p["op"]), float(p["value"]), str(p.get("text", "")))
                    for p in data.get("tested_if") or ())
        metric = str(data["metric"])
        return cls(metric, str(data["op"]), float(data["value"]), str(data.get("text", "")),
                   name=str(data.get("name", "")), unit=str(data.get("unit", "")) or metric_unit(metric),
                   marginal=float(data.get("marginal", 0.0) or 0.0), source=str(data.get("source", "")),
                   tested_if=pre, missed_early_is_final=bool(data.get("missed_early_is_final", False)))


def parse_condition(text: str) -> Condition:
    """``metric >= value [unit]``; a unit is converted to the metric's (``10 min`` -> 600 for ``_s``)."""
    match = CLAIM_LINE.match(text)
    if not match:
        raise ClaimError(f"claim {text.strip()!r} must read 'metric >= number' or 'metric <= number'",
                         1, "e.g. 'time_10_80_s <= 10 min' or 'retention_pct >= 70'")
    metric, op = match.group("metric"), match.group("op")
    value = _value(metric, match.group("value"), match.start("value") + 1)
    return Condition(metric, op, value, text.strip())


def parse_claim(text: str, *, name: str = "", marginal: str = "", source: str = "",
                tested_if: tuple[str, ...] = (), missed_early_is_final: str = "") -> Claim:
    """A :class:`Claim` from its line and options (texts, parameters already substituted)."""
    base = parse_condition(text)
    band = _value(base.metric, marginal, 1) if marginal.strip() else 0.0
    if band < 0:
        raise ClaimError(f"marginal band must not be negative, got {marginal!r}")
    return Claim(base.metric, base.op, base.value, base.text, name=name.strip(), unit=metric_unit(base.metric),
                 marginal=band, source=source.strip(), tested_if=tuple(parse_condition(t) for t in tested_if),
                 missed_early_is_final=missed_early_is_final.strip().lower() in ("true", "yes", "1"))


def _value(metric: str, text: str, col: int) -> float:
    """The number of a claim, in the metric's unit."""
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        value = _quantity_value(metric, text, col)
    if not math.isfinite(value):
        raise ClaimError(f"claim value {text!r} is not a finite number", col)
    return value


def _quantity_value(metric: str, text: str, col: int) -> float:
    """``10 min`` for a ``_s`` metric -> 600: a quantity converted to the metric's unit."""
    try:
        quantity = parse_quantity(text)
    except QuantityError as exc:
        raise ClaimError(f"claim value {text!r}: {exc}", col, exc.suggestion) from None
    wanted = next((SUFFIX_UNITS[s] for s in sorted(SUFFIX_UNITS, key=len, reverse=True) if metric.endswith(s)), None)
    if wanted is None or not wanted[1] or quantity.dimension != wanted[1]:
        unit = wanted[0] if wanted else "no unit"
        raise ClaimError(f"claim value {text!r} is a {quantity.dimension}, but {metric} is in {unit}", col,
                         f"write a plain number in {unit}" if wanted else "write a plain number")
    return quantity.value * wanted[2]
