"""The cell a protocol runs on: the bench names it (a datasheet), the protocol's ``cell:`` block may
override single numbers, ``--set cell.NAME=VALUE`` overrides those. Where each number came from is
kept (``Protocol.cell_sources``) for ``bench validate``.

Precedence, lowest first:

1. the named cell's datasheet: ``--cell NAME|FILE`` (alias ``--set cell=NAME``), else the bench's
   ``[cell]`` (per channel: ``[[cycler]] cell = ...``), else, on the built-in simulated bench only,
   the protocol's ``cell: {preset: NAME}`` (default ``nmc_21700``);
2. inline numbers of the bench's ``[cell]`` (the cell mounted on that bench);
3. numbers in the protocol's ``cell:`` block;
4. ``--set cell.NAME=VALUE``.

The bench layer resolves names to numbers (``bench.cell_source``); this module only merges.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from protocols.errors import ProtocolError
from protocols.steps import CellSpec
from protocols.yamldoc import Doc

CELL_KEYS = tuple(f.name for f in dataclasses.fields(CellSpec))
REQUIRED = ("capacity_ah", "voltage_max_v", "voltage_min_v", "current_max_a")
TEXT_KEYS = ("preset", "cell_id", "chemistry", "datasheet")


@dataclass(frozen=True)
class CellBase:
    """A named cell's numbers (``CellSpec`` keys) with their sources, as the bench resolved them.

    ``preset``: the simulator preset that models it (the built-in bench's cell), "" if none;
    ``overrides``: ``--set cell.NAME=VALUE`` numbers, which beat the protocol's block."""

    name: str
    values: Mapping[str, Any]
    sources: Mapping[str, str]
    preset: str = ""
    overrides: Mapping[str, Any] = field(default_factory=dict)


#: ``resolve(preset named in the protocol's block or None, block states every required number)``
#: -> the cell, or None when no cell is named and the block is complete (it is the cell).
CellResolver = Callable[[str | None, bool], CellBase | None]
#: Looks up a cell preset's datasheet values by name (the older interface: tests, perf).
CellDefaults = Callable[[str], Mapping[str, Any]]


def read_block(doc: Doc, node: yaml.Node | None) -> tuple[dict[str, Any], dict[str, str]]:
    """The protocol's ``cell:`` block: (values, ``file:line:col`` of each)."""
    given: dict[str, Any] = {}
    where: dict[str, str] = {}
    fields = doc.mapping(node, "cell", CELL_KEYS) if node is not None else {}
    for key, (_k, v) in fields.items():
        if key in TEXT_KEYS:
            given[key] = doc.scalar(v, f"cell.{key}")
        elif key == "initial_soc":
            given[key] = doc.number(v, "cell.initial_soc", 0.0, 1.0)
        else:
            given[key] = doc.number(v, f"cell.{key}", -100.0, 1e5)
        where[key] = f"{doc.file}:{v.start_mark.line + 1}:{v.start_mark.column + 1}"
    return given, where


def build_cell(doc: Doc, item: tuple[yaml.Node, yaml.Node] | None, preset_override: str | None,
               cell_defaults: CellDefaults | None, resolver: CellResolver | None) -> tuple[CellSpec, dict[str, str]]:
    """The protocol's cell and the source of each of its values."""
    node = item[1] if item else None
    given, where = read_block(doc, node)
    sources: dict[str, str] = {}
    values: dict[str, Any] = {}
    if resolver is not None:
        complete = all(k in given for k in REQUIRED)
        base = resolver(given.get("preset"), complete)
        if base is not None:
            values.update(base.values)
            sources.update(base.sources)
        for key, value in given.items():
            if key == "preset" and base is not None:
                continue  # the bench named the cell; the protocol's preset only picks the built-in bench's
            values[key] = value
            sources[key] = f"{where[key]} (the protocol's cell: block)"
        if base is not None:
            for key, value in base.overrides.items():
                values[key] = value
                sources[key] = f"--set cell.{key}={value:g}" if isinstance(value, float) else f"--set cell.{key}"
            values["preset"] = base.preset
            values["datasheet"] = base.name
    else:
        preset = preset_override or given.get("preset") or "nmc_21700"
        if cell_defaults is not None:
            try:
                values.update(cell_defaults(preset))
            except KeyError as exc:
                raise ProtocolError(f"unknown cell preset {preset!r}: {exc.args[0] if exc.args else ''}",
                                    file=doc.file, line=int(where.get("preset", "::0").split(":")[-2] or 0)) from None
            sources.update({k: f"preset {preset}" for k in values})
        if preset_override:  # --set cell=NAME: the preset's datasheet replaces the file's numbers
            given = {k: v for k, v in given.items() if k in ("cell_id",)}
        values.update(given)
        sources.update({k: f"{where[k]} (the protocol's cell: block)" for k in given})
        values["preset"] = preset
    missing = [k for k in REQUIRED if k not in values]
    if missing:
        raise doc.error(node, f"cell needs {', '.join(missing)}",
                        "name the cell: bench run --cell NAME|FILE, or [cell] name = \"...\" in the bench TOML "
                        "(bench cells list)")
    if values["voltage_min_v"] >= values["voltage_max_v"]:
        raise doc.error(node, "cell.voltage_min_v must be below cell.voltage_max_v")
    if values["capacity_ah"] <= 0 or values["current_max_a"] <= 0:
        raise doc.error(node, "cell.capacity_ah and cell.current_max_a must be positive")
    spec = CellSpec(**{k: v for k, v in values.items() if k in CELL_KEYS})
    return spec, {k: v for k, v in sources.items() if k in CELL_KEYS}
