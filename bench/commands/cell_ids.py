"""``--cell-id`` on ``bench run``: the serial number or barcode of the cell on each channel."""

from __future__ import annotations

import argparse
from typing import Any


def add_cell_id_option(parser: argparse.ArgumentParser) -> None:
    """Register ``--cell-id ID[,ID...]`` (repeatable)."""
    parser.add_argument("--cell-id", action="append", default=[], metavar="ID[,ID...]",
                        help="serial number or barcode of the cell under test; one per channel on a "
                             "multi-channel bench, in channel order (--cell-id A1,A2 or repeated); goes into "
                             "the run file, the catalog, the report and the BDF export")


def cell_ids_for_run(args: argparse.Namespace, protocols: list[Any]) -> list[Any]:
    """``protocols`` (one per channel) with their ``--cell-id``; warns (log) when a cell is already
    running according to the catalog, or is given twice. Raises CellIdError (a ValueError) on a
    bad id or a count that is not one per channel."""
    from bench.cell_identity import ids_for_channels, parse_cell_ids, with_cell_id

    ids = ids_for_channels(parse_cell_ids(getattr(args, "cell_id", None) or []), len(protocols))
    if not ids:
        return protocols
    from bench.lab.cell_history import warn_if_running

    warn_if_running(getattr(args, "catalog", None), ids)
    return [with_cell_id(protocol, cell_id) for protocol, cell_id in zip(protocols, ids, strict=True)]
