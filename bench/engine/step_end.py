"""What a finished step leaves behind besides its row: the SOC anchor of a full charge or a full
discharge, and the ``soak_out_of_band`` event of a soak that ended off its setpoint."""

from __future__ import annotations

import json
import logging
from typing import Any

from bench.engine.end_conditions import soak_out_of_band
from bench.sample import Sample
from protocols.steps import CellSpec, EndCondition, Step

logger = logging.getLogger(__name__)


def soc_anchor(step: Step, ended_on: EndCondition | None, cell: CellSpec) -> float | None:
    """1.0 after a Hold at the maximum voltage that ended on its current, 0.0 after a CC
    discharge that ended on the minimum voltage, else None. Only the end condition that actually
    ended the step anchors: a Hold that ended on "80 % SOC" or on time is not a full charge."""
    if (step.kind == "cv" and ended_on is not None and ended_on.quantity == "current_a"
            and (step.voltage_v or 0) >= cell.voltage_max_v - 0.01):
        return 1.0
    if (step.kind == "cc" and (step.current_a or 0) < 0 and ended_on is not None
            and ended_on.quantity == "voltage_v" and ended_on.value <= cell.voltage_min_v + 0.01):
        return 0.0
    return None


def record_soak_band(writer: Any, step: Step, sample: Sample, reason: str, chamber_setpoint_c: float | None,
                     step_count: int) -> None:
    """A ``soak_out_of_band`` event (and a warning) when a soak ended with the cell outside its
    band; the claims that need the soak's temperature are then not tested (bench.analysis)."""
    band = soak_out_of_band(step, sample, chamber_setpoint_c) if not reason.startswith("safety") else None
    if band is None:
        return
    logger.warning("soak ended out of band: cell %.1f °C, setpoint %g °C ± %g K",
                   band["cell_temperature_c"], band["setpoint_c"], band["band_k"])
    writer.append("events", (sample.time_s, "soak_out_of_band", step_count,
                             f"{step.text}: ended ({reason}) with the cell at {band['cell_temperature_c']:.1f} °C, "
                             f"outside {band['setpoint_c']:g} °C ± {band['band_k']:g} K",
                             json.dumps({**band, "step_index": step.index}, default=float)), flush=False)
