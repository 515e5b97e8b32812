"""The simulator's per-sample fast paths give the very floats of their general paths (sign of
zero included): the cell's parameter memo and rest step, the chamber's held-air step, the world's
one-step sync, and the front ends' sync hook.

Floats are compared by ``float.hex`` (``==`` does not tell -0.0 from 0.0, the wire text does).
"""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim_instruments.cell import PRESETS, CellModel, get_preset
from sim_instruments.cell.model import PARAM_STEP_K, PARAM_STEP_SOC
from sim_instruments.cell.voltage_hold import ZE_MAX
from sim_instruments.cyclers.keithley2460 import Keithley2460Sim
from sim_instruments.meters.keysight_daq970a import KeysightDaq970aSim
from sim_instruments.world.chamber_air import ChamberModel
from sim_instruments.world.clock import VirtualClock
from sim_instruments.world.sim_world import SimWorld
from tests.sim_instruments.test_cell_fast_path import (
    _reference_chamber_step,
    _reference_step,
    _snapshot,
)


def _bits(values: tuple[object, ...]) -> tuple[object, ...]:
    """``values`` with every float as its hex text (so -0.0 and 0.0 differ)."""
    return tuple(v.hex() if isinstance(v, float) else v for v in values)


def _forget_parameters(cell: CellModel) -> None:
    """Drop the parameter memo and the cached decay factors, then recompute from the state."""
    cell._param_tc = cell._param_soc = math.nan
    cell._decay_k = (-1.0,)
    cell._refresh()


# ----------------------------------------------------------------------------- cell
@settings(max_examples=60, deadline=None)
@given(
    preset=st.sampled_from(sorted(PRESETS)),
    soc=st.floats(-0.03, 1.1),
    temp=st.floats(-30.0, 80.0),
    steps=st.lists(st.tuples(st.sampled_from([0.5, 1.0, 1.0, 10.0]),
                             st.sampled_from([0.0, -0.0, 0.0, 1.0, -1.0, 0.3]),
                             st.sampled_from([-20.0, 25.0, 25.0])),
                   min_size=1, max_size=40),
)
def test_parameter_memo_and_rest_path_match_a_full_recomputation(
        preset: str, soc: float, temp: float, steps: list[tuple[float, float, float]]) -> None:
    """The memo holds the parameters of a full recomputation at its own point (param_tc,
    param_soc), which stays within PARAM_STEP_K / PARAM_STEP_SOC of the state; a cell that
    recomputes every step follows the same voltage and temperatures within 1 mV (x the
    electrolyte crowding) / 1 mK."""
    memo = CellModel(get_preset(preset), soc=soc, temperature_c=temp)
    plain = CellModel(get_preset(preset), soc=soc, temperature_c=temp)
    cap = memo.preset.capacity_ah
    for dt_s, rate, ambient_c in steps:
        memo.step(dt_s, rate * cap, ambient_c)
        _forget_parameters(plain)
        plain.step(dt_s, rate * cap, ambient_c)
        _forget_parameters(plain)
        assert abs(memo._tc - memo._param_tc) < PARAM_STEP_K
        assert abs(min(max(memo._soc, 0.0), 1.0) - memo._param_soc) < PARAM_STEP_SOC
        # (1 mV, x the electrolyte crowding 1/(1 - |z|): a collapsed cell, the depletion at its
        # guard, amplifies the memo's <= PARAM_STEP_SOC staleness up to 1000x)
        az = min(abs(memo._ze), ZE_MAX)
        assert memo.terminal_voltage_v(0.0) == pytest.approx(plain.terminal_voltage_v(0.0), abs=1e-3 / (1.0 - az))
        assert memo._tc == pytest.approx(plain._tc, abs=1e-3)
        # the memo's parameters are a full recomputation at its own point
        twin = CellModel(get_preset(preset), soc=soc, temperature_c=temp)
        twin.load_state(memo.state_dict())
        twin._tc, twin._soc = memo._param_tc, memo._soc if memo._param_soc == min(max(memo._soc, 0.0), 1.0) else memo._param_soc
        twin._front = memo._param_front
        _forget_parameters(twin)
        for name in ("_r0", "_rct", "_r2", "_r3", "_taud", "_ilim", "_sei_cal"):
            assert getattr(twin, name) == getattr(memo, name), name


def test_a_cold_soak_reuses_the_parameters_and_matches_the_reference() -> None:
    fast = CellModel(get_preset("nmc_21700"), soc=0.4, temperature_c=-20.0)
    ref = CellModel(get_preset("nmc_21700"), soc=0.4, temperature_c=-20.0)
    unchanged = 0
    for k in range(30000):  # a short pulse, then no current in a -20 °C chamber for 8 h
        current = -0.5 if k < 5 else (-0.0 if k % 2 else 0.0)
        tc = fast._tc
        fast.step(1.0, current, -20.0)
        _reference_step(ref, 1.0, current, -20.0)
        unchanged += fast._tc == tc
        assert _bits(_snapshot(fast)) == _bits(_snapshot(ref))
    assert unchanged > 1000  # the core settled (the memo was used) and the RC states decayed to 0


