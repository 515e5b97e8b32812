"""``bench cells list|show|validate``: the cell datasheets a bench can name (the lab's, then the
shipped ones) and their checks (every problem as ``file:line:col``)."""

from __future__ import annotations

import argparse
import sys

from bench.commands.common import error


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench cells``."""
    cells = sub.add_parser("cells", help="cell datasheets: list, show, validate",
                           description="Cell datasheets: the lab's (the bench file's [bench] cells_dir, the "
                                       "CELLBENCH_CELLS directories) first, then the shipped ones.")
    cells_sub = cells.add_subparsers(dest="cells_command", required=True)
    for name, text in (("list", "one line per datasheet"), ("show", "every number of one datasheet with its source"),
                       ("validate", "check datasheet files (default: every lab file and the shipped ones)")):
        p = cells_sub.add_parser(name, help=text)
        if name == "show":
            p.add_argument("cell", metavar="NAME|FILE")
        if name == "validate":
            p.add_argument("files", nargs="*", metavar="FILE")
        p.add_argument("--bench", help="bench config (TOML) whose [bench] cells_dir to search")
        p.set_defaults(handler=cmd_cells)


def cmd_cells(args: argparse.Namespace) -> int:
    """``bench cells``: exit 0, or 2 on a datasheet with problems / an unknown name."""
    from bench.cell_source import CellChoiceError, datasheet, library_for
    from cells import DatasheetError, load_datasheet

    config = None
    if args.bench:
        from bench.config import BenchConfigError, load_bench_config

        try:
            config = load_bench_config(args.bench)
        except BenchConfigError as exc:
            return error(str(exc), 2)
    library = library_for(config)
    write = sys.stdout.write
    if args.cells_command == "list":
        _lab, broken = library.lab_sheets()
        for sheet in library.all():
            where = "shipped" if sheet.shipped else sheet.path
            aliases = f" (also: {', '.join(sheet.aliases)})" if sheet.aliases else ""
            write(f"{sheet.summary()}{aliases}  [{where}]\n")
        if broken:
            return error(f"{len(broken)} problem(s) in the lab's datasheets; bench cells validate lists them", 2)
        return 0
    if args.cells_command == "show":
        try:
            sheet = datasheet(library, args.cell, args.cell)
        except CellChoiceError as exc:
            return error(str(exc), 2)
        write(f"{sheet.name}: {sheet.maker} {sheet.model}; {sheet.chemistry}; {sheet.form_factor}\n")
        write(f"  document: {sheet.document}\n  file: {sheet.path}\n")
        for key, number in sheet.numbers.items():
            write(f"  {key:<36} {number.value:<10g} {number.source}\n")
        volume = sheet.volume_l()
        if volume is not None and "volume_l" not in sheet.numbers:
            write(f"  {'volume_l (from the dimensions)':<36} {volume:<10g}\n")
        if sheet.notes:
            write(f"  notes: {sheet.notes}\n")
        return 0
    from cells.library import SHIPPED_DIR

    paths = [*map(str, args.files)] or [str(p) for p in library.lab_files()] + \
        [str(p) for p in sorted(SHIPPED_DIR.glob("*.yaml"))]
    problems: list[str] = []
    names: dict[str, str] = {}
    for path in paths:
        try:
            sheet = load_datasheet(path)
        except DatasheetError as exc:
            problems += exc.problems
            continue
        for name in (sheet.name, *sheet.aliases):
            if name in names and names[name] != path:
                write(f"note: {path}: {name!r} is also named by {names[name]} (the first one found is used)\n")
            names.setdefault(name, path)
        write(f"ok    {sheet.name:<20} {path}\n")
    if problems:
        return error("\n".join(problems), 2)
    return 0
