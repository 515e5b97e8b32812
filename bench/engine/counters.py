"""What the engine counts: per-cycle and per-step charge, energy and temperatures.

Both survive a crash: :meth:`to_json` goes into the run file's journal, :meth:`from_json`
restores them in ``bench resume``. Ah and Wh are magnitudes; the net step values are signed
(+ = into the cell). Times are test time in seconds.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from protocols.plan import StepResult


def _num(value: Any) -> float:
    """JSON null -> NaN."""
    return math.nan if value is None else float(value)


def _json(value: float) -> float | None:
    """NaN / inf -> JSON null."""
    return value if math.isfinite(value) else None


@dataclass
class _Counters:
    """Counters of the present cycle, and the SOC estimate (fraction; NaN = unknown)."""

    charge_ah: float = 0.0
    discharge_ah: float = 0.0
    charge_wh: float = 0.0
    discharge_wh: float = 0.0
    cycle: int = 0
    soc: float = math.nan
    cycle_start_s: float = 0.0
    cycle_steps: int = 0
    t_max: float = -math.inf
    first_step_count: int = 0

    def new_cycle(self, cycle: int, start_s: float, step_count: int) -> None:
        """Reset the cycle counters for ``cycle`` starting at ``start_s``."""
        self.cycle = cycle
        self.charge_ah = self.discharge_ah = self.charge_wh = self.discharge_wh = 0.0
        self.cycle_start_s = start_s
        self.cycle_steps = 0
        self.t_max = -math.inf
        self.first_step_count = step_count

    def cycle_row(self, end_s: float, status: str) -> tuple:
        """The ``/cycles`` row of the present cycle (see bench.runfile.layout.CYCLE_DTYPE)."""
        ce = self.discharge_ah / self.charge_ah if self.charge_ah > 0 else math.nan
        ee = self.discharge_wh / self.charge_wh if self.charge_wh > 0 else math.nan
        return (self.cycle, self.cycle_start_s, end_s, self.charge_ah, self.discharge_ah, self.charge_wh,
                self.discharge_wh, ce, ee, self.t_max if self.t_max > -math.inf else math.nan,
                self.first_step_count, self.cycle_steps, status)

    def to_json(self) -> dict[str, Any]:
        """Journal form."""
        return {"cycle": self.cycle, "charge_ah": self.charge_ah, "discharge_ah": self.discharge_ah,
                "charge_wh": self.charge_wh, "discharge_wh": self.discharge_wh, "soc": _json(self.soc),
                "cycle_start_s": self.cycle_start_s, "cycle_steps": self.cycle_steps,
                "t_max": _json(self.t_max), "first_step_count": self.first_step_count}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _Counters:
        """Restore from :meth:`to_json`."""
        t_max = data.get("t_max")
        return cls(charge_ah=float(data["charge_ah"]), discharge_ah=float(data["discharge_ah"]),
                   charge_wh=float(data["charge_wh"]), discharge_wh=float(data["discharge_wh"]),
                   cycle=int(data["cycle"]), soc=_num(data.get("soc")),
                   cycle_start_s=float(data.get("cycle_start_s", 0.0)), cycle_steps=int(data.get("cycle_steps", 0)),
                   t_max=-math.inf if t_max is None else float(t_max),
                   first_step_count=int(data.get("first_step_count", 0)))


@dataclass
class _StepState:
    """One step in progress. Step time = now - start_s - offset_s (``offset_s``: time paused
    by the operator, or lost to an interruption, which the step's time limit does not count)."""

    start_s: float
    offset_s: float = 0.0
    charge_ah: float = 0.0
    discharge_ah: float = 0.0
    charge_wh: float = 0.0
    discharge_wh: float = 0.0
    net_ah: float = 0.0
    net_wh: float = 0.0
    voltage_start_v: float = math.nan
    t_max: float = -math.inf
    t_min: float = math.inf
    held_since: dict[int, float] = field(default_factory=dict)
    temps: deque[tuple[float, float]] = field(default_factory=deque)
    pulse_on: bool = True

    def result(self, reason: str, end_s: float, voltage_end_v: float, current_end_a: float,
               extra: dict[str, float] | None = None) -> StepResult:
        """The finished step's result, as the plan (loop conditions, records) sees it."""
        return StepResult(
            end_reason=reason, start_time_s=self.start_s, end_time_s=end_s, charge_ah=self.charge_ah,
            discharge_ah=self.discharge_ah, charge_wh=self.charge_wh, discharge_wh=self.discharge_wh,
            voltage_start_v=self.voltage_start_v, voltage_end_v=voltage_end_v, current_end_a=current_end_a,
            temperature_max_c=self.t_max if self.t_max > -math.inf else math.nan,
            temperature_min_c=self.t_min if self.t_min < math.inf else math.nan, extra=extra or {})

    def at_crossing(self, past_ah: float, past_wh: float) -> _StepState:
        """A copy whose Ah / Wh stop where the step crossed its ending voltage limit: ``past_ah``
        / ``past_wh`` (signed, + = into the cell) counted after the crossing come off the side
        the step moved charge on (see :mod:`bench.engine.crossing`)."""
        out = replace(self, held_since=dict(self.held_since), temps=deque(self.temps))
        if self.net_ah >= 0:
            out.charge_ah = max(0.0, self.charge_ah - past_ah)
        else:
            out.discharge_ah = max(0.0, self.discharge_ah + past_ah)
        if self.net_wh >= 0:
            out.charge_wh = max(0.0, self.charge_wh - past_wh)
        else:
            out.discharge_wh = max(0.0, self.discharge_wh + past_wh)
        out.net_ah, out.net_wh = self.net_ah - past_ah, self.net_wh - past_wh
        return out

    def to_json(self) -> dict[str, Any]:
        """Journal form (the dT/dt window is not kept: it refills within 30 s)."""
        return {"start_s": self.start_s, "offset_s": self.offset_s, "charge_ah": self.charge_ah,
                "discharge_ah": self.discharge_ah, "charge_wh": self.charge_wh, "discharge_wh": self.discharge_wh,
                "net_ah": self.net_ah, "net_wh": self.net_wh, "voltage_start_v": _json(self.voltage_start_v),
                "t_max": _json(self.t_max), "t_min": _json(self.t_min),
                "held_since": {str(k): v for k, v in self.held_since.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _StepState:
        """Restore from :meth:`to_json`."""
        t_max, t_min = data.get("t_max"), data.get("t_min")
        return cls(start_s=float(data["start_s"]), offset_s=float(data.get("offset_s", 0.0)),
                   charge_ah=float(data["charge_ah"]), discharge_ah=float(data["discharge_ah"]),
                   charge_wh=float(data["charge_wh"]), discharge_wh=float(data["discharge_wh"]),
                   net_ah=float(data["net_ah"]), net_wh=float(data["net_wh"]),
                   voltage_start_v=_num(data.get("voltage_start_v")),
                   t_max=-math.inf if t_max is None else float(t_max),
                   t_min=math.inf if t_min is None else float(t_min),
                   held_since={int(k): float(v) for k, v in (data.get("held_since") or {}).items()})


def integrate(counters: _Counters, state: _StepState, last_time_s: float, last_voltage_v: float,
              last_current_a: float, now: float, voltage: float, current: float, capacity_ah: float) -> None:
    """Add the charge (Ah) and energy (Wh) between the previous sample (``last_*``) and this one
    (test time ``now`` s, ``voltage`` V, ``current`` A, + into the cell) to the cycle's
    ``counters`` and the step's ``state`` (trapezoid rule; magnitudes by direction, net signed),
    and move the SOC estimate by the charge over ``capacity_ah``. The one integration of the live
    engine (:meth:`bench.engine.core.Engine.acquire`) and of a delegated run's records
    (:mod:`bench.delegated.tracker`)."""
    dt_h = (now - last_time_s) / 3600.0
    d_ah = 0.5 * (current + last_current_a) * dt_h
    d_wh = 0.5 * (current * voltage + last_current_a * last_voltage_v) * dt_h
    if d_ah >= 0:
        counters.charge_ah += d_ah
        state.charge_ah += d_ah
    else:
        counters.discharge_ah -= d_ah
        state.discharge_ah -= d_ah
    if d_wh >= 0:
        counters.charge_wh += d_wh
        state.charge_wh += d_wh
    else:
        counters.discharge_wh -= d_wh
        state.discharge_wh -= d_wh
    state.net_ah += d_ah
    state.net_wh += d_wh
    counters.soc += d_ah / capacity_ah


def result_from_step_row(row: dict[str, Any]) -> StepResult:
    """A ``/steps`` row (as :class:`bench.runfile.reader.RunFile` gives it) as a StepResult, for replay."""
    return StepResult(
        end_reason=row["end_reason"], start_time_s=row["start_time_s"], end_time_s=row["end_time_s"],
        charge_ah=row["charge_ah"], discharge_ah=row["discharge_ah"], charge_wh=row["charge_wh"],
        discharge_wh=row["discharge_wh"], voltage_start_v=row["voltage_start_v"], voltage_end_v=row["voltage_end_v"],
        current_end_a=row["current_end_a"], temperature_max_c=row["temperature_max_c"],
        temperature_min_c=row["temperature_min_c"])
