"""Which physical cell a run tests: ``--cell-id`` (a serial number or barcode), one per channel.

The id is the lab's name for one cell on the desk (``LG-M50-2291-0042``), not its type (the cell
block / datasheet). It goes into the run file (the ``cell_id`` attribute and the cell block), the
catalog, the report and the BDF export; ``bench runs list --cell-id ID`` shows the cell's history.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

#: What a serial number or barcode may hold: letters, digits and ``- _ . / : # +`` (no spaces or
#: commas: a comma separates the ids of channels), at most 64 characters.
CELL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/#+-]{0,63}$")


class CellIdError(ValueError):
    """A bad ``--cell-id``; the message names the option and the value."""


def parse_cell_ids(values: Sequence[str]) -> list[str]:
    """``--cell-id`` values (repeated and/or comma-separated) -> the ids in channel order."""
    ids: list[str] = []
    for value in values:
        for item in str(value).split(","):
            item = item.strip()
            if not CELL_ID.match(item):
                raise CellIdError(f"--cell-id {item!r}: a serial number or barcode of letters, digits and "
                                  "- _ . / : # + (at most 64, no spaces; commas separate channels)")
            ids.append(item)
    return ids


def ids_for_channels(ids: Sequence[str], channels: int) -> list[str]:
    """One id per channel (``[]`` when none were given); CellIdError when the count differs."""
    if not ids:
        return []
    if len(ids) != channels:
        raise CellIdError(f"--cell-id: {len(ids)} id{'s' if len(ids) != 1 else ''} for a {channels}-channel "
                          f"bench; give one per channel, in channel order (e.g. --cell-id A1,A2)")
    return list(ids)


def duplicates(ids: Sequence[str]) -> list[str]:
    """Ids given for more than one channel, in order of first appearance."""
    seen: set[str] = set()
    twice: list[str] = []
    for cell_id in ids:
        if cell_id in seen and cell_id not in twice:
            twice.append(cell_id)
        seen.add(cell_id)
    return twice


def with_cell_id(protocol: Any, cell_id: str | None) -> Any:
    """``protocol`` whose cell carries ``cell_id`` (unchanged when None or empty)."""
    if not cell_id:
        return protocol
    return dataclasses.replace(protocol, cell=dataclasses.replace(protocol.cell, cell_id=cell_id))
