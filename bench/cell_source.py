"""Which cell a run is on: ``--cell NAME|FILE``, the bench TOML's ``[cell]`` (or a channel's
``cell = ...``), or, on the built-in simulated bench only, the protocol's ``cell: {preset: ...}``.

Names resolve through the datasheet library (:mod:`cells`): the bench's ``[bench] cells_dir``
(relative to the TOML) and ``CELLBENCH_CELLS`` first, then the shipped datasheets. The result is a
:data:`protocols.cell_block.CellResolver` for the protocol loader, which merges the protocol's own
``cell:`` numbers and ``--set cell.NAME=VALUE`` on top and keeps where each number came from.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cells import CellLibrary, CellNotFound, Datasheet, DatasheetError
from protocols.cell_block import REQUIRED, TEXT_KEYS, CellBase, CellResolver
from protocols.steps import CellSpec

#: The numbers a bench's ``[cell]`` (or ``--set cell.NAME=``) may state inline.
NUMBER_KEYS = tuple(f.name for f in dataclasses.fields(CellSpec) if f.name not in TEXT_KEYS + ("initial_soc",))
#: Keys of a bench TOML's ``[cell]``: a datasheet by name or file, and inline numbers.
BENCH_CELL_KEYS = ("name", "file") + NUMBER_KEYS
DEFAULT_PRESET = "nmc_21700"


class CellChoiceError(ValueError):
    """The cell cannot be named or read; the message is one line (or one per datasheet problem)."""


def no_cell_message(bench_file: str) -> str:
    """The one line a run on a bench with no cell named gets."""
    return (f"{bench_file}: no cell named: pass --cell NAME|FILE or add [cell] name = \"...\" to the bench file "
            "(bench cells list shows the datasheets)")


def library_for(config: Mapping[str, Any] | None) -> CellLibrary:
    """The datasheets a bench can name: its ``[bench] cells_dir`` and ``CELLBENCH_CELLS``, then the shipped ones."""
    cells_dir = None
    if config is not None:
        text = (config.get("bench") or {}).get("cells_dir")
        if text:
            cells_dir = Path(str(config.get("_path") or ".")).parent / str(text)
    return CellLibrary.for_bench(cells_dir)


def datasheet(library: CellLibrary, name_or_file: str, origin: str) -> Datasheet:
    """The datasheet ``origin`` (``--cell``, ``bench.toml [cell]``) names; CellChoiceError otherwise."""
    try:
        return library.get(name_or_file)
    except CellNotFound as exc:
        raise CellChoiceError(f"{origin}: {exc}") from None
    except DatasheetError as exc:
        raise CellChoiceError(str(exc)) from None


def base_of(sheet: Datasheet, presets: Mapping[str, str], name: str = "") -> CellBase:
    """A datasheet as the loader's cell base; ``presets`` (simulator preset -> datasheet name) gives
    the preset that models it, "" when none does."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    label = f"datasheet {sheet.name}" + ("" if sheet.shipped else f" ({sheet.path})")
    for key, (value, source) in sheet.cell_values().items():
        values[key] = value
        sources[key] = f"{label}: {source}"
    preset = name if name in presets and presets[name] == sheet.name else \
        next((p for p, s in presets.items() if s == sheet.name), "")
    return CellBase(name=sheet.name, values=values, sources=sources, preset=preset)


