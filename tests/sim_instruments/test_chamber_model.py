"""Tests of the thermal chamber air model (sim_instruments.world.chamber_air)."""

from __future__ import annotations

import pytest

from sim_instruments.world.chamber_air import LAB_TEMPERATURE_C, ChamberModel


def _run(chamber: ChamberModel, seconds: float, dt_s: float = 1.0, heat_w: float = 0.0) -> list[float]:
    trace = []
    for _ in range(int(round(seconds / dt_s))):
        chamber.step(dt_s, heat_w)
        trace.append(chamber.air_c)
    return trace


def test_cooling_ramps_at_the_rate_limit_then_settles_without_overshoot() -> None:
    ch = ChamberModel(air_c=25.0)
    ch.setpoint_c = -20.0
    trace = _run(ch, 300.0)
    assert trace[-1] == pytest.approx(25.0 - 3.0 * 5.0, abs=0.01)  # 3 K/min for 5 min
    trace += _run(ch, 3600.0)
    assert min(trace) >= -20.5
    assert ch.air_c == pytest.approx(-20.0, abs=0.05)


def test_heating_rate_limit_and_no_overshoot() -> None:
    ch = ChamberModel(air_c=-20.0)
    ch.setpoint_c = 60.0
    trace = _run(ch, 600.0)
    assert trace[-1] == pytest.approx(-20.0 + 4.0 * 10.0, abs=0.01)
    trace += _run(ch, 3600.0)
    assert max(trace) <= 60.5
    assert ch.air_c == pytest.approx(60.0, abs=0.05)


@pytest.mark.parametrize("dt_s", [0.001, 8.0, 60.0, 600.0])
def test_result_does_not_depend_on_step_size(dt_s: float) -> None:
    reference = ChamberModel(air_c=25.0, setpoint_c=-10.0)
    _run(reference, 1200.0, 1.0)
    ch = ChamberModel(air_c=25.0, setpoint_c=-10.0)
    if dt_s < 0.01:
        _run(ch, 1.0, dt_s)
        _run(ch, 1199.0, 1.0)
    else:
        _run(ch, 1200.0, dt_s)
    assert ch.air_c == pytest.approx(reference.air_c, abs=1e-6)


def test_setpoint_is_clamped_to_the_chamber_range() -> None:
    ch = ChamberModel(air_c=25.0, min_c=-40.0, max_c=150.0)
    ch.setpoint_c = -90.0
    _run(ch, 7200.0, 10.0)
    assert ch.air_c == pytest.approx(-40.0, abs=0.05)


def test_stopped_chamber_drifts_slowly_to_lab_temperature() -> None:
    ch = ChamberModel(air_c=-20.0)
    ch.running = False
    _run(ch, 600.0, 10.0)
    assert -20.0 < ch.air_c < -10.0  # slow: well under half way in 10 min
    _run(ch, 8 * 3600.0, 60.0)
    assert ch.air_c == pytest.approx(LAB_TEMPERATURE_C, abs=0.5)


def test_cell_heat_load_shifts_the_air_a_little_when_held_and_more_when_stopped() -> None:
    held = ChamberModel(air_c=25.0)
    _run(held, 1800.0, 10.0, heat_w=100.0)
    stopped = ChamberModel(air_c=22.0, running=False)
    _run(stopped, 8 * 3600.0, 60.0, heat_w=100.0)
    assert 25.0 < held.air_c < 25.5
    assert stopped.air_c > LAB_TEMPERATURE_C + 3.0


def test_fail_stuck_freezes_the_air() -> None:
    ch = ChamberModel(air_c=25.0)
    ch.setpoint_c = 80.0
    _run(ch, 60.0)
    frozen = ch.air_c
    ch.fail_stuck()
    _run(ch, 600.0)
    assert ch.air_c == frozen


def test_fail_cannot_cool_warms_towards_lab_but_can_still_heat() -> None:
    ch = ChamberModel(air_c=-20.0)
    ch.fail_cannot_cool()
    trace = _run(ch, 1800.0, 5.0)
    assert all(b >= a for a, b in zip(trace, trace[1:], strict=False))
    assert ch.air_c > -15.0  # drifting up, cannot hold -20 °C
    ch.setpoint_c = 40.0
    _run(ch, 1800.0, 5.0)
    assert ch.air_c == pytest.approx(40.0, abs=0.1)
    ch.setpoint_c = 30.0  # above the lab: only passive cooling, and the heater holds 30 °C
    _run(ch, 20 * 3600.0, 60.0)
    assert ch.air_c == pytest.approx(30.0, abs=0.1)


def test_state_round_trip() -> None:
    a = ChamberModel(air_c=25.0, setpoint_c=-5.0)
    _run(a, 400.0)
    a.fail_cannot_cool()
    b = ChamberModel()
    b.load_state(a.state_dict())
    assert b.state_dict() == a.state_dict()
    _run(a, 300.0)
    _run(b, 300.0)
    assert a.air_c == b.air_c
