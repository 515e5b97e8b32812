"""Record by change: which acquired samples become ``/samples`` rows (``sampling: record_when:``,
:mod:`protocols.recording`).

The engine acquires every period and the supervisor checks every sample; a
:class:`ChangeRecorder` then writes a sample only when, since the last recorded row, the voltage,
the current or the cell temperature moved by the rule's amount, or the rule's longest gap
passed (Maccor / Arbin ΔV, ΔI, ΔT, Δt logging). Always recorded, whatever moved:

* a step's first sample (its step count differs from the last recorded row's);
* a step's last sample and up to :data:`KEPT_BEFORE_END` samples before it (:meth:`keep`, called
  by the engine at a step's end, before :mod:`bench.engine.crossing` reads them back, so the
  interpolated voltage crossing is the one a fixed-rate run finds);
* the sample of a safety trip or limit crossing and the ones held before it (:meth:`keep`);
* the sample before a current step (the current moved by the criterion within one sample: a
  pulse's edge, a setpoint change), so a pulse's resistance (V at its end - V before it) is read
  from the samples a fixed-rate run has;
* anything written directly (observation windows, EIS, pause: :meth:`keep` first, so rows stay
  in time order).

The decision is made one sample late: the newest sample is held undecided (``tail``) until the
next one arrives or the step ends, so a step's ending sample is always written. Capacity and
energy stay exact on the sparse rows: every row carries the engine's counters (Ah / Wh
integrated at the acquisition rate, :meth:`bench.engine.core.Engine.acquire`), never a sum over
rows. Row fields (``SAMPLE_COLUMNS``): 0 test time s, 2 voltage V, 3 current A, 6 step count,
13 cell temperature °C.
"""

from __future__ import annotations

import math
from typing import Protocol

from protocols.recording import RecordRule

#: Unrecorded samples written before a step's last sample when the step ends (the crossing of a
#: voltage limit reads the ending sample and the two before it).
KEPT_BEFORE_END = 2
#: The row before the first: every criterion differs from it (step count -1).
_NO_ROW: tuple = (-math.inf, 0.0, math.nan, math.nan, 0.0, -1, -1, -1) + (math.nan,) * 7


class RowSink(Protocol):
    """Where rows go (:class:`bench.runfile.writer.RunWriter`)."""

    def append_sample_row(self, row: tuple) -> None: ...


class ChangeRecorder:
    """Writes a sample row through ``writer.append_sample_row`` when the ``rule`` says it changed.

    ``rated_current_a``: the cell's 1C current, A (the floor of a ``%`` current criterion).
    :meth:`offer` runs for every sample (a few comparisons); :meth:`keep` at a step's end and on
    trips."""

    __slots__ = ("_before", "_before2", "_di_abs", "_di_rel", "_dt", "_dv", "_every", "_ref", "_tail", "rule",
                 "writer")

    def __init__(self, rule: RecordRule, writer: RowSink, rated_current_a: float) -> None:
        self.rule = rule
        self.writer = writer
        self._dv = rule.voltage_v
        self._dt = rule.temperature_k
        self._every = rule.every_s
        # |ΔI| >= di_abs and >= di_rel * |I_ref|: an absolute criterion, or a fraction of the
        # recorded current floored at the same fraction of the 1C current (a rest at 0 A is not all noise)
        if math.isfinite(rule.current_fraction):
            self._di_rel = rule.current_fraction
            self._di_abs = rule.current_fraction * abs(rated_current_a)
        else:
            self._di_rel = 0.0
            self._di_abs = rule.current_a
        self._ref: tuple = _NO_ROW
        self._tail: tuple | None = None
        self._before: tuple | None = None
        self._before2: tuple | None = None

    def offer(self, row: tuple) -> None:
        """One acquired sample's row: decides on the previous one (held until now), holds this one."""
        tail = self._tail
        self._tail = row
        if tail is None:
            return
        ref = self._ref
        if (tail[6] != ref[6] or tail[0] - ref[0] >= self._every or abs(tail[2] - ref[2]) >= self._dv
                or ((di := abs(tail[3] - ref[3])) >= self._di_abs and di >= self._di_rel * abs(ref[3]))
                or abs(tail[13] - ref[13]) >= self._dt):
            before = self._before
            if (before is not None and (di := abs(tail[3] - before[3])) >= self._di_abs
                    and di >= self._di_rel * abs(before[3])):
                self.writer.append_sample_row(before)  # a current step (setpoint change): its edge
            self._ref = tail
            self._before = self._before2 = None
            self.writer.append_sample_row(tail)
        else:
            self._before2 = self._before
            self._before = tail

    def keep(self) -> None:
        """Write what is held (the newest sample and up to :data:`KEPT_BEFORE_END` unrecorded ones
        before it, oldest first): at a step's end, a trip, or before a row written directly."""
        tail = self._tail
        if tail is None:
            return
        append = self.writer.append_sample_row
        for row in (self._before2, self._before):
            if row is not None:
                append(row)
        append(tail)
        self._ref = tail
        self._tail = self._before = self._before2 = None


def recorder_for(rule: RecordRule | None, writer: RowSink, rated_current_a: float) -> ChangeRecorder | None:
    """The protocol's recorder; None when every sample is recorded (no ``record_when``)."""
    return None if rule is None else ChangeRecorder(rule, writer, rated_current_a)
