"""Soft internal shorts (a few to tens of ohms): signatures that build up over minutes and cycles.

A soft short drains the cell by V / R (0.2 A at 4 V through 20 Ω on a 5 Ah cell: 0.04C) and
turns that into heat inside it. Nothing steps at one sample, so the per-sample signatures of
:mod:`bench.safety.shorts` stay silent; two balances give it away:

* **Heat balance at rest** (:class:`RestHeatBalanceRule`): with no current, a cell has no heat
  source, so its excess over the chamber air decays towards zero as a sum of exponentials (the
  heat of the previous step leaving through the surface). A short is a steady source: the
  excess decays towards ``P_short x R_thermal`` instead. The rule extrapolates where the present
  decay ends from three equally spaced block means of the excess (Aitken's delta-squared on a
  first-order decay: the block means of ``A + B exp(-t / tau)`` are geometric in ``exp(-h / tau)``
  whatever ``tau`` is), so it needs no thermal time constant and no fixed "too warm" figure:
  a cell that will stay warmer than the air by the limit with no current is heating itself.
* **Charge balance per cycle** (:class:`ChargeBalanceRule`): a healthy cell gives back what it
  took. From an empty anchor (a discharge ended at the cell's minimum voltage) the charge that
  refills it to a full anchor (a hold at the maximum voltage ended on its current) equals the
  previous full-to-empty discharge, at any rate (both ends are the same two states); the charge
  acceptance check trips as soon as the net charge since the empty anchor (charge - discharge:
  partial cycles on the way count at their net) passes that by the tolerance, during the charge.
  The coulombic efficiency of a cycle (full-to-empty discharge / the empty-to-full charge before
  it) is checked at the empty anchor, when both discharges ran at the same current and chamber
  temperature (else the two "empty" states differ and the ratio says nothing about the cell).

Both work at block or step boundaries: per sample they add a few floats (heat) or store the
sample and compare one number (charge). Units: s, K, Ah, A, V.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace

from bench.safety.last_stretch import LastStretchJudge
from bench.safety.rules import StepContext, Trip
from bench.sample import Sample

logger = logging.getLogger(__name__)

#: Largest ratio of two successive decrements still taken as a decay (closer to 1 is a near-linear
#: fall whose end cannot be extrapolated from three blocks: judged at the next block).
MAX_DECAY_RATIO = 0.95
#: Slowest cooling of a cell in a test chamber, s: the thermal time constant ``m c_p R_th`` is
#: 20-45 min for an 18650 / 21700 and 15-35 min for a 60 Ah pouch in moving air (mass x heat
#: capacity ~1 J/(g K), surface x convection 5-25 W/(m² K)); twice the slowest of them.
TAU_MAX_S = 7200.0
#: Two empty anchors compare (coulombic efficiency) only with the chamber air within this, K: a
#: cold discharge leaves more charge in the cell at the same cut-off voltage.
SAME_AIR_K = 3.0


def decay_asymptote(y0: float, y1: float, y2: float) -> float:
    """Where ``y`` ends if it goes on as a first-order decay through three equally spaced values.

    Decreasing with shrinking steps: Aitken's extrapolation ``y2 + d2 r / (1 - r)`` with
    ``r = d2 / d1`` (capped at :data:`MAX_DECAY_RATIO`); not decreasing: ``y2`` (it stays at least
    where it is).
    """
    d1 = y1 - y0
    d2 = y2 - y1
    if d2 >= 0.0:
        return y2
    r = d2 / d1 if d1 < d2 else MAX_DECAY_RATIO  # d1 more negative than d2: the fall slows down
    if r > MAX_DECAY_RATIO:
        r = MAX_DECAY_RATIO
    return y2 + d2 * r / (1.0 - r)


def heat_source_score(ys: tuple[float, float, float], variances: tuple[float, float, float],
                      delta_k: float, span_s: float, tau_max_s: float | None = None) -> float:
    """How many standard errors the excess ``ys`` (three means ``span_s / 2`` apart, K, with the
    variances of their errors, K²) lies beyond every first-order decay that ends at ``delta_k``
    or below with a time constant up to ``tau_max_s``; <= 0 when such a decay fits. The larger of:

    * the curvature test: a decay to ``delta_k`` is geometric in ``u = y - delta_k``, so
      ``D = ln(u0 u2 / u1²)`` is 0 for it, negative for a decay ending lower and positive for
      one ending higher (``a B (1 - r)² / u1²`` for ``u = a + B r^k``): ``D / sigma_D``;
    * the cooling test: such a decay leaves at most ``u0 exp(-span_s / tau_max_s)`` of ``u0``
      after ``span_s``: ``(u2 - that) / sigma_u2`` (a cell that stays warm has a heat source).
    """
    tau = TAU_MAX_S if tau_max_s is None else tau_max_s
    u0, u1, u2 = ys[0] - delta_k, ys[1] - delta_k, ys[2] - delta_k
    if u0 <= 0.0 or u1 <= 0.0 or u2 <= 0.0:
        return -math.inf
    v0, v1, v2 = variances
    d = math.log(u0 * u2 / (u1 * u1))
    sigma_d = math.sqrt(v0 / (u0 * u0) + 4.0 * v1 / (u1 * u1) + v2 / (u2 * u2)) or 1e-12
    keep = math.exp(-span_s / tau)
    cooling = (u2 - u0 * keep) / (math.sqrt(v2 + keep * keep * v0) or 1e-12)
    return max(d / sigma_d, cooling)


class RestHeatBalanceRule:
    """At rest, the cell's excess over the chamber air extrapolated to the end of its decay
    stays above ``delta_k`` (see the module docstring): the cell makes heat with no current.

    Block means of the excess over ``block_s`` from ``settle_s`` into the step. From six blocks
    on, each new block gives an extrapolation through three points two blocks apart (each the
    mean of two blocks); ``confirm`` successive ones above the limit, with the latest block above
    it too and the chamber air steady within ``air_steady_k``, trip. Per sample it adds one
    difference to a sum; the work is done once per block. The state is reset at each step start
    (:meth:`applies`, which the supervisor calls then).
    """

    __slots__ = ("name", "ctx", "delta_k", "settle_s", "block_s", "confirm", "air_steady_k", "sigmas",
                 "_end", "_sum", "_sq", "_n", "_started", "_means", "_vars", "_airs", "_count")

    def __init__(self, ctx: StepContext, delta_k: float, *, settle_s: float = 120.0, block_s: float = 120.0,
                 confirm: int = 2, air_steady_k: float = 0.5, sigmas: float = 3.0) -> None:
        self.name = "internal_short_heat_balance"
        self.ctx = ctx
        self.delta_k = delta_k
        self.settle_s = settle_s
        self.block_s = block_s
        self.confirm = confirm
        self.air_steady_k = air_steady_k
        self.sigmas = sigmas
        self._means: list[float] = []
        self._vars: list[float] = []
        self._airs: list[float] = []
        self._reset()

    def _reset(self) -> None:
        self._end = self.settle_s  # the samples before it (settling) are summed and then dropped
        self._sum = self._sq = 0.0
        self._n = self._count = 0
        self._started = False
        self._means.clear()
        self._vars.clear()
        self._airs.clear()

    def applies(self, ctx: StepContext) -> bool:
        """At each step start: start afresh; only while the output is off (rest, soak, observation)."""
        self._reset()
        return not ctx.driven

    def check(self, sample: Sample) -> Trip | None:
        """Add the sample to its block; judge at each block's end."""
        if sample.step_time_s < self._end:
            excess = sample.temperature_cell_c - sample.temperature_chamber_c
            self._sum += excess
            self._sq += excess * excess
            self._n += 1
            return None
        return self._close_block(sample)

    def _close_block(self, sample: Sample) -> Trip | None:
        """End of a block: keep its mean, extrapolate the decay, start the next block with this sample.

        A NaN reading makes its block NaN and no extrapolation trips while it is among the six
        (a lost sensor is the sensor-loss rule's)."""
        n = self._n
        means, variances, airs = self._means, self._vars, self._airs
        air = sample.temperature_chamber_c
        if n and self._started:
            mean = self._sum / n
            means.append(mean)
            # variance of the block mean (the spread within the block: noise and the decay itself)
            variances.append(max(self._sq / n - mean * mean, 0.0) / n)
            airs.append(air)
            if len(means) > 6:
                del means[0], variances[0], airs[0]
        self._started = True
        excess = sample.temperature_cell_c - air
        self._sum, self._sq, self._n = excess, excess * excess, 1
        self._end = max(self._end + self.block_s, sample.step_time_s + 0.5 * self.block_s)
        if len(means) < 6:
            return None
        # three points 2 blocks apart, each the mean of two blocks (noise / sqrt 2, and a ratio
        # further from 1: the extrapolation is far less sensitive to noise than with single blocks)
        ys = (0.5 * (means[0] + means[1]), 0.5 * (means[2] + means[3]), 0.5 * (means[4] + means[5]))
        end = decay_asymptote(*ys)
        score = heat_source_score(ys, (0.25 * (variances[0] + variances[1]), 0.25 * (variances[2] + variances[3]),
                                       0.25 * (variances[4] + variances[5])), self.delta_k, 4.0 * self.block_s)
        now = means[5]
        if not (now > self.delta_k and score > self.sigmas and max(airs) - min(airs) <= self.air_steady_k):
            self._count = 0
            return None
        self._count += 1
        if self._count < self.confirm:
            return None
        return Trip(self.name, sample.time_s,
                    f"cell {now:.1f} K above the chamber air at rest and heading for {end:.1f} K, not 0: "
                    "heat made inside the cell with no current (internal short?)",
                    {"excess_k": now, "excess_end_k": end, "score_sigma": score, "temperature_cell_c": sample.temperature_cell_c,
                     "temperature_chamber_c": air, "limit": self.delta_k})


