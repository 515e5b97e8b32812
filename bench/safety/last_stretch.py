"""Judging the last stretch of a run: has the cell shown it holds no internal short at the end?

The soft-short balances (:mod:`bench.safety.soft_shorts`) judge a cycle only once something
follows it: the charge balance needs the next charge, the heat balance a rest long enough to see
where the cell's cooling ends. A short that starts in the last discharge, the last charge or the
final rest of a protocol would otherwise never be judged. So every completed protocol ends with a
**final observation** (output off, chamber held), run by the engine, and this judge says when it
may end:

* **judged** - the cell is at the chamber air's temperature within what the two sensors can tell
  (``tolerance_k``: ``limits: window_tolerance_k``, 1 K, two class-1 thermocouples) and below the
  heat-balance limit (``delta_k``), and not rising: over three blocks after the settling time,
  the latest block mean is no higher than the first (within two standard errors), with the air
  steady. A resting healthy cell has no heat source, so it cools to the air; a cell held
  steadily warmer than that is not judged clean, whatever the limit. Physics: a short
  dissipating ``P`` holds the cell ``P x R_th`` above the air; if that is at least ``delta_k``
  the excess either stays above ``delta_k`` (cooling towards it from a warm step) or rises
  towards it (from a cool one: at ``P / (m c_p)`` from the onset, at least
  ``delta_k / tau`` = 0.1 K/min on a 20-minute cell, far above the noise of a block mean).
  Either way it is never "below the limit and not rising"; a cell that is has no short making
  the limit's heat. Shorts smaller than that are below the rule's resolution (docs/safety.md).
* **not judged** - the observation reached its maximum (``limits: final_observation_s``) first,
  the cell still above the limit or warming without the heat balance tripping; or there is no
  cell or chamber-air reading. The report then says "not tested" for the safety claims over the
  last stretch, never "met".

Meanwhile the supervisor's rest rules (heat balance, self-heating, rest voltage) and the
coulombic check of the last discharge run as on any rest: a short trips them. Units: s, K.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from bench.safety.rules import StepContext
from bench.sample import Sample


@dataclass
class LastStretchVerdict:
    """The judge's conclusion: ``judged`` (the cell cooled to the limit and is not warming),
    ``reason`` (one sentence), the latest block mean excess ``excess_k`` (K, nan when unknown)."""

    judged: bool
    reason: str
    excess_k: float = math.nan


class LastStretchJudge:
    """Block means of the cell's excess over the chamber air during the final observation.

    ``delta_k``: the heat-balance limit (``limits: short_rest_heating_k``); ``tolerance_k``: how
    far apart the cell and air sensors may read at the same temperature, K; ``settle_s``: the
    first seconds (the surface still takes the core's heat of the last step) are not judged;
    ``block_s``: block length; ``air_steady_k``: largest swing of the air over the three blocks.
    Per sample: two additions; the comparison once per block.
    """

    __slots__ = ("delta_k", "tolerance_k", "settle_s", "block_s", "air_steady_k", "_begin", "_end", "_sum", "_sq",
                 "_n", "_blocks", "_started", "verdict", "verdict_s")

    def __init__(self, delta_k: float, *, tolerance_k: float = 1.0, settle_s: float = 120.0,
                 block_s: float = 60.0, air_steady_k: float = 0.5) -> None:
        self.delta_k = delta_k
        self.tolerance_k = tolerance_k
        self.settle_s = settle_s
        self.block_s = block_s
        self.air_steady_k = air_steady_k
        #: (mean excess K, variance of the mean K², air °C at the block's end) of the last three blocks.
        self._blocks: list[tuple[float, float, float]] = []
        self._started = False
        self.start(0.0)

    def start(self, time_s: float) -> None:
        """Start afresh at test time ``time_s`` (s): the rest starts (the output was on before)."""
        self._begin = time_s + self.settle_s  # the samples before it (settling) are not judged
        self._end = self._begin + self.block_s
        self._sum = self._sq = 0.0
        self._n = 0
        self._blocks.clear()
        self._started = False  # a block with readings closed since the start
        #: The latest "judged" verdict and the test time of the block end that gave it, s.
        self.verdict: LastStretchVerdict | None = None
        self.verdict_s = math.nan

    def add(self, sample: Sample) -> None:
        """Take one resting sample; :attr:`verdict` is set when the three latest blocks clear the
        cell. (Per sample: a sum; a NaN reading makes its block NaN, which never clears the cell.)"""
        now = sample.time_s
        if now < self._begin:
            return None
        if now >= self._end:
            self._close_block(now, sample.temperature_chamber_c)
        excess = sample.temperature_cell_c - sample.temperature_chamber_c
        self._sum += excess
        self._sq += excess * excess
        self._n += 1
        return None

    def _close_block(self, now: float, air: float) -> LastStretchVerdict | None:
        self._end = max(self._end + self.block_s, now + 0.5 * self.block_s)
        n = self._n
        if n:
            mean = self._sum / n
            if mean == mean:
                self._started = True
            self._blocks.append((mean, max(self._sq / n - mean * mean, 0.0) / n, air))
            del self._blocks[:-3]
        self._sum = self._sq = 0.0
        self._n = 0
        if len(self._blocks) < 3:
            return None
        (m0, v0, a0), (_, _, a1), (m2, v2, a2) = self._blocks
        if (m2 <= min(self.delta_k, self.tolerance_k) and m2 <= m0 + 2.0 * math.sqrt(v0 + v2)
                and max(a0, a1, a2) - min(a0, a1, a2) <= self.air_steady_k):
            self.verdict, self.verdict_s = LastStretchVerdict(
                True, f"cell {m2:.2f} K above the chamber air (at it within the sensors' {self.tolerance_k:g} K) "
                      "and not warming: no heat source inside it", m2), now
            return self.verdict
        return None

    def blind(self, time_s: float) -> bool:
        """A whole block past the settling time and no cell-and-air reading yet: nothing to judge with."""
        return time_s >= self._begin + 2.0 * self.block_s and not self._started

    def unjudged(self, observed_s: float) -> LastStretchVerdict:
        """The verdict when the observation ends (its maximum, an abort) before :meth:`add` judged."""
        if not self._started:
            return LastStretchVerdict(False, "no cell or chamber air temperature reading: the heat balance cannot "
                                             "judge the last stretch")
        last = self._blocks[-1][0] if self._blocks else math.nan
        where = f"cell {last:.2f} K above the chamber air" if last == last else "too short to judge"
        return LastStretchVerdict(False, f"final observation ended after {observed_s:.0f} s, {where}: neither cooled "
                                         f"to the air (within {min(self.delta_k, self.tolerance_k):g} K) nor tripped", last)


class LastStretchRule:
    """The judge as a supervisor rule that never trips: fed every resting sample, so a protocol
    that ends on a rest has its final observation judged from that rest on (rest after rest: the
    cell's terminals saw no change, its blocks go on). Reset whenever the output was on."""

    __slots__ = ("name", "judge", "check")
    check: Callable[[Sample], None]

    def __init__(self, judge: LastStretchJudge) -> None:
        self.name = "last_stretch"
        self.judge = judge
        #: Feeds the judge; never a trip (the judge's own method: no wrapper on the per-sample path).
        self.check = judge.add

    def applies(self, ctx: StepContext) -> bool:
        """Only at rest; a rest that follows a driven step starts afresh."""
        if ctx.driven or ctx.output_changed:
            self.judge.start(ctx.start_s)
        return not ctx.driven
