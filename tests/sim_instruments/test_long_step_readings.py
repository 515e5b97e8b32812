"""Long physics steps (sim_instruments/world/long_steps.py) read as the short steps do.

Two worlds hold the same cell through the same protocol, one integrated in the usual 1 s steps,
the other in long-step mode, and are read at the same instants as an adaptive run reads them
(strides of 10-120 s). Claims: a voltage hold's current read at the end of a long step is the
current at that instant (the 1 s world's reading), not the mean the step held, so the trapezoid of
the readings is the charge the cell took; a CC charge near full reads the 1 s world's voltage.
Virtual clock, production world and cell model. Units: s, V, A, Ah.
"""

from __future__ import annotations

from sim_instruments.world.clock import VirtualClock
from sim_instruments.world.sim_world import SimWorld

#: 0.5C of the nmc_21700 preset, A; its charge voltage, V.
CC_A = 2.5
VMAX = 4.2
#: Sample strides of an adaptive CV hold and CC charge, s (as bench/engine/adaptive.py picks them).
STRIDES = (10.0, 20.0, 10.0, 20.0, 40.0, 80.0, 120.0, 120.0, 60.0, 30.0, 30.0, 120.0, 120.0, 120.0, 120.0)


def _world(long_steps: bool, soc: float) -> SimWorld:
    world = SimWorld.single_cell(VirtualClock(), preset="nmc_21700", soc=soc, temperature_c=25.0, seed=0)
    if long_steps:
        world.use_long_steps(120.0)
    return world


def _charge_current(world: SimWorld, limit_v: float = VMAX + 0.2) -> None:
    src = world.channels[0].source
    src.function, src.current_a, src.voltage_limit_v, src.output_on = "CURR", CC_A, limit_v, True


def _hold(world: SimWorld) -> None:
    src = world.channels[0].source
    src.function, src.voltage_v, src.current_limit_a, src.output_on = "VOLT", VMAX, 5.0, True


def _advance(world: SimWorld, stride_s: float) -> tuple[float, float]:
    clock = world.clock
    clock.set_now(clock.now_s() + stride_s)
    return world.measure(0)


def _charge_into_compliance(world: SimWorld) -> None:
    """CC at 0.5C, limited at VMAX, until the limit takes over (as a CC-CV charge reaches its hold)."""
    _charge_current(world, VMAX)
    while world.measure(0)[1] > 0.999 * CC_A:
        _advance(world, 10.0)


def test_a_holds_readings_after_long_steps_are_the_current_at_that_instant():
    worlds = [_world(False, 0.85), _world(True, 0.85)]
    for world in worlds:
        _charge_into_compliance(world)
        _hold(world)
    charge = [0.0, 0.0]
    cell_ah = [w.channels[0].cell._soc for w in worlds]
    last = [w.measure(0)[1] for w in worlds]
    for stride in STRIDES:
        readings = [_advance(w, stride)[1] for w in worlds]
        short, long_ = readings
        # the current at the instant: within 1 % of the 1 s world's (measured <= 0.72 %; read as the
        # mean the step held, 2-3 % high: the readings lagged the hold by half a step)
        assert abs(long_ / short - 1.0) < 0.01, (stride, short, long_)
        for k in (0, 1):
            charge[k] += 0.5 * (last[k] + readings[k]) * stride / 3600.0
        last = readings
    capacity_ah = worlds[0].channels[0].cell.preset.capacity_ah
    took = [(w.channels[0].cell._soc - s0) * capacity_ah for w, s0 in zip(worlds, cell_ah, strict=True)]
    # what the readings integrate to is what the cell took, as closely in long steps as in 1 s steps
    assert abs(charge[1] - took[1]) < max(0.5e-3, 2.0 * abs(charge[0] - took[0])), (charge, took)


def test_a_cc_charge_near_full_in_long_steps_reads_the_short_steps_voltage():
    worlds = [_world(False, 0.6), _world(True, 0.6)]
    for world in worlds:
        _charge_current(world)
    while True:
        v_short, v_long = (_advance(w, 120.0)[0] for w in worlds)
        if v_short > VMAX - 0.02:
            break
        # 120 s steps took R2's near-full factor at the step's starting SOC: 7 mV low at 4.19 V
        assert abs(v_long - v_short) < 0.0015, (v_short, v_long)