class ChargeBalanceRule:
    """Charge acceptance and coulombic efficiency between full and empty anchors (module docstring).

    The rule keeps its own net charge count ``N`` (Ah, + = into the cell) from each step's
    ``step_ah``, read from the last sample of every step (``ctx.last_sample``, set by the
    supervisor at each step start, when it calls :meth:`applies`). ``tolerance``: the fraction by
    which the net charge since the empty anchor may exceed the previous full-to-empty discharge
    (acceptance, checked every sample of a charge) and by which the coulombic efficiency may fall
    below 1 (at the empty anchor). Anchors: empty when a discharge step ends within ``anchor_v``
    of ``voltage_min_v``; full when a hold within ``anchor_v`` of ``voltage_max_v`` ends with |I|
    at most ``full_current_a``. It runs per sample only in charging steps with a reference.
    """

    __slots__ = ("name", "ctx", "tolerance", "voltage_min_v", "voltage_max_v", "full_current_a", "anchor_v",
                 "_kind", "_count", "_counted_ah", "_base_ah", "_offset_ah", "_empty", "_full_ah", "_refill_ah",
                 "_out_ah", "_limit_ah", "_gate_ah", "_pending", "delta_k", "tolerance_k", "_suspect", "_judge")

    def __init__(self, ctx: StepContext, tolerance: float, *, voltage_min_v: float, voltage_max_v: float,
                 full_current_a: float, anchor_v: float = 0.02, delta_k: float = 2.0,
                 tolerance_k: float = 1.0) -> None:
        self.name = "internal_short_charge_balance"
        self.ctx = ctx
        self.tolerance = tolerance
        self.voltage_min_v = voltage_min_v
        self.voltage_max_v = voltage_max_v
        self.full_current_a = full_current_a
        self.anchor_v = anchor_v
        self._kind = ""  # kind of the present step ("discharge" for a CC discharge)
        self._count = -1  # engine step count of the last sample seen at a step boundary
        self._counted_ah = 0.0  # that step's step_ah already in the base
        #: N at the latest step boundary, less N at the latest empty anchor, Ah.
        self._base_ah = 0.0
        #: What to add to a sample's step_ah for N since the empty anchor, in the present step.
        self._offset_ah = 0.0
        #: (discharge current A, chamber air °C) of the discharge that set the latest empty anchor.
        self._empty: tuple[float, float] | None = None
        self._full_ah = math.nan  # N at the latest full anchor, relative to the latest empty one
        self._refill_ah = math.nan  # empty -> full net charge before the present discharge
        self._out_ah = math.nan  # the latest full -> empty net discharge
        #: Net charge since the empty anchor above which acceptance trips (inf: no reference yet).
        self._limit_ah = math.inf
        #: What the per-sample comparison uses: the limit, or -inf to take the slow path once (the
        #: first sample of a step: its offset; a coulombic-efficiency trip to return).
        self._gate_ah = -math.inf
        self._pending: Trip | None = None
        #: Heat-balance limit and the cell / air sensors' tolerance, K: a low coulombic efficiency
        #: is a short only if the cell then shows heat at rest (plated lithium makes none).
        self.delta_k = delta_k
        self.tolerance_k = tolerance_k
        #: A low-efficiency cycle waiting for the rest after it to tell plating from a short.
        self._suspect: Trip | None = None
        self._judge: LastStretchJudge | None = None

    def applies(self, ctx: StepContext) -> bool:
        """At every step start: close the previous step (its charge, its anchors); run per sample
        in charging steps once there is a reference, in the next step while a
        coulombic-efficiency trip waits to be returned, and in the rest after a low-efficiency
        cycle (is the charge lost to a short, which heats the resting cell, or to plating?)."""
        last = ctx.last_sample
        if self._judge is not None and self._suspect is not None:  # that rest ended with the cell still warm
            self._pending = self._suspect if last is None else replace(self._suspect, time_s=last.time_s)
            self._suspect = None
        self._judge = None
        if last is not None:
            self._step_ended(last)
        kind = ctx.kind
        self._kind = "discharge" if kind == "cc" and ctx.current_a < 0 else kind
        self._gate_ah = -math.inf
        if self._suspect is not None:
            if ctx.driven:  # no rest to clear it: a charge lost is taken as a short
                self._pending, self._suspect = self._suspect, None
            else:
                self._judge = LastStretchJudge(self.delta_k, tolerance_k=self.tolerance_k)
                self._judge.start(ctx.start_s)
        charging = kind == "cv" or (kind == "cc" and ctx.current_a > 0)
        return (charging and self._limit_ah < math.inf) or self._pending is not None or self._judge is not None

    def check(self, sample: Sample) -> Trip | None:
        """Trip when the net charge since the empty anchor passes the limit."""
        if self._judge is not None:
            return self._judge_rest(sample)
        if self._offset_ah + sample.step_ah > self._gate_ah:
            return self._slow(sample)
        return None

    def _slow(self, sample: Sample) -> Trip | None:
        """The first sample of a step (its offset, a pending trip) or the limit passed."""
        if self._gate_ah == -math.inf:
            same = sample.step_count == self._count  # a pulse phase, or an EIS sweep, of one step
            self._offset_ah = self._base_ah - (self._counted_ah if same else 0.0)
            self._gate_ah = self._limit_ah
            pending = self._pending
            if pending is not None:
                self._pending = None
                return pending
        if self._offset_ah + sample.step_ah > self._limit_ah:
            return self._acceptance_trip(sample)
        return None

    def _judge_rest(self, sample: Sample) -> Trip | None:
        """In the rest after a low-efficiency cycle: a cell that cools to the air and does not warm
        has no short draining it (the charge went to plating or another side reaction)."""
        pending = self._pending
        if pending is not None:
            self._pending = None
            return pending
        judge, suspect = self._judge, self._suspect
        assert judge is not None
        judge.add(sample)
        verdict = judge.verdict
        if verdict is not None and suspect is not None:
            logger.warning("%s; but at rest the %s: charge lost without a short (lithium plating or another "
                           "side reaction), not a safety trip", suspect.message.split(":")[0], verdict.reason)
            self._suspect = self._judge = None
        return None

    def _acceptance_trip(self, sample: Sample) -> Trip:
        refill = self._offset_ah + sample.step_ah
        limit, self._limit_ah = self._limit_ah, math.inf  # once
        self._gate_ah = math.inf
        return Trip(self.name, sample.time_s,
                    f"{refill:.3f} Ah net charged since the cell was empty, more than the {self._out_ah:.3f} Ah it "
                    f"gave from full to empty (+{100 * self.tolerance:g} %): charge is not kept (internal short?)",
                    {"charge_since_empty_ah": refill, "discharge_full_to_empty_ah": self._out_ah, "limit_ah": limit})

    def _step_ended(self, last: Sample) -> None:
        """The step (or pulse phase) that ``last`` ended: its charge joins the base, then anchors."""
        if last.step_count == self._count:  # the same engine step goes on: add what it moved since
            self._base_ah += last.step_ah - self._counted_ah
        else:
            self._base_ah += last.step_ah
        self._count, self._counted_ah = last.step_count, last.step_ah
        kind = self._kind
        if kind == "discharge" and last.voltage_v <= self.voltage_min_v + self.anchor_v:
            self._at_empty(last)
        elif (kind == "cv" and last.voltage_v >= self.voltage_max_v - self.anchor_v
              and abs(last.current_a) <= self.full_current_a):
            self._at_full()

    def _at_full(self) -> None:
        self._full_ah = self._base_ah
        self._refill_ah = self._base_ah if self._empty is not None else math.nan
        self._limit_ah = math.inf

    def _at_empty(self, last: Sample) -> None:
        """Net charge is counted from here: out = N(full) - N(empty), relative to the last empty."""
        before = self._empty
        current, air = last.current_a, last.temperature_chamber_c
        out = self._full_ah - self._base_ah  # nan without a full anchor since the last empty one
        self._limit_ah = math.inf
        if out == out and out > 0:
            refill = self._refill_ah
            # the refill started at the empty state a discharge at this current and temperature leaves
            same = (before is not None and abs(current - before[0]) <= 0.1 * abs(before[0])
                    and not abs(air - before[1]) > SAME_AIR_K)
            if refill == refill and refill > 0 and same and out < refill * (1.0 - self.tolerance):
                # a short drains the cell and heats it at rest; plated lithium keeps the charge and
                # makes no heat: judged in the rest that follows (:meth:`applies`)
                self._suspect = Trip(
                    "internal_short_coulombic", last.time_s,
                    f"coulombic efficiency {out / refill:.3f}: {out:.3f} Ah out of {refill:.3f} Ah charged "
                    f"(limit {1 - self.tolerance:g}) and the cell not cooled to the air at rest after it: "
                    "charge lost inside the cell (internal short?)",
                    {"coulombic_efficiency": out / refill, "discharge_ah": out, "charge_ah": refill,
                     "limit": 1.0 - self.tolerance})
            self._out_ah = out
            self._limit_ah = out * (1.0 + self.tolerance) + 1e-3
        self._empty = (current, air)
        self._base_ah = 0.0
        self._counted_ah = last.step_ah  # the discharge's own charge is before the anchor
        self._full_ah = self._refill_ah = math.nan
