"""Replaying a current or power profile (``Replay`` steps), a collaborator of the engine.

The profile is a zero-order hold (:class:`protocols.steps.ReplaySpec`): the value of a breakpoint
holds until the next one. The engine asks :meth:`ReplayFollower.deadline` for the next sample
time, so a sample falls on every breakpoint (as a pulse train's phase boundaries); at each sample
:meth:`ReplayFollower.update` sets the value of the segment the step time is in and measures
again, so the charge count integrates the new current from the breakpoint on (the integral of a
replay matches the profile's).

Power profiles: the cyclers the bench drives are set in current, so the bench closes the power
loop itself at the sample rate: I = P / V of the latest measurement, corrected once more at each
breakpoint after the current steps (the voltage sags with the load), clamped to the cell's
maximum current. The report's conditions say so (``power_loop``).

Units: s, A (+ = charge), W, V. It works on the engine through
:class:`bench.engine.services.EngineServices` and never imports the engine.
"""

from __future__ import annotations

import math

from bench.engine.counters import _StepState
from bench.engine.services import EngineServices
from bench.engine.setpoints import clamp
from bench.sample import Sample
from protocols.steps import ReplaySpec, Step

#: How the bench follows a power profile (recorded in the step's end event and the report).
POWER_LOOP = "closed by the bench at the sample rate: I = P / V of the last measurement (the cycler has no power mode)"


class ReplayFollower:
    """Follows one Replay step's profile (see the module docstring)."""

    __slots__ = ("_engine", "spec", "times", "values", "duration", "power", "_segment", "_end_i",
                 "limit_a", "limit_v")

    def __init__(self, engine: EngineServices, step: Step) -> None:
        assert step.replay is not None
        self._engine = engine
        spec: ReplaySpec = step.replay
        self.spec = spec
        self.times = spec.times_s
        self.values = spec.values
        self.duration = spec.duration_s
        self.power = spec.kind == "power"
        self._segment = -1
        self._end_i = len(self.times) - 1
        cell = engine.protocol.cell
        self.limit_a = cell.current_max_a
        ends = [c.value for c in step.until if c.quantity == "voltage_v" and c.op == ">="]
        self.limit_v = min([cell.voltage_max_v] + ends)

    def conditions(self) -> dict[str, object]:
        """How this profile is replayed (the report's conditions): JSON-safe."""
        spec = self.spec
        unit = "A" if spec.kind == "current" else "W"
        out: dict[str, object] = {
            "profile": spec.describe(), "file": spec.path, "kind": spec.kind,
            "scaling": (f"peak {spec.scale_value:g} {unit}" if spec.scaling == "peak" else f"factor {spec.scale_value:g}"),
            "duration_s": self.duration, "repeat": spec.repeat, "discharge_only": spec.discharge_only,
            f"peak_{unit.lower()}": round(spec.peak(), 6), f"mean_{unit.lower()}": round(spec.mean(), 6),
            "source": spec.provenance or "not stated in the file",
            "hold": "zero-order hold, a sample on every breakpoint",
        }
        if self.power:
            out["power_loop"] = POWER_LOOP
        return out

    def profile_time(self, step_time_s: float) -> float:
        """Time within the profile, s (wrapped for a repeated profile)."""
        if self.spec.repeat and step_time_s >= self.duration:
            return step_time_s % self.duration
        return step_time_s

    def segment_at(self, t: float) -> int:
        """Index of the held segment at profile time ``t`` (searched from the last one)."""
        times, i = self.times, self._segment
        if i < 0 or t < times[i] - 1e-9:
            i = 0
        end = self._end_i
        while i + 1 < end and times[i + 1] <= t + 1e-9:
            i += 1
        return i

    def current_for(self, value: float, voltage_v: float) -> float:
        """The cycler current for a profile value (A as is; W over the voltage), clamped, A."""
        if self.power:
            value = value / max(voltage_v, 0.1)
        return clamp(value, self.limit_a)

    def start(self) -> None:
        """Apply the first segment's setpoint (the step's applier)."""
        engine = self._engine
        self._segment = 0
        voltage = engine.last.voltage_v if engine.last is not None else engine.protocol.cell.voltage_max_v
        engine.bench.cycler.set_current(self.current_for(self.values[0], voltage), self.limit_v)

    def update(self, state: _StepState, sample: Sample) -> None:
        """Per sample: the segment's setpoint (power: also the new voltage's current)."""
        i = self.segment_at(self.profile_time(sample.step_time_s))
        engine = self._engine
        cycler = engine.bench.cycler
        if i != self._segment:
            self._segment = i
            cycler.set_current(self.current_for(self.values[i], sample.voltage_v), self.limit_v)
            self._remeasure()
            if self.power and engine.last is not None:  # the voltage sagged with the new current
                cycler.set_current(self.current_for(self.values[i], engine.last.voltage_v), self.limit_v)
                self._remeasure()
        elif self.power:
            cycler.set_current(self.current_for(self.values[i], sample.voltage_v), self.limit_v)

    def _remeasure(self) -> None:
        """After a setpoint change: measure again at the same instant (as the pulse trains do), so
        the charge count integrates the new current from the breakpoint, not a trapezoid across it."""
        engine = self._engine
        last = engine.last
        if last is None:
            return
        voltage, current = engine.bench.cycler.measure()
        engine.last = Sample(last.time_s, voltage, current, last.temperature_cell_c, last.temperature_chamber_c,
                             last.step_index, last.step_count, last.cycle)

    def deadline(self, state: _StepState, deadline: float) -> float:
        """``deadline`` (clock s), or earlier so that a sample falls on the next breakpoint."""
        engine = self._engine
        offset = engine.t0 + state.start_s + state.offset_s
        now_t = engine.bench.clock.now_s() - offset
        base = 0.0
        t = now_t
        if self.spec.repeat and now_t >= self.duration:
            base = math.floor(now_t / self.duration + 1e-12) * self.duration
            t = now_t - base
        i = self.segment_at(t)
        boundary = base + self.times[i + 1]
        if boundary <= now_t + 1e-9:  # on a breakpoint already: the one after it
            boundary = base + (self.times[i + 2] if i + 2 <= self._end_i else self.duration)
        return min(deadline, boundary + offset)
