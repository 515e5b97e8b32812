"""A simulated cell carried across runs: its :class:`~sim_instruments.cell.degradation.AgeingState`
in a small JSON file (``bench run --cell-state FILE``, ``bench sim serve --cell-state FILE``).

File format (UTF-8 JSON object)::

    {"format": "cellbench-cell-state", "version": 1, "cells": [<AgeingState.to_dict()>, ...]}

One entry per simulated channel. Any problem reading it (missing keys, bad values, another preset
than the bench's) raises :class:`CellStateError` with a one-line message naming the file, before
anything runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sim_instruments.cell.degradation import AgeingState

FORMAT = "cellbench-cell-state"
VERSION = 1


class CellStateError(ValueError):
    """A cell-state file that cannot be used (one line, names the file)."""


def load_states(path: str | Path, preset: str | None = None) -> list[AgeingState]:
    """The cell states in ``path``; ``preset``: the preset every state must be of."""
    path = Path(path)
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CellStateError(f"{path}: cannot read cell state: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CellStateError(f"{path}: corrupt cell state file (not JSON: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CellStateError(f"{path}: not a cell state file (format must be {FORMAT!r})")
    if data.get("version") != VERSION:
        raise CellStateError(f"{path}: cell state version {data.get('version')!r} not supported (want {VERSION})")
    cells = data.get("cells")
    if not isinstance(cells, list) or not cells:
        raise CellStateError(f"{path}: cell state file holds no 'cells' list")
    states = []
    for n, entry in enumerate(cells):
        try:
            state = AgeingState.from_dict(entry)
        except ValueError as exc:
            raise CellStateError(f"{path}: cell {n}: {exc}") from None
        if preset is not None and state.preset != preset:
            raise CellStateError(f"{path}: cell {n} is a {state.preset!r} cell, the bench simulates {preset!r}")
        states.append(state)
    return states


def save_states(path: str | Path, states: list[AgeingState]) -> None:
    """Write ``states`` to ``path`` atomically (temporary file, then rename)."""
    path = Path(path)
    text = json.dumps({"format": FORMAT, "version": VERSION,
                       "cells": [s.to_dict() for s in states]}, indent=2, allow_nan=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)
