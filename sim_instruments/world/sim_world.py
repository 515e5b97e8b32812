"""The one physical world shared by every simulated instrument of a bench.

Chamber air -> cell surface -> cell core -> resistance -> terminal voltage. Each cycler channel
owns a cell and a source state (what the instrument's output stage is doing). Physics advances
lazily: every front end calls :meth:`SimWorld.sync` before it answers, which integrates the models
from the last sync up to ``clock.now_s()`` with the controls held constant in between (the
instruments' settings are piecewise constant between commands).

Units: seconds, amps (positive = charging the cell), volts, °C.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sim_instruments.cell import CellModel, get_preset
from sim_instruments.world.chamber_air import ChamberModel
from sim_instruments.world.long_steps import note_hold_step, step_bound_s

logger = logging.getLogger(__name__)

#: Longest physics step while an output is on, seconds (the cell models are exact for constant
#: current; the step bounds how late a compliance transition is noticed).
MAX_STEP_OUTPUT_ON_S = 1.0
#: Longest physics step while every output is off, seconds.
MAX_STEP_OUTPUT_OFF_S = 10.0
#: Charging on a current within this many volts below the voltage limit, the output stage checks
#: whether the step would end above the limit (then the step already regulates the voltage: the
#: CC phase ends at the limit instead of overshooting it by one step's rise), V.
LOOKAHEAD_V = 0.05
#: A sinking output tests its voltage limit exactly only when the limit is within this many volts
#: above the last step's terminal voltage, V: while sinking a cell's voltage falls; it rises between
#: two steps only by a smaller discharge current's I·R0 (4 A less on 0.05 ohm: 0.2 V).
SINK_GUARD_V = 0.25


class Clock(Protocol):
    """What the world needs of a clock: seconds since start."""

    def now_s(self) -> float: ...


@dataclass
class SourceState:
    """The output stage of a source/measure cycler channel, as the instrument holds it.

    ``function`` is ``"CURR"`` (force current, voltage limited to ``voltage_limit_v``) or
    ``"VOLT"`` (force voltage, current limited to ``current_limit_a``). Protection: the output trips
    off when the terminal voltage passes ``overvoltage_v`` or the current magnitude passes
    ``overcurrent_a`` (``None`` = not set).
    """

    output_on: bool = False
    function: str = "CURR"
    current_a: float = 0.0
    voltage_v: float = 0.0
    voltage_limit_v: float = 21.0
    current_limit_a: float = 0.1
    power_w: float | None = None
    overvoltage_v: float | None = None
    overcurrent_a: float | None = None
    in_compliance: bool = False
    protection_tripped: str = ""
    #: Largest current magnitude the output stage can drive, A (``None``: unbounded); reached
    #: when a voltage limit below the cell's voltage makes the stage sink more than programmed.
    current_max_a: float | None = None
    #: The voltage limit bounds |V| whatever the current's sign (a four-quadrant SMU); False: it
    #: bounds the voltage only while the stage pushes current into the cell (a supply's source side).
    limit_both_ways: bool = False
    #: Latest applied current and terminal voltage, for measurements.
    actual_current_a: float = 0.0
    actual_voltage_v: float = 0.0


@dataclass
class SimChannel:
    """One cell on one cycler channel, with its output stage and its temperature sensor state."""

    cell: CellModel
    source: SourceState = field(default_factory=SourceState)
    thermocouple_open: bool = False
    #: Extra Joule heat into the chamber air from this cell, W (informational).
    heat_w: float = 0.0
    #: Long-step mode only (sim_instruments/world/long_steps.py ``note_hold_step``): the last
    #: voltage-hold step (mean current A, length s, held voltage V, end time s), and the lead (A)
    #: its reading at that end time takes, as (end time s, lead A).
    hold_step: tuple[float, float, float, float] | None = None
    hold_lead: tuple[float, float] | None = None

    def applied_current_a(self, dt_s: float = 0.0) -> float:
        """Current the output stage drives into the cell (A, + = charge): right now (``dt_s`` = 0,
        what a reading sees), or the one it holds over the next physics step of ``dt_s`` seconds.
        Where the stage regulates a voltage (CV, or a current in compliance) the step's current
        is the one that leaves that voltage at the end of the step (the cell's implicit
        ``current_for_voltage_a(v, dt_s)``): a regulating loop does not overshoot, whatever the
        step and however the cell's charge-transfer resistance compares with its R0.

        Forcing current, the terminal voltage may not pass the voltage limit while the stage
        charges the cell: the current tapers (CV) as the cell's voltage rises to it. With
        ``limit_both_ways`` (a source/measure unit, whose voltage limit bounds the output in every
        quadrant) also while it sinks: a limit at or below the cell's voltage is held, the stage
        sinking what that takes, up to ``current_max_a`` (the Keithley manuals' sink-operation
        caution: set the voltage limit above the external source's voltage, or more current flows
        than programmed), and the limit reads as tripped. A limit above the cell's voltage is never
        reached while discharging: the voltage falls.
        """
        src = self.source
        if not src.output_on:
            src.in_compliance = False
            return 0.0
        cell = self.cell
        function = src.function
        if function == "VOLT":
            current = cell.current_for_voltage_a(src.voltage_v, dt_s)
            limit = abs(src.current_limit_a)
            src.in_compliance = abs(current) > limit
            return max(-limit, min(limit, current))
        if function == "POW" and src.power_w is not None:
            voltage = max(cell.terminal_voltage_v(0.0), 0.05)
            current = src.power_w / voltage
        else:
            current = src.current_a
        limit_v = abs(src.voltage_limit_v)
        if current > 0.0:
            v = cell.terminal_voltage_v(current)
            # the limit is reached now, or (looked at only near it) by the end of the step
            if v > limit_v or (v > limit_v - LOOKAHEAD_V and dt_s > 0.0
                               and cell.voltage_after_v(dt_s, current) > limit_v):
                src.in_compliance = True
                # (a source in compliance lowers its current, never raises it past the setpoint)
                return max(0.0, min(current, cell.current_for_voltage_a(limit_v, dt_s)))
        elif limit_v < src.actual_voltage_v + SINK_GUARD_V and src.limit_both_ways:
            # Sinking with the limit near or below the cell's voltage (the last step's voltage
            # tells, within SINK_GUARD_V): the exact test, and the limit held if it is passed.
            if cell.terminal_voltage_v(current) > limit_v:
                src.in_compliance = True
                current = cell.current_for_voltage_a(limit_v, dt_s)
                cap = src.current_max_a
                return current if cap is None or current >= -cap else -cap
        src.in_compliance = False
        return current


class SimWorld:
    """Chamber air, cells and clock of one simulated bench, shared by all its instruments.

    Thread-safe: TCP front ends may call from several threads; a lock serialises physics.
    """

    def __init__(self, clock: Clock, cells: list[CellModel], chamber: ChamberModel) -> None:
        self.clock = clock
        self.channels = [SimChannel(cell=cell) for cell in cells]
        self.chamber = chamber
        self.lock = threading.RLock()
        self._synced_s = clock.now_s()
        #: Callables run at every sync with (world, now_s): fault schedules, scripted events.
        self.hooks: list[Callable[[SimWorld, float], None]] = []
        #: Longest physics step where one step is exact (:mod:`sim_instruments.world.long_steps`),
        #: s; None: the fixed bounds (set when the controller samples in long strides).
        self.long_step_s: float | None = None

    @classmethod
    def single_cell(
        cls,
        clock: Clock,
        preset: str = "nmc_21700",
        soc: float = 0.5,
        temperature_c: float = 25.0,
        seed: int | None = 0,
        channels: int = 1,
        cell_factory: Callable[..., Any] | None = None,
    ) -> SimWorld:
        """A world with ``channels`` identical cells of ``preset`` in one chamber at ``temperature_c``.

        ``cell_factory(preset, soc=, temperature_c=, seed=)`` builds each cell (default
        :class:`CellModel`); any object with the CellModel interface works, e.g. the PyBaMM cell.
        """
        factory = CellModel if cell_factory is None else cell_factory
        cells = [
            factory(get_preset(preset), soc=soc, temperature_c=temperature_c,
                    seed=None if seed is None else seed + n)
            for n in range(channels)
        ]
        return cls(clock, cells, ChamberModel(air_c=temperature_c))

    @property
    def now_s(self) -> float:
        """Simulated seconds of the last sync."""
        return self._synced_s

    def sync(self) -> float:
        """Advance all physics to the clock's present time; returns that time in seconds."""
        # Fast path without the lock when no time has passed (every query after the first of a
        # sample). Race-free: ``_synced_s`` is only written under the lock, *after* the physics
        # up to it is complete (one attribute store, atomic under the GIL), so a caller that sees
        # ``clock.now_s() - _synced_s <= 0`` knows the state already covers its instant, as the
        # locked check would tell it. The one difference: it does not wait for another thread
        # that is mid-sync to a later instant; but the state was never read under the lock after
        # sync() returned either, so callers that need a consistent snapshot hold ``lock`` around
        # the whole command (the TCP line servers do).
        target = self.clock.now_s()  # read once: the instant this call syncs to
        synced = self._synced_s
        if target - synced <= 0.0:
            return synced
        lock = self.lock
        lock.acquire()  # (explicit acquire/release: half the cost of ``with`` here)
        try:
            remaining = target - self._synced_s  # another thread may have synced meanwhile
            if remaining <= 0.0:
                return self._synced_s
            if self.hooks:
                for hook in self.hooks:
                    hook(self, target)
            if remaining <= MAX_STEP_OUTPUT_ON_S:
                # One step whatever the outputs (the per-sample case: no search for the step
                # length; ``remaining / 1`` is ``remaining``, so the result is the same).
                self._step(remaining)
            else:
                max_step = MAX_STEP_OUTPUT_OFF_S
                for channel in self.channels:
                    if channel.source.output_on:
                        max_step = MAX_STEP_OUTPUT_ON_S
                        break
                if self.long_step_s is not None:
                    max_step = step_bound_s(self.channels, remaining, self.long_step_s, max_step)
                steps = 1 if remaining <= max_step else math.ceil(remaining / max_step - 1e-9)
                dt = remaining / steps
                if self.long_step_s is None:
                    for _ in range(steps):
                        self._step(dt)
                else:
                    start = self._synced_s
                    for k in range(1, steps + 1):
                        self._step(dt)
                        note_hold_step(self.channels, dt, target if k == steps else start + k * dt)
            self._synced_s = target
            return target
        finally:
            lock.release()

    def _step(self, dt: float) -> None:
        """One physics step of ``dt`` seconds (lock held): every channel's cell under its output
        stage (then its protection), then the chamber air, with the controls held."""
        air_c = self.chamber.air_c
        for channel in self.channels:
            current = channel.applied_current_a(dt)
            cell = channel.cell
            src = channel.source
            src.actual_current_a = current
            cell.step(dt, current, air_c)
            # the voltage at the end of the step: what the protection checks, and the latest
            voltage = src.actual_voltage_v = cell.terminal_voltage_v(current)
            if src.output_on and (src.overvoltage_v is not None or src.overcurrent_a is not None):
                _check_protection(src, voltage, current)
        self.chamber.step(dt)

    def use_long_steps(self, longest_s: float) -> None:
        """Integrate quiet stretches in physics steps of up to ``longest_s`` s where one step is
        exact (:mod:`sim_instruments.world.long_steps`; the controller samples them in long
        strides), and read a voltage hold's current at the end of its long step, not the step's
        mean (:func:`~sim_instruments.world.long_steps.note_hold_step`). Only here is ``measure``
        replaced: the fixed-step path keeps its own."""
        self.long_step_s = longest_s
        self.measure = self._measure_long  # type: ignore[method-assign]  # per-instance: long-step mode

    def _measure_long(self, channel: int = 0) -> tuple[float, float]:
        """:meth:`measure` in long-step mode: a voltage hold's reading at the end of a long step
        takes the lead :func:`~sim_instruments.world.long_steps.note_hold_step` left for that instant."""
        voltage, current = SimWorld.measure(self, channel)
        ch = self.channels[channel]
        lead = ch.hold_lead
        if lead is not None and lead[0] == self._synced_s and lead[1] != 0.0:
            src = ch.source
            step = ch.hold_step
            # still the hold that step was (the output may have changed at this very instant)
            if (src.output_on and src.function == "VOLT" and not src.in_compliance and step is not None
                    and step[2] == src.voltage_v):
                current += lead[1]  # (the held voltage reads as it is; the state is not changed)
        return voltage, current

    def measure(self, channel: int = 0) -> tuple[float, float]:
        """Sync, then return the (voltage_v, current_a) a meter on ``channel`` reads now, with noise."""
        if self.clock.now_s() - self._synced_s > 0.0:  # else sync() would return at once
            self.sync()
        ch = self.channels[channel]
        current = ch.applied_current_a()
        ch.source.actual_current_a = current
        return ch.cell.measured_voltage_v(current), current

    def cell_truth(self, channel: int = 0) -> dict[str, float]:
        """Ground truth of one cell for tests (no instrument reports it): anode potential vs Li
        at the present current (V), plated / dead / SEI lithium (Ah), aged capacity (Ah),
        resistance growth factor, equivalent cycles. Cells without an ageing model give {}."""
        with self.lock:
            ch = self.channels[channel]
            cell = ch.cell
            if not hasattr(cell, "ageing_state"):
                return {}
            return {
                "anode_potential_v": cell.anode_potential_v(ch.source.actual_current_a),
                "plated_lithium_ah": cell.plated_lithium_ah,
                "dead_lithium_ah": cell.dead_lithium_ah,
                "sei_lithium_ah": cell.sei_lithium_ah,
                "capacity_ah": cell.aged_capacity_ah,
                "resistance_factor": cell.resistance_factor,
                "equivalent_cycles": cell.equivalent_cycles,
            }

    def ageing_states(self) -> list[Any]:
        """The :class:`~sim_instruments.cell.degradation.AgeingState` of every cell (to carry the
        cells to the next run, see :mod:`sim_instruments.cell.state_file`)."""
        with self.lock:
            if not all(hasattr(ch.cell, "ageing_state") for ch in self.channels):
                raise ValueError("this cell backend carries no ageing state (use the ecm backend)")
            return [ch.cell.ageing_state() for ch in self.channels]

    def load_ageing_states(self, states: list[Any]) -> None:
        """Continue every cell from a saved ageing state (one per channel, or one for all)."""
        with self.lock:
            if not all(hasattr(ch.cell, "load_ageing_state") for ch in self.channels):
                raise ValueError("this cell backend carries no ageing state (use the ecm backend)")
            if len(states) not in (1, len(self.channels)):
                raise ValueError(f"{len(states)} cell states for {len(self.channels)} channels")
            for n, channel in enumerate(self.channels):
                channel.cell.load_ageing_state(states[n if len(states) > 1 else 0])

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to restore the world after a crash (for ``bench resume``)."""
        with self.lock:
            return {
                "time_s": self._synced_s,
                "chamber": self.chamber.state_dict(),
                "cells": [ch.cell.state_dict() for ch in self.channels],
            }

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore the physical state saved by :meth:`state_dict` (outputs stay off)."""
        with self.lock:
            self.chamber.load_state(state["chamber"])
            for channel, cell_state in zip(self.channels, state["cells"], strict=True):
                channel.cell.load_state(cell_state)
            self._synced_s = self.clock.now_s()


def _check_protection(src: SourceState, voltage_v: float, current_a: float) -> None:
    """Trip the output (OVP, then OCP) if the terminal voltage ``voltage_v`` (V, at the end of the
    step) or the current ``current_a`` (A) passes the set protection level."""
    ovp = src.overvoltage_v
    if ovp is not None and voltage_v > ovp:
        src.output_on = False
        src.protection_tripped = "OVP"
        logger.info("simulated cycler output tripped: OVP at %.3f V", voltage_v)
    elif src.overcurrent_a is not None and abs(current_a) > src.overcurrent_a:
        src.output_on = False
        src.protection_tripped = "OCP"
        logger.info("simulated cycler output tripped: OCP at %.3f A", current_a)
