"""The cycler's setpoints for each step kind, a collaborator of the engine: CC and pulses (current
with a voltage limit), CV (voltage with a current limit), CP (the current for the power at the
last voltage, updated every sample). Currents in A (+ = charge), voltages in V, power in W.

It works on the engine through :class:`bench.engine.services.EngineServices` and never imports
the engine.
"""

from __future__ import annotations

from collections.abc import Callable

from bench.engine.services import EngineServices
from bench.sample import Sample
from protocols.steps import Step


class Setpoints:
    """Applies a step's cycler setpoints (see the module docstring)."""

    def __init__(self, engine: EngineServices) -> None:
        self._engine = engine

    def appliers(self) -> dict[str, Callable[[Step], None]]:
        """Step kind -> applier; kinds not listed turn the output off."""
        return {"cc": self.apply_current, "pulse": self.apply_current, "cv": self.apply_voltage,
                "cp": self.apply_power}

    def apply_current(self, step: Step) -> None:
        """CC and pulse steps: the current, with a voltage limit at the cell's maximum (charge:
        or the step's lower ending voltage)."""
        engine = self._engine
        cell = engine.protocol.cell
        current = float(step.current_a or 0.0)
        limit_v = cell.voltage_max_v
        if current > 0:
            ends = [c.value for c in step.until if c.quantity == "voltage_v"]
            limit_v = min([cell.voltage_max_v] + ends)
        engine.bench.cycler.set_current(current, limit_v)

    def apply_voltage(self, step: Step) -> None:
        """CV steps. The hold charges when its voltage is above the cell's: then the charge rating
        limits the current; never more than the instrument can force."""
        engine = self._engine
        cell = engine.protocol.cell
        cycler = engine.bench.cycler
        hold_v = float(step.voltage_v or 0.0)
        charging = engine.last is None or hold_v >= engine.last.voltage_v
        limit_a = cell.charge_current_max_a if charging else cell.current_max_a
        instrument_max_a = getattr(cycler, "current_range_a", (0.0, limit_a))[1]
        cycler.set_voltage(hold_v, min(limit_a, instrument_max_a))

    def apply_power(self, step: Step) -> None:
        """CP steps: the current for the power at the last voltage (updated every sample)."""
        engine = self._engine
        cell = engine.protocol.cell
        voltage = engine.last.voltage_v if engine.last else cell.voltage_max_v
        current = float(step.power_w or 0.0) / max(voltage, 0.1)
        engine.bench.cycler.set_current(clamp(current, cell.current_max_a), cell.voltage_max_v)

    def update_power(self, step: Step, sample: Sample) -> None:
        """A CP step's current for the power at this sample's voltage."""
        engine = self._engine
        cell = engine.protocol.cell
        current = float(step.power_w or 0.0) / max(sample.voltage_v, 0.1)
        engine.bench.cycler.set_current(clamp(current, cell.current_max_a), cell.voltage_max_v)


def clamp(current_a: float, limit_a: float) -> float:
    """``current_a`` within ±``limit_a``."""
    return max(-limit_a, min(limit_a, current_a))
