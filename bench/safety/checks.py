"""Bookkeeping rules of the supervisor: charge and time budgets of a step, sensors, fresh data.

See :mod:`bench.safety.rules` for the rule interface and docs/safety.md for the thresholds.
Units: s, Ah, °C, V.
"""

from __future__ import annotations

import math

from bench.safety.gate import above, below
from bench.safety.rules import PLAUSIBLE_TEMPERATURE_C, StepContext, Trip
from bench.sample import Sample
from drivers.link_policy import DEFAULT_POLICY

#: The longest a sample can be late because a driver rides through a link fault, s (bench time):
#: the automatic stale-data limit leaves room for it (drivers.link_policy).
LINK_GIVE_UP_S = DEFAULT_POLICY.give_up_s()


# -- counting and timing ---------------------------------------------------------------------------
class AhOverrunRule:
    """More charge moved in one step than ``factor`` times the rated capacity."""

    __slots__ = ("name", "limit_ah", "factor")

    def __init__(self, capacity_ah: float, factor: float) -> None:
        self.name = "ah_overrun"
        self.factor = factor
        self.limit_ah = capacity_ah * factor

    def check(self, sample: Sample) -> Trip | None:
        """Trip when |step Ah| passes the limit."""
        moved = abs(sample.step_ah)
        if moved <= self.limit_ah:
            return None
        return Trip(self.name, sample.time_s,
                    f"{moved:.3f} Ah moved in one step, more than {self.factor:g} x the rated capacity",
                    {"step_ah": sample.step_ah, "limit_ah": self.limit_ah})


class StepBudgetRule:
    """Ah overrun and step timeout in one pass (trips as ``ah_overrun`` or ``step_timeout``):
    see :class:`AhOverrunRule` and :class:`StepTimeoutRule`; ``factor`` 0 leaves Ah out."""

    __slots__ = ("name", "ctx", "ah", "timeout")

    def __init__(self, ctx: StepContext, capacity_ah: float, factor: float, *, timeout: bool = True) -> None:
        self.name = "step_budget"
        self.ctx = ctx
        self.ah = AhOverrunRule(capacity_ah, factor) if factor > 0 else None
        self.timeout = StepTimeoutRule(ctx) if timeout else None

    def check(self, sample: Sample) -> Trip | None:
        """Trip when the step moved too much charge or ran too long."""
        ah = self.ah
        if ah is not None and not -ah.limit_ah <= sample.step_ah <= ah.limit_ah:
            return ah.check(sample)
        if sample.step_time_s > self.ctx.timeout_s and self.timeout is not None:
            return self.timeout.check(sample)
        return None

    def quiet_box(self, sample: Sample) -> dict[str, tuple[float, float]] | None:
        """Within the charge budget and the step's timeout nothing happens (bench.safety.gate;
        the timeout is the step's: the box is re-armed at every step start)."""
        box: dict[str, tuple[float, float]] = {}
        if self.ah is not None:
            box["step_ah"] = (-self.ah.limit_ah, self.ah.limit_ah)
        if self.timeout is not None:
            box["step_time_s"] = (-math.inf, self.ctx.timeout_s)
        return box


class StepTimeoutRule:
    """A step running longer than its timeout (see :func:`step_timeout_s`)."""

    __slots__ = ("name", "ctx")

    def __init__(self, ctx: StepContext) -> None:
        self.name = "step_timeout"
        self.ctx = ctx

    def check(self, sample: Sample) -> Trip | None:
        """Trip when the step time passes the step's timeout."""
        limit = self.ctx.timeout_s
        if sample.step_time_s <= limit:
            return None
        return Trip(self.name, sample.time_s,
                    f"step '{self.ctx.text}' still running after {sample.step_time_s:.0f} s (timeout {limit:.0f} s)",
                    {"step_time_s": sample.step_time_s, "timeout_s": limit})


# -- sensors and data ------------------------------------------------------------------------------
class SensorLossRule:
    """A temperature reading missing (open thermocouple: NaN) or implausible for ``persistence_s``.

    The cell sensor is always required; the chamber-air sensor (``chamber=True``) only once it
    has given a valid reading, so a bench without an air sensor does not trip.
    """

    __slots__ = ("name", "persistence_s", "chamber", "_air_seen", "_since_cell", "_since_air", "_low", "_high")

    def __init__(self, persistence_s: float = 2.0, *, chamber: bool = False) -> None:
        self.name = "sensor_loss"
        self.persistence_s = persistence_s
        self.chamber = chamber
        self._air_seen = False
        self._since_cell: float | None = None
        self._since_air: float | None = None
        self._low, self._high = PLAUSIBLE_TEMPERATURE_C

    def check(self, sample: Sample) -> Trip | None:
        """Trip when a reading has been missing for ``persistence_s``."""
        low, high = self._low, self._high
        t = sample.temperature_cell_c
        if low < t < high:
            if self._since_cell is not None:
                self._since_cell = None
        else:
            if self._since_cell is None:
                self._since_cell = sample.time_s
            if sample.time_s - self._since_cell >= self.persistence_s:
                return Trip(self.name, sample.time_s, f"cell temperature sensor lost (reading {t!r})",
                            {"temperature_cell_c": t, "since_s": self._since_cell})
        if not self.chamber:
            return None
        air = sample.temperature_chamber_c
        if low < air < high:
            if self._since_air is not None or not self._air_seen:
                self._air_seen = True
                self._since_air = None
            return None
        if not self._air_seen:
            return None
        if self._since_air is None:
            self._since_air = sample.time_s
        if sample.time_s - self._since_air < self.persistence_s:
            return None
        return Trip(self.name, sample.time_s, f"chamber air temperature sensor lost (reading {air!r})",
                    {"temperature_chamber_c": air, "since_s": self._since_air})

    def quiet_box(self, sample: Sample) -> dict[str, tuple[float, float]] | None:
        """Plausible readings with no loss pending change nothing (bench.safety.gate); none while
        a loss is counting or before the air sensor's first reading (its arrival is a change)."""
        if self._since_cell is not None:
            return None
        plausible = (above(self._low), below(self._high))  # the rule's bounds are open
        if not self.chamber:
            return {"temperature_cell_c": plausible}
        if not self._air_seen or self._since_air is not None:
            return None
        return {"temperature_cell_c": plausible, "temperature_chamber_c": plausible}


