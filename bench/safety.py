"""The software safety supervisor: every sample is checked against rules, independent of steps.

A rule looks at one sample (and its own memory of earlier ones) and returns a :class:`Trip` or
None. The supervisor latches the first trip until an operator resets it. Rules are built from the
protocol's limits by :func:`rules_from_limits`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

from bench.sample import Sample
from protocols.steps import Limits


@dataclass(frozen=True)
class Trip:
    """A safety trip: which rule, when (test time, s), why, and the values that tripped it."""

    rule: str
    time_s: float
    message: str
    values: dict[str, float] = field(default_factory=dict)


class Rule(Protocol):
    """A safety rule: ``check`` returns a Trip when the sample violates it."""

    name: str

    def check(self, sample: Sample) -> Trip | None: ...


class LimitRule:
    """``attribute`` of the sample must stay within [low, high] (None = unbounded).

    ``persistence_s``: the violation must last that long before it trips (0 = at once).
    A NaN reading does not trip this rule (sensor loss is its own rule).
    """

    def __init__(self, name: str, attribute: str, unit: str, low: float | None, high: float | None,
                 persistence_s: float = 0.0) -> None:
        self.name = name
        self.attribute = attribute
        self.unit = unit
        self.low = low
        self.high = high
        self.persistence_s = persistence_s
        self._since: float | None = None

    def check(self, sample: Sample) -> Trip | None:
        """Trip when the value has been out of bounds for ``persistence_s``."""
        value = getattr(sample, self.attribute)
        out = (self.high is not None and value > self.high) or (self.low is not None and value < self.low)
        if not out:
            self._since = None
            return None
        if self._since is None:
            self._since = sample.time_s
        if sample.time_s - self._since < self.persistence_s:
            return None
        bound = self.high if (self.high is not None and value > self.high) else self.low
        side = "above" if bound == self.high else "below"
        return Trip(self.name, sample.time_s,
                    f"{self.attribute} {value:.4g} {self.unit} {side} limit {bound:g} {self.unit}",
                    {self.attribute: value, "limit": float(bound)})  # type: ignore[arg-type]


class SensorLossRule:
    """The cell temperature reading is missing (open thermocouple, NaN) for ``persistence_s``."""

    name = "sensor_loss"

    def __init__(self, persistence_s: float = 2.0) -> None:
        self.persistence_s = persistence_s
        self._since: float | None = None

    def check(self, sample: Sample) -> Trip | None:
        """Trip when the cell temperature has been NaN for ``persistence_s``."""
        if not math.isnan(sample.temperature_cell_c):
            self._since = None
            return None
        if self._since is None:
            self._since = sample.time_s
        if sample.time_s - self._since < self.persistence_s:
            return None
        return Trip(self.name, sample.time_s, "cell temperature sensor lost (no valid reading)",
                    {"temperature_cell_c": float("nan"), "since_s": self._since})


def rules_from_limits(limits: Limits) -> list[Rule]:
    """The hard-limit rules every run has: voltage, current, cell temperature, sensor loss."""
    return [
        LimitRule("voltage_limit", "voltage_v", "V", limits.voltage_min_v, limits.voltage_max_v),
        LimitRule("current_limit", "current_a", "A", -limits.current_max_a, limits.current_max_a),
        LimitRule("temperature_limit", "temperature_cell_c", "°C", limits.temperature_min_c, limits.temperature_max_c),
        SensorLossRule(),
    ]


class Supervisor:
    """Checks each sample against every rule; the first trip latches until :meth:`reset`."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        self.tripped: Trip | None = None

    @classmethod
    def for_limits(cls, limits: Limits) -> "Supervisor":
        """A supervisor with the hard-limit rules of ``limits``."""
        return cls(rules_from_limits(limits))

    def check(self, sample: Sample) -> Trip | None:
        """Return a new trip (once), or None. Rules keep running after a trip (no new trips)."""
        for rule in self.rules:
            trip = rule.check(sample)
            if trip is not None and self.tripped is None:
                self.tripped = trip
                return trip
        return None

    def reset(self) -> None:
        """Operator reset of the latched alarm."""
        self.tripped = None
