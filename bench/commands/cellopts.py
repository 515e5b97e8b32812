"""``--cell NAME|FILE``: the one way every command names the cell (``--set cell=`` is its alias)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

CELL_HELP = ("the cell: a datasheet name (bench cells list) or a datasheet file; default: the bench file's [cell] "
             "(on the built-in simulated bench: the protocol's preset). --set cell=NAME is the same; "
             "--set cell.NAME=VALUE overrides one number")


def add_cell_option(parser: argparse.ArgumentParser) -> None:
    """Register ``--cell NAME|FILE``."""
    parser.add_argument("--cell", metavar="NAME|FILE", help=CELL_HELP)


def presets() -> dict[str, str]:
    """Simulator preset -> the datasheet it models."""
    from bench.simulated.builtin_bench import preset_datasheets

    return preset_datasheets()


def cell_resolver(args: argparse.Namespace, settings: dict[str, str], config: Mapping[str, Any] | None,
                  *, channel: Any = None) -> Any:
    """The protocol loader's cell for ``args.cell`` / ``--set cell=`` / ``--set cell.X=`` (popped
    from ``settings``) on the bench ``config`` (None: the built-in simulated bench).
    Raises :class:`bench.cell_source.CellChoiceError` (a ValueError) with one line."""
    from bench.cell_source import cell_option, resolver, set_numbers

    cli_cell = cell_option(getattr(args, "cell", None), settings)
    return resolver(cli_cell=cli_cell, config=config, presets=presets(), builtin=config is None,
                    numbers=set_numbers(settings), channel=channel)


def preset_of(name: str) -> str:
    """A simulator preset for ``name`` (a preset, or a datasheet a preset models); the name
    itself when none (the caller's error then lists the presets)."""
    table = presets()
    if name in table:
        return name
    from bench.cell_source import datasheet, library_for

    try:
        sheet = datasheet(library_for(None), name, f"--cell {name}")
    except ValueError:
        return name
    return next((p for p, s in table.items() if s == sheet.name), name)
