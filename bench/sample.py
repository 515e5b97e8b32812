"""One acquired sample as it flows: driver -> supervisor -> end conditions -> run file."""

from __future__ import annotations

from typing import NamedTuple


class Sample(NamedTuple):
    """Everything measured and counted at one instant. Units in the names; current + = charge.

    ``charge_ah`` / ``discharge_ah`` / ``charge_wh`` / ``discharge_wh`` count within the cycle;
    ``step_ah`` is the net charge moved in the present step (signed).

    Immutable. A named tuple rather than a dataclass: the engine builds one per acquired sample
    with :func:`new_sample` (``tuple.__new__``), which runs no Python ``__init__`` (16 field
    stores); fields read as attributes as before.
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


#: ``new_sample(Sample, (time_s, voltage_v, ..., soc))``: a Sample from all 16 fields in order
#: (``Sample._make`` without its length check; the per-sample path passes a literal tuple).
new_sample = tuple.__new__
