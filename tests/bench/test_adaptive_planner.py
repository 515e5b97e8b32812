"""The stride planner's rules on synthetic readings (bench/engine/adaptive.py), no simulation: a
smooth bend shortens the stride in proportion, a break in a rate goes back to the period, and
within a threshold's margin the stride still never covers more than a third of the distance left
beyond the noise allowance (every period within that allowance). Units: s, V, A, °C."""

from __future__ import annotations

import math
from collections.abc import Callable

from bench.engine.adaptive import MARGIN_V, NEAR, SAFETY, StridePlanner
from bench.engine.counters import _StepState
from bench.sample import Sample
from bench.simulated.builtin_bench import cell_datasheet
from protocols.loader import parse_protocol

PROTOCOL = """\
name: planner_rules
cell: {preset: nmc_21700}
sampling: {period_s: 2}
steps:
  - Charge at 0.5C until 4.2 V
"""


def _drive(voltage: Callable[[float], float], until_s: float) -> list[tuple[float, float, float]]:
    """Run a planner over a CC charge whose voltage is ``voltage(t)``: (t, V, next stride) per sample."""
    protocol = parse_protocol(PROTOCOL, cell_defaults=cell_datasheet)
    planner = StridePlanner(protocol.limits, protocol.cell.capacity_ah)
    step = protocol.steps[0]
    planner.begin(step, 2.0)
    state = _StepState(start_s=0.0)
    out, t = [], 0.0
    while t <= until_s:
        sample = Sample(t, voltage(t), 2.5, 25.0, 25.0, 0, 1, 0, step_time_s=t)
        stride = planner.next_s(sample, state)
        out.append((t, sample.voltage_v, stride))
        t += stride
    return out


def test_a_smooth_bend_shortens_the_stride_instead_of_restarting_from_the_period():
    # a slow wave on a rising voltage (10 mV, 20 min: the OCV curve's bumps): over 2-min strides
    # the line through two samples misses it by up to ~4 mV, more than the 3 mV tolerance and less
    # than 3 of them (a bend, not a break)
    run = _drive(lambda t: 3.7 + 2e-5 * t + 0.01 * math.sin(2.0 * math.pi * t / 1200.0), 6000.0)
    strides = [s for _, _, s in run[3:]]
    assert max(strides) >= 60.0
    shortened = [b for a, b in zip(strides, strides[1:], strict=False) if b < a]
    assert shortened, "the bend never shortened a stride"
    assert min(strides) > 2.0  # never back to the period: no break


def test_a_break_in_a_rate_goes_back_to_the_period():
    # a 20 mV step down at 3,000 s (a fault's signature): the sample after it is one period on
    run = _drive(lambda t: 3.7 + 2e-5 * t - (0.02 if t >= 3000.0 else 0.0), 4000.0)
    first_after = next(k for k, (t, _, _) in enumerate(run) if t >= 3000.0)
    assert run[first_after - 1][2] > 2.0  # it was striding
    assert run[first_after][2] == 2.0


def test_within_the_margin_a_stride_covers_at_most_a_third_of_the_distance_beyond_the_noise():
    rate = 2e-4  # V/s, a CC charge's last millivolts
    run = _drive(lambda t: 4.17 + rate * t, 150.0)
    allowance = NEAR * MARGIN_V
    inside = [(t, v, s) for t, v, s in run[3:] if 4.2 - v <= MARGIN_V]
    assert any(s > 2.0 for _, _, s in inside)  # strides within the margin (was: every period)
    for _, v, s in inside:
        clear = 4.2 - v - allowance
        if clear <= 0.0:
            assert s == 2.0
        else:
            assert rate * s <= clear / SAFETY + 1e-9 or s == 2.0
