"""One acquired sample as it flows: driver -> supervisor -> end conditions -> run file."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Sample:
    """Everything measured and counted at one instant. Units in the names; current + = charge.

    ``charge_ah`` / ``discharge_ah`` / ``charge_wh`` / ``discharge_wh`` count within the cycle;
    ``step_ah`` is the net charge moved in the present step (signed).
    """

    time_s: float
    voltage_v: float
    current_a: float
    temperature_cell_c: float
    temperature_chamber_c: float
    step_index: int
    step_count: int
    cycle: int
    step_time_s: float = 0.0
    step_ah: float = 0.0
    step_wh: float = 0.0
    charge_ah: float = 0.0
    discharge_ah: float = 0.0
    charge_wh: float = 0.0
    discharge_wh: float = 0.0
    soc: float = float("nan")

    @property
    def power_w(self) -> float:
        """Instantaneous power, W (+ = into the cell)."""
        return self.voltage_v * self.current_a
