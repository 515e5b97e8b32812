"""The electrolyte depletion state in what a cell carries over (crash-resume journal, ageing
state across runs): a mixin of :class:`~sim_instruments.cell.model.CellModel` placed before
:class:`~sim_instruments.cell.ageing.CellAgeing`, which owns the rest of the state dictionary.

``z`` (``_ze``, dimensionless: the lumped salt-concentration drop at the depleting electrode,
model.py) is saved as ``electrolyte_depletion``, the discharge's reaction front (``_front``,
fraction of the capacity) as ``discharge_front``; a state without them (older journals) is a
rested cell.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim_instruments.cell.degradation import AgeingState


class ElectrolyteState:
    """Adds ``electrolyte_depletion`` to ``state_dict`` / ``load_state`` and rests it on
    ``load_ageing_state`` (the next class in the MRO provides the rest)."""

    _ze: float
    _front: float
    _param_tc: float

    def _refresh(self) -> None:
        """(CellModel's parameter refresh.)"""
        raise NotImplementedError

    def state_dict(self) -> dict[str, float]:
        """Full dynamic state (``CellAgeing.state_dict``) plus the electrolyte depletion."""
        state: dict[str, float] = super().state_dict()  # type: ignore[misc]  # a mixin: the next class in the MRO has it
        state["electrolyte_depletion"] = self._ze
        state["discharge_front"] = self._front
        return state

    def load_state(self, state: dict[str, float]) -> None:
        """Restore a :meth:`state_dict` (without the depletion: a rested electrolyte)."""
        super().load_state(state)  # type: ignore[misc]  # a mixin: the next class in the MRO has it
        self._ze = float(state.get("electrolyte_depletion", 0.0))
        self._front = float(state.get("discharge_front", 0.0))
        self._param_tc = math.nan  # the limiting current reads the front: recompute now
        self._refresh()

    def load_ageing_state(self, state: AgeingState) -> None:
        """Continue from an ageing state (a rested cell: no polarisation, no depletion)."""
        super().load_ageing_state(state)  # type: ignore[misc]  # a mixin: the next class in the MRO has it
        self._ze = 0.0
        self._front = 0.0
        self._param_tc = math.nan  # the limiting current reads the front: recompute now
        self._refresh()