def bench_cell(section: Any, library: CellLibrary, presets: Mapping[str, str], where: str) -> CellBase:
    """A bench TOML's ``[cell]`` table (or a channel's ``cell = "NAME"``): a datasheet by ``name`` /
    ``file`` (relative to the TOML), its numbers overridden by inline ones, or inline numbers only."""
    if isinstance(section, str):
        section = {"file" if section.endswith((".yaml", ".yml")) else "name": section}
    if not isinstance(section, Mapping):
        raise CellChoiceError(f"{where}: cell must be a datasheet name or a table [cell]")
    unknown = [k for k in section if k not in BENCH_CELL_KEYS]
    if unknown:
        raise CellChoiceError(f"{where}: unknown key '{unknown[0]}' in [cell]; keys: name, file, "
                              f"{', '.join(NUMBER_KEYS)}")
    if "name" in section and "file" in section:
        raise CellChoiceError(f"{where}: [cell] names a datasheet by 'name' or by 'file', not both")
    base = CellBase(name="", values={}, sources={})
    if "name" in section or "file" in section:
        text = str(section.get("name") or section.get("file"))
        if "file" in section:
            text = str(Path(where.split(":")[0]).parent / text) if not Path(text).is_absolute() else text
        base = base_of(datasheet(library, text, where), presets, text)
    values, sources = dict(base.values), dict(base.sources)
    for key in NUMBER_KEYS:
        if key in section:
            value = section[key]
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(float(value)):
                raise CellChoiceError(f"{where}: [cell] {key} must be a number, got {value!r}")
            values[key] = float(value)
            sources[key] = f"{where} [cell] {key}"
    missing = [k for k in REQUIRED if k not in values]
    if missing:
        raise CellChoiceError(f"{where}: [cell] needs a datasheet (name = \"...\" or file = \"...\") or "
                              f"{', '.join(missing)}")
    return dataclasses.replace(base, name=base.name or f"{where} [cell]", values=values, sources=sources)


def set_numbers(settings: dict[str, str]) -> dict[str, float]:
    """Pop ``cell.NAME=VALUE`` pairs out of ``--set`` settings (single numbers of the cell)."""
    out: dict[str, float] = {}
    for key in [k for k in settings if k.startswith("cell.")]:
        name, text = key[5:], settings.pop(key)
        if name not in NUMBER_KEYS:
            raise CellChoiceError(f"--set {key}: no such cell number; cell numbers: {', '.join(NUMBER_KEYS)}")
        try:
            out[name] = float(text)
        except ValueError:
            raise CellChoiceError(f"--set {key}={text}: must be a number") from None
    return out


def cell_option(cli_cell: str | None, settings: dict[str, str]) -> str | None:
    """``--cell`` or its alias ``--set cell=`` (popped from ``settings``); both at once must agree."""
    alias = settings.pop("cell", None)
    if cli_cell and alias and cli_cell != alias:
        raise CellChoiceError(f"--cell {cli_cell} and --set cell={alias} name different cells")
    return cli_cell or alias


def resolver(*, cli_cell: str | None, config: Mapping[str, Any] | None, presets: Mapping[str, str],
             builtin: bool, numbers: Mapping[str, float] | None = None, channel: Any = None) -> CellResolver:
    """The loader's cell (see :mod:`protocols.cell_block` for the precedence).

    ``config``: the bench TOML (None on the built-in bench); ``channel``: a multi-channel bench
    channel's ``cell`` value; ``builtin``: the built-in simulated bench, whose cell must be one
    of ``presets`` (simulator preset -> the datasheet it models). Names given on the command
    line or in the bench file are resolved now, so their errors come before anything opens."""
    library = library_for(config)
    where = str((config or {}).get("_path") or "bench")
    fixed: CellBase | None = None
    if cli_cell:
        fixed = base_of(datasheet(library, cli_cell, f"--cell {cli_cell}"), presets, cli_cell)
    elif channel is not None:
        fixed = bench_cell(channel, library, presets, where)
    elif config is not None and "cell" in config:
        fixed = bench_cell(config["cell"], library, presets, where)
    if fixed is not None and builtin and not fixed.preset:
        raise CellChoiceError(no_preset_message(fixed.name, presets))
    extra = dict(numbers or {})

    def resolve(preset_in_protocol: str | None, complete: bool) -> CellBase | None:
        base = fixed
        if base is None and builtin:
            name = preset_in_protocol or DEFAULT_PRESET
            if name not in presets:
                raise CellChoiceError(no_preset_message(name, presets))
            base = base_of(datasheet(library, presets[name], f"preset {name}"), presets, name)
        if base is None:
            if complete:
                return CellBase(name="", values={}, sources={}, overrides=extra) if extra else None
            raise CellChoiceError(no_cell_message(where))
        return dataclasses.replace(base, overrides=extra) if extra else base

    return resolve


def no_preset_message(name: str, presets: Mapping[str, str]) -> str:
    """One line: the built-in bench cannot simulate ``name``; the presets it can."""
    listing = ", ".join(f"{p} ({s})" for p, s in sorted(presets.items()))
    return (f"cell {name!r} has no simulator preset on the built-in bench; presets: {listing} "
            "(or run it on a bench: --bench FILE)")
