"""Where a step crossed the voltage limit it ended on, and the charge counted past it.

The engine samples every period, so a step that ends on "until 2.5 V" ends on the first sample
at (or, within :data:`bench.engine.end_conditions.VOLTAGE_TOLERANCE_V`, just short of) the
limit: its counted Ah overshoots the capacity to the limit by up to one sample period of current
(10 s at C/3 on a 5 Ah cell: 4.6 mAh, 0.09 %), which is the resolution a fade measurement would
otherwise have. Here the crossing time is found from the step's last samples and the capacity is
taken there, so it no longer depends on the sample period:

* the voltage went through the limit between the last two samples (a discharge to its cut-off:
  the instrument's voltage limit is the cell's maximum, so nothing clamps it): the crossing is
  interpolated linearly between them (measured on nmc_21700 at C/3 and 1C, periods 5, 10 and
  20 s: the capacities agree within 0.01 %; a quadratic through three samples overshoots the knee
  at 20 s by 0.3 s, 0.03 %);
* the instrument held the voltage at the limit (a charge whose voltage limit is the step's end
  voltage: the source goes into compliance, the current falls and the reading sits at the
  limit): the last sample is no longer on the CC trajectory, so the crossing is extrapolated
  from the samples before it, while the current was still the setpoint;
* the step ended within the tolerance short of the limit: the crossing is extrapolated forward
  from the last two samples, at most one period (the capacity to the limit, slightly more than
  was counted).

Up to the crossing the current is taken linear between the samples around it (in compliance it
stays the setpoint), so the charge to the crossing is a trapezoid. Units: s, V, A, Ah, Wh.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from protocols.steps import EndCondition

#: A step's last sample counts as in compliance (voltage held by the instrument) when its current
#: magnitude fell below this fraction of the sample's before it.
COMPLIANCE_CURRENT_FRACTION = 0.95
#: Samples the crossing is found from (the ending sample and the two before it).
SAMPLES_NEEDED = 3

TIME, VOLTAGE, CURRENT = "Test Time / s", "Voltage / V", "Current / A"
STEP, STEP_AH = "Step Count / 1", "Step Capacity / Ah"
CHARGE_WH, DISCHARGE_WH = "Charging Energy / Wh", "Discharging Energy / Wh"


@dataclass(frozen=True)
class Crossing:
    """The crossing of a step's ending voltage limit.

    ``time_s``: test time of the crossing; ``past_ah`` / ``past_wh``: net charge and energy
    (signed, + = into the cell) counted from the crossing to the step's last sample (negative
    when the crossing was extrapolated past the last sample). The step's capacity at the
    crossing is its counted net charge minus ``past_ah``."""

    time_s: float
    past_ah: float
    past_wh: float


#: Step kinds whose voltage ending is taken at the crossing (a steady current or power; a pulse
#: train's ending sample may sit in either phase, a CV or a rest does not cross a voltage limit).
CROSSING_KINDS = ("cc", "cp")


def step_crossing(kind: str, ended_on: EndCondition | None, recent: Callable[[int], np.ndarray],
                  step_count: int) -> Crossing | None:
    """The crossing of the voltage condition ``ended_on`` that ended a ``kind`` step, from the
    run file's last rows (``recent``: :meth:`bench.runfile.writer.RunWriter.recent_samples`);
    None for other endings, kinds, or too few samples."""
    if ended_on is None or ended_on.quantity != "voltage_v" or kind not in CROSSING_KINDS:
        return None
    rows = recent(SAMPLES_NEEDED)
    if len(rows) == 0:
        return None
    return find_crossing(rows[rows[STEP] == step_count], ended_on.value, ended_on.op == ">=")


def find_crossing(rows: np.ndarray, limit_v: float, rising: bool) -> Crossing | None:
    """The crossing of ``limit_v`` (``rising``: a ``>=`` condition) in a step's last ``rows``
    (/samples rows of that one step, oldest first: at least the ending sample and the one
    before it). None when the rows do not show one (too few, or no current flowing)."""
    if len(rows) < 2:
        return None
    t = np.asarray(rows[TIME], dtype=float)
    v = np.asarray(rows[VOLTAGE], dtype=float)
    i = np.asarray(rows[CURRENT], dtype=float)
    q = np.asarray(rows[STEP_AH], dtype=float)
    e = np.asarray(rows[CHARGE_WH], dtype=float) - np.asarray(rows[DISCHARGE_WH], dtype=float)
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(v)) and np.all(np.isfinite(i))) or np.any(np.diff(t) <= 0):
        return None
    sign = 1.0 if rising else -1.0
    g = sign * (v - limit_v)  # >= 0 at or past the limit
    t0, t1, v0, v1, i0, i1 = t[-2], t[-1], v[-2], v[-1], i[-2], i[-1]
    if abs(i0) < 1e-9:
        return None
    compliance = abs(i1) < COMPLIANCE_CURRENT_FRACTION * abs(i0) and g[-1] >= -1e-3
    if compliance:
        if len(t) < 3 or g[-2] >= 0:
            return None
        crossing = _extrapolate(t[-3], t[-2], v[-3], v[-2], limit_v, t1)
        i_cross = i0  # the setpoint held until the instrument's limit took over
    elif g[-1] >= 0 and g[-2] < 0:
        crossing = t0 + (limit_v - v0) / (v1 - v0) * (t1 - t0)
        i_cross = i0 + (i1 - i0) * (crossing - t0) / (t1 - t0)
    elif g[-1] < 0:  # ended within the tolerance short of the limit: extrapolate, one period at most
        crossing = _extrapolate(t0, t1, v0, v1, limit_v, t1 + (t1 - t0), floor=t1)
        dt_h = (crossing - t1) / 3600.0
        return Crossing(float(crossing), float(-i1 * dt_h), float(-0.5 * (v1 + limit_v) * i1 * dt_h))
    else:
        return None
    dt_h = (crossing - t0) / 3600.0
    q_cross = q[-2] + 0.5 * (i0 + i_cross) * dt_h
    e_cross = e[-2] + 0.5 * (v0 * i0 + limit_v * i_cross) * dt_h
    return Crossing(float(crossing), float(q[-1] - q_cross), float(e[-1] - e_cross))


def _extrapolate(ta: float, tb: float, va: float, vb: float, limit_v: float, latest: float,
                 floor: float | None = None) -> float:
    """Time the line through (ta, va), (tb, vb) reaches ``limit_v``, within [floor or tb, latest]."""
    low = tb if floor is None else floor
    if vb == va:
        return latest
    reach = tb + (limit_v - vb) / (vb - va) * (tb - ta)
    return float(min(max(reach, low), latest))
