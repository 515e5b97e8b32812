"""Simulated battery cell: presets, equivalent-circuit + thermal model, abuse (short, runaway)."""

from sim_instruments.cell.model import CellModel
from sim_instruments.cell.presets import PRESETS, CellPreset, get_preset

__all__ = ["PRESETS", "CellModel", "CellPreset", "get_preset"]
