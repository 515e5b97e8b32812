"""Where datasheets are found: a lab's directories first, then the shipped ones.

A lab's directories come from the bench TOML (``[bench] cells_dir``, relative to the TOML) and the
``CELLBENCH_CELLS`` environment variable (directories separated by ``os.pathsep``). A lab's file
whose name (or alias) is also a shipped one's takes its place (``bench cells validate`` says so).
"""

from __future__ import annotations

import difflib
import functools
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from cells.datasheet import Datasheet
from cells.schema import DatasheetError, load_datasheet

SHIPPED_DIR = Path(__file__).parent / "datasheets"
ENV_VAR = "CELLBENCH_CELLS"
SUFFIXES = (".yaml", ".yml")


class CellNotFound(LookupError):
    """No datasheet of that name; the message lists the known names."""


@functools.cache
def _shipped() -> dict[str, Datasheet]:
    sheets: dict[str, Datasheet] = {}
    for path in sorted(SHIPPED_DIR.glob("*.yaml")):
        sheet = load_datasheet(path, shipped=True)
        sheets[sheet.name] = sheet
    return sheets


def shipped_datasheet(name: str) -> Datasheet:
    """A shipped datasheet by its name (what the simulator presets model); KeyError otherwise."""
    try:
        return _shipped()[name]
    except KeyError:
        raise KeyError(f"no shipped datasheet {name!r}; shipped: {', '.join(sorted(_shipped()))}") from None


def env_dirs() -> list[Path]:
    """The directories named by ``CELLBENCH_CELLS``."""
    return [Path(p) for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p.strip()]


def looks_like_file(text: str) -> bool:
    """``--cell`` names a file (a path or a ``.yaml`` name), not a datasheet name."""
    return text.endswith(SUFFIXES) or "/" in text or os.sep in text


class CellLibrary:
    """The datasheets a bench can name: ``lab_dirs`` (searched first, in order), then the shipped ones."""

    def __init__(self, lab_dirs: Sequence[Path] = ()) -> None:
        self.lab_dirs = [Path(d) for d in lab_dirs]

    @classmethod
    def for_bench(cls, cells_dir: str | Path | None = None) -> CellLibrary:
        """The library of a bench: its ``cells_dir`` (already resolved) and ``CELLBENCH_CELLS``."""
        return cls(([Path(cells_dir)] if cells_dir else []) + env_dirs())

    def lab_files(self) -> list[Path]:
        """Every ``*.yaml`` / ``*.yml`` in the lab's directories."""
        return [p for d in self.lab_dirs if d.is_dir() for p in sorted(d.iterdir()) if p.suffix in SUFFIXES]

    def lab_sheets(self) -> tuple[list[Datasheet], list[str]]:
        """The lab's datasheets that load, and the problems of those that do not."""
        sheets, problems = [], []
        for path in self.lab_files():
            try:
                sheets.append(load_datasheet(path))
            except DatasheetError as exc:
                problems += exc.problems
        return sheets, problems

    def all(self) -> list[Datasheet]:
        """Every datasheet a name can reach (a lab's first; a shadowed shipped one left out)."""
        lab, _problems = self.lab_sheets()
        names = {n for s in lab for n in (s.name, *s.aliases)}
        return lab + [s for s in _shipped().values() if s.name not in names]

    def get(self, name_or_file: str) -> Datasheet:
        """A datasheet by file path, name or alias; :class:`CellNotFound` or :class:`DatasheetError`."""
        path = Path(name_or_file)
        if looks_like_file(name_or_file) or path.is_file():
            if not path.is_file():
                raise CellNotFound(f"{name_or_file}: no such datasheet file")
            return load_datasheet(path)
        lab, problems = self.lab_sheets()
        for sheet in _match(lab, name_or_file):
            return sheet
        for sheet in _match(_shipped().values(), name_or_file):
            return sheet
        names = sorted({n for s in self.all() for n in (s.name, *s.aliases)})
        close = difflib.get_close_matches(name_or_file, names, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"known cells: {', '.join(names)}"
        broken = f"; {len(problems)} problem(s) in the lab's datasheets (bench cells validate)" if problems else ""
        raise CellNotFound(f"no cell datasheet {name_or_file!r} ({hint}{broken})")


def _match(sheets: Iterable[Datasheet], name: str) -> list[Datasheet]:
    sheets = list(sheets)
    return [s for s in sheets if s.name == name] + [s for s in sheets if name in s.aliases]