class SensorDisagreementRule:
    """The cell reading colder than chamber air that has been steady (within ``steady_k``) for
    ``settle_s``: a cell cannot stay colder than its surroundings, so one sensor is wrong."""

    __slots__ = ("name", "max_k", "settle_s", "steady_k", "_ref", "_ref_since")

    def __init__(self, max_k: float, *, settle_s: float = 3 * 3600.0, steady_k: float = 1.0) -> None:
        self.name = "sensor_disagreement"
        self.max_k = max_k
        self.settle_s = settle_s
        self.steady_k = steady_k
        self._ref = math.nan
        self._ref_since = 0.0

    def check(self, sample: Sample) -> Trip | None:
        """Trip when the steady air and the cell disagree."""
        air = sample.temperature_chamber_c
        t = sample.temperature_cell_c
        if air != air or t != t:
            return None
        if not abs(air - self._ref) <= self.steady_k:
            self._ref = air
            self._ref_since = sample.time_s
            return None
        if sample.time_s - self._ref_since < self.settle_s or air - t <= self.max_k:
            return None
        return Trip(self.name, sample.time_s,
                    f"cell sensor reads {air - t:.1f} K below steady chamber air: a temperature sensor is wrong",
                    {"temperature_cell_c": t, "temperature_chamber_c": air, "limit": self.max_k})

    def quiet_box(self, sample: Sample) -> dict[str, tuple[float, float]] | None:
        """Air within the steady band of its reference (no new reference) and, before the air has
        been steady for ``settle_s``, nothing else; after it, the cell no further below the band's
        top than ``max_k`` (bench.safety.gate). Bounds 1 µK / 1 µs inside the exact ones."""
        ref = self._ref
        if ref != ref:
            return None
        band = self.steady_k - 1e-6
        box = {"temperature_chamber_c": (ref - band, ref + band)}
        settled_s = self._ref_since + self.settle_s - 1e-6
        if sample.time_s < settled_s:
            box["time_s"] = (-math.inf, settled_s)
        else:
            box["temperature_cell_c"] = (ref + band - self.max_k + 1e-6, math.inf)
        return box


class StaleDataRule:
    """Samples that stop being fresh: a gap longer than ``max_gap_s`` between two samples (or
    three step periods, at least 10 s and :data:`LINK_GIVE_UP_S` + a period, when 0), or every reading - voltage, current and both
    temperatures - bit-identical while the output drives the cell for ``frozen_s`` and at least
    ``frozen_samples`` samples (live readings under load always move in some digit; a frozen
    buffer does not). ``frozen_s`` 0 turns the frozen check off (coarse instruments)."""

    __slots__ = ("name", "ctx", "max_gap_s", "frozen_s", "frozen_samples", "_last_t", "_last", "_same",
                 "_same_since", "_serial", "_limit", "_frozen_on")

    def __init__(self, ctx: StepContext, max_gap_s: float = 0.0, frozen_s: float = 120.0,
                 frozen_samples: int = 10) -> None:
        self.name = "stale_data"
        self.ctx = ctx
        self.max_gap_s = max_gap_s
        self.frozen_s = frozen_s
        self.frozen_samples = frozen_samples
        self._last_t = math.nan
        self._last: tuple[float, float, float, float] | None = None
        self._same = 0
        self._same_since = 0.0
        self._serial = -1
        self._limit = math.inf
        #: The frozen check runs in this step (``frozen_s`` > 0 and the output drives the cell).
        self._frozen_on = False

    def gap_limit_s(self) -> float:
        """The longest allowed gap between two samples now, s (automatic: three periods, at least
        10 s, and at least one period more than a driver takes to give up on a dropped link)."""
        period = self.ctx.period_s
        limit = self.max_gap_s if self.max_gap_s > 0 else max(3.0 * period, 10.0, LINK_GIVE_UP_S + period)
        return max(limit, self.ctx.min_gap_s)

    def check(self, sample: Sample) -> Trip | None:
        """Trip on a long gap or a frozen reading."""
        if self._serial != self.ctx.serial:  # a new step (ctx.driven changes only then)
            self._serial = self.ctx.serial
            self._limit = self.gap_limit_s()
            self._frozen_on = self.frozen_s > 0 and self.ctx.driven
        now = sample.time_s
        gap = now - self._last_t
        self._last_t = now
        if gap > self._limit:
            return Trip(self.name, now, f"no fresh sample for {gap:.1f} s (limit {self._limit:g} s)",
                        {"gap_s": gap, "limit": self._limit})
        if not self._frozen_on:
            self._same = 0
            return None
        reading = sample[1:5]  # (voltage_v, current_a, temperature_cell_c, temperature_chamber_c)
        if reading != self._last:
            self._last = reading
            self._same = 0
            self._same_since = now
            return None
        self._same += 1
        if self._same < self.frozen_samples or now - self._same_since < self.frozen_s:
            return None
        return Trip(self.name, now, f"every reading frozen for {now - self._same_since:.0f} s under load "
                                    f"(V {sample.voltage_v!r}, I {sample.current_a!r})",
                    {"voltage_v": sample.voltage_v, "samples": float(self._same + 1),
                     "frozen_s": now - self._same_since})
