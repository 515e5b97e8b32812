"""Simulated battery cell: presets, equivalent-circuit + thermal model, abuse (short, runaway),
ageing (SEI, lithium plating, fade; :mod:`sim_instruments.cell.degradation`)."""

from sim_instruments.cell.model import CellModel
from sim_instruments.cell.presets import PRESETS, CellPreset, get_preset

__all__ = ["PRESETS", "CellModel", "CellPreset", "get_preset"]