def test_the_rest_path_needs_positive_parameters() -> None:
    assert all(CellModel(get_preset(name))._advance_k[-1] for name in PRESETS)
    for field in ("r2_ohm", "diffusion_gain", "r_soc_low"):
        odd = dataclasses.replace(get_preset("nmc_21700"), **{field: -0.0})
        fast, ref = CellModel(odd, soc=0.5), CellModel(odd, soc=0.5)
        assert fast._advance_k[-1] is False
        for current in (-2.0, 0.0, -0.0, 0.0):
            fast.step(1.0, current, 10.0)
            _reference_step(ref, 1.0, current, 10.0)
            assert _bits(_snapshot(fast)) == _bits(_snapshot(ref))


# ----------------------------------------------------------------------------- chamber
@settings(max_examples=60, deadline=None)
@given(
    setpoint=st.sampled_from([25.0, 0.0, -0.0, -20.0, -75.0, 185.0, 22.0]),
    heat_w=st.sampled_from([0.0, -0.0, 0.0, 3.0]),
    running=st.booleans(), cannot_cool=st.booleans(),
    steps=st.lists(st.sampled_from([1.0, 1.0, 0.25, 10.0, 600.0]), min_size=1, max_size=30),
)
def test_held_air_step_is_bit_identical_to_the_reference(setpoint: float, heat_w: float,
                                                         running: bool, cannot_cool: bool,
                                                         steps: list[float]) -> None:
    fast = ChamberModel(air_c=setpoint, setpoint_c=setpoint, running=running)
    ref = ChamberModel(air_c=setpoint, setpoint_c=setpoint, running=running)
    fast.cannot_cool = ref.cannot_cool = cannot_cool
    for dt_s in steps:
        fast.step(dt_s, heat_w)
        _reference_chamber_step(ref, dt_s, heat_w)
        assert fast.air_c.hex() == ref.air_c.hex()


# ----------------------------------------------------------------------------- world
class _StepRecorder:
    """The CellModel interface of a cell that only records its steps (dt_s, current_a)."""

    def __init__(self) -> None:
        self.steps: list[tuple[float, float]] = []

    def step(self, dt_s: float, current_a: float, ambient_c: float) -> None:
        self.steps.append((dt_s, current_a))

    def terminal_voltage_v(self, current_a: float) -> float:
        return 3.7

    def current_for_voltage_a(self, voltage_v: float) -> float:
        return 0.0


class _MovingClock:
    """A clock that moves on every read (like a wall clock), by ``tick_s`` seconds."""

    def __init__(self, tick_s: float) -> None:
        self.t = 0.0
        self.tick_s = tick_s

    def now_s(self) -> float:
        self.t += self.tick_s
        return self.t


def test_sync_steps_one_interval_at_once_and_splits_longer_ones_by_output_state() -> None:
    clock = VirtualClock()
    cell = _StepRecorder()
    world = SimWorld(clock, [cell], ChamberModel())  # type: ignore[list-item]
    for dt_s, expected in ((1.0, [1.0]), (0.5, [0.5]), (25.0, [25.0 / 3] * 3)):
        cell.steps.clear()
        clock.sleep(dt_s)
        assert world.sync() == clock.now_s()
        assert [dt for dt, _ in cell.steps] == expected
    source = world.channels[0].source
    source.output_on, source.current_a, source.voltage_limit_v = True, -1.0, 4.2
    cell.steps.clear()
    clock.sleep(25.0)
    world.sync()
    assert cell.steps == [(1.0, -1.0)] * 25


def test_sync_reads_the_clock_once_and_covers_exactly_that_instant() -> None:
    clock = _MovingClock(0.25)
    cell = _StepRecorder()
    world = SimWorld(clock, [cell], ChamberModel())  # type: ignore[list-item]
    synced = world.now_s
    for _ in range(5):
        now = world.sync()
        assert world.now_s == now == clock.t  # the instant read is the one synced to
        assert sum(dt for dt, _ in cell.steps) == now - synced
        cell.steps.clear()
        synced = now


def test_front_ends_sync_the_world_before_every_line() -> None:
    clock = VirtualClock()
    world = SimWorld.single_cell(clock, seed=0)
    keithley, daq = Keithley2460Sim(world), KeysightDaq970aSim(world)
    for frontend, line in ((keithley, "*IDN?"), (daq, "*IDN?"), (keithley, ":NOPE"), (daq, ":NOPE")):
        clock.sleep(2.0)
        frontend.handle_line(line)
        assert world.now_s == clock.now_s()
    assert [code for code, _ in keithley.errors] == [-113] == [code for code, _ in daq.errors]


# ----------------------------------------------------------------------------- wire text
_EDGES = [0.0, -0.0, 1.0, -1.0, 0.99999995, 0.9999999999, 9.999999, 9.9999989999999, 9.99999949999,
          9.9999995, 9.99999950001, -9.9999995, -9.999999, 4.2, -5.0, 2.5, 5e-324, 1e300,
          math.nan, math.inf, -math.inf]


@settings(max_examples=300, deadline=None)
@given(reading=st.one_of(st.sampled_from(_EDGES), st.floats(-12.0, 12.0), st.floats()),
       source=st.one_of(st.sampled_from(_EDGES), st.floats(-12.0, 12.0), st.floats()))
def test_keithley_read_text_is_the_e_format_of_both_values(reading: float, source: float) -> None:
    world = SimWorld.single_cell(VirtualClock(), seed=0)
    keithley = Keithley2460Sim(world)
    world.measure = lambda _channel: (reading, source)  # type: ignore[method-assign]
    assert keithley.handle_line(':READ? "defbuffer1", READ, SOUR') == f"{reading:+.6E},{source:+.6E}"
