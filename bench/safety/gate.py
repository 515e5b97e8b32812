"""The quiet box: which rules provably cannot trip on a sample, so the supervisor skips them.

A rule may offer a *quiet box* with ``quiet_box(sample)``: closed bounds on a few fields of a
sample (:data:`FIELDS`) such that, for ANY later sample inside every bound, the rule's
``check`` returns None and leaves the rule's state unchanged (it is a pure bound check there).
``None`` means "no such box now" (the rule is mid-persistence, waits for a first reading, ...):
the rule then runs on every sample. The box is computed from the rule's state after a sample it
has seen (``sample``: that sample, so a box may be centred on it).

:class:`QuietBox` intersects the boxes of the step's rules. Per sample the supervisor asks
:meth:`QuietBox.holds`: inside the intersection, only the rules without a box run (the others
cannot trip, by their box's contract); outside it, or when no box is armed (the first sample of
every step: :meth:`QuietBox.disarm` at each step start and when a rule is added), every rule
runs in the usual order and the box is re-armed from the rules' new state. So a rule is skipped
only on a sample it could not have tripped on, and re-examined on the first sample that leaves
its box, or of a new step (a resumed run starts with a new supervisor: unarmed).

A NaN reading is never inside a bound (every comparison with NaN is false): a sample with a lost
sensor runs every rule. Only fields some box bounds are read. Units: those of
:class:`bench.sample.Sample` (s, V, A, °C, Ah).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from operator import ge, itemgetter, le
from typing import Any

from bench.sample import Sample

#: The sample fields a quiet box may bound, by name: their index in :class:`bench.sample.Sample`.
FIELDS = {"time_s": 0, "voltage_v": 1, "current_a": 2, "temperature_cell_c": 3, "temperature_chamber_c": 4,
          "step_time_s": 8, "step_ah": 9}

#: A quiet box: field name -> (low, high), both included; a field left out is unbounded.
Box = dict[str, tuple[float, float]]

def above(x: float) -> float:
    """The smallest float above ``x``: ``x < v`` is ``above(x) <= v``."""
    return math.nextafter(x, math.inf)


def below(x: float) -> float:
    """The largest float below ``x``: ``v < x`` is ``v <= below(x)``."""
    return math.nextafter(x, -math.inf)


def _inside(box: Box, sample: Sample) -> bool:
    """Whether ``sample`` lies inside ``box`` (NaN: never)."""
    return all(low <= sample[FIELDS[name]] <= high for name, (low, high) in box.items())


class QuietBox:
    """The intersection of the active rules' quiet boxes (see the module docstring)."""

    __slots__ = ("armed", "always", "get", "lows", "highs", "above", "below")

    def __init__(self) -> None:
        #: True while a box is armed (then :meth:`holds` may be True).
        self.armed = False
        #: The bound ``check`` of each rule without a box, in the rules' order.
        self.always: list[Callable[[Sample], Any]] = []
        #: The bounded fields of a sample (a tuple), their lower and upper bounds (see :meth:`holds`).
        self.get: Callable[[Sample], Any] = itemgetter(0, 0)
        self.lows: tuple[float, ...] = ()
        self.highs: tuple[float, ...] = ()
        #: ``above(values)``: each value >= its low bound; ``below(values)``: <= its high bound
        #: (maps over the bounds in C: the supervisor's per-sample test, see :meth:`holds`).
        self.above: Callable[[Any], Iterator[bool]] = partial(map, le, ())
        self.below: Callable[[Any], Iterator[bool]] = partial(map, ge, ())

    def disarm(self) -> None:
        """Every rule runs on the next sample (a step starts, a rule was added)."""
        self.armed = False

    def holds(self, sample: Sample) -> bool:
        """True when ``sample`` lies inside the armed box: the boxed rules cannot trip on it."""
        if not self.armed:
            return False
        values = self.get(sample)
        # compared field by field in C: a few bytecodes whatever the number of bounds
        # (Supervisor.check runs the same test inline: it is on the per-sample path)
        return all(self.above(values)) and all(self.below(values))

    def arm(self, rules: Sequence[Any], sample: Sample) -> None:
        """Arm the box from ``rules`` (the active rules, in order) after they all checked ``sample``."""
        bounds: dict[int, list[float]] = {}
        always = []
        for rule in rules:
            quiet = getattr(rule, "quiet_box", None)
            box = quiet(sample) if quiet is not None else None
            if box is None or not _inside(box, sample):
                # no box, or one this very sample is outside (it would fail again at once): runs
                always.append(rule.check)
                continue
            for name, (low, high) in box.items():
                index = FIELDS[name]
                now = bounds.setdefault(index, [-math.inf, math.inf])
                now[0] = max(now[0], low)
                now[1] = min(now[1], high)
        self.always = always
        if len(always) == len(rules):  # no rule has a box: nothing to skip
            self.armed = False
            return
        # only the bounded fields are read (an unbounded NaN field must not open the box)
        keys = sorted(i for i, (low, high) in bounds.items() if low > -math.inf or high < math.inf) or [0]
        keys = keys * 2 if len(keys) == 1 else keys  # itemgetter of one index gives no tuple
        self.lows = tuple(bounds.get(i, (-math.inf, 0.0))[0] for i in keys)
        self.highs = tuple(bounds.get(i, (0.0, math.inf))[1] for i in keys)
        self.get = itemgetter(*keys)
        self.above = partial(map, le, self.lows)  # low <= value
        self.below = partial(map, ge, self.highs)  # high >= value
        self.armed = True
