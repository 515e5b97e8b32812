"""``--cell-state FILE``: a simulated cell carried across runs (issue 15 item 4).

Before the run the file is read if it exists (a corrupt file, or one of another preset, is a
one-line error before anything runs); the bench's cells continue from it, and the run file's
provenance records the state it started from (``bench_config.cell_state``). After the run, the
cells' state (SOC, temperatures, SEI, plated and dead lithium, cycle count, total Ah) is written
back, whatever the run's outcome: the simulated cell aged either way.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sim_instruments.cell.state_file import CellStateError, load_states, save_states

logger = logging.getLogger(__name__)

__all__ = ["CellStateError", "apply_cell_state", "read_cell_state", "write_cell_state"]


def read_cell_state(path: str | Path | None, preset: str) -> list[Any] | None:
    """The saved states in ``path`` (None when no file is named or it does not exist yet)."""
    if path is None or not Path(path).exists():
        return None
    return load_states(path, preset=preset)


def apply_cell_state(world: Any, config: dict[str, Any], path: str | Path, states: list[Any] | None) -> None:
    """Continue ``world``'s cells from ``states`` (None: fresh cells) and record it in ``config``
    (the bench config that goes into the run file's provenance)."""
    if states is not None:
        try:
            world.load_ageing_states(states)
        except ValueError as exc:
            raise CellStateError(f"{path}: {exc}") from None
    config["cell_state"] = {"file": str(path),
                            "start": [s.to_dict() for s in states] if states is not None else "fresh cell"}


def write_cell_state(world: Any, path: str | Path) -> None:
    """Save the cells' state to ``path`` (atomically); a failure is logged, never raised."""
    try:
        save_states(path, world.ageing_states())
    except OSError as exc:
        logger.error("--cell-state %s: could not write the cell state: %s", path, exc.strerror or exc)
