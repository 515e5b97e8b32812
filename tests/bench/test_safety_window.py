"""The supervisor's operating-window rule: charge / discharge temperature windows and the charge
current maximum of the cell, on every sample of a driven step."""

from __future__ import annotations

import math

from bench.safety.rules import StepContext
from bench.safety.supervisor import Supervisor
from bench.safety.window import OperatingWindowRule
from bench.sample import Sample
from protocols.steps import CellSpec, Limits, Protocol, Step

CELL = CellSpec(capacity_ah=10.0, voltage_max_v=4.25, voltage_min_v=3.0, current_max_a=20.0, current_max_charge_a=5.0,
                temperature_min_charge_c=10.0, temperature_max_c=80.0, temperature_min_discharge_c=-10.0)


def _sample(current_a: float, temperature_c: float) -> Sample:
    return Sample(time_s=1.0, voltage_v=3.8, current_a=current_a, temperature_cell_c=temperature_c,
                  temperature_chamber_c=temperature_c, step_index=0, step_count=1, cycle=1)


def test_charge_and_discharge_windows_with_sensor_tolerance() -> None:
    rule = OperatingWindowRule(StepContext(driven=True), CELL, tolerance_k=1.0)
    assert rule.check(_sample(2.0, 9.5)) is None          # within the 1 K tolerance of 10 °C
    trip = rule.check(_sample(2.0, 8.0))
    assert trip is not None and trip.rule == "operating_window" and "charge window" in trip.message
    assert rule.check(_sample(-5.0, 8.0)) is None         # discharging at 8 °C: allowed down to -10 °C
    trip = rule.check(_sample(-5.0, -12.0))
    assert trip is not None and "discharge window" in trip.message and trip.values["limit"] == -11.0
    assert rule.check(_sample(-5.0, 82.0)) is not None    # above the maximum temperature
    assert rule.check(_sample(0.0, -40.0)) is None        # no current: nothing to judge
    assert rule.check(_sample(2.0, math.nan)) is None     # sensor loss is its own rule
    trip = rule.check(_sample(5.5, 25.0))
    assert trip is not None and "above the cell's maximum charge current 5 A" in trip.message


def test_unstated_windows_are_not_enforced_and_the_rule_runs_only_in_driven_steps() -> None:
    bare = CellSpec(capacity_ah=5.0, voltage_max_v=4.2, voltage_min_v=2.5, current_max_a=7.0, temperature_max_c=60.0)
    rule = OperatingWindowRule(StepContext(driven=True), bare)
    assert rule.check(_sample(3.0, -30.0)) is None and rule.check(_sample(-3.0, -30.0)) is None
    protocol = Protocol(name="p", steps=(), cell=CELL, limits=Limits(4.3, 2.9, 21.0))
    supervisor = Supervisor.for_protocol(protocol)
    supervisor.begin_step(Step(kind="rest", text="Rest for 1 hour", duration_s=3600.0), 0.0)
    assert not any(isinstance(r, OperatingWindowRule) for r in supervisor.active_rules)
    supervisor.begin_step(Step(kind="cc", text="Charge at 0.5C for 1 hour", current_a=5.0, duration_s=3600.0), 0.0)
    assert any(isinstance(r, OperatingWindowRule) for r in supervisor.active_rules)
