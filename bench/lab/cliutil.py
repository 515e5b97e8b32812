"""Small helpers shared by the lab commands: the ``--catalog`` option, tables and JSON output."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any


def add_catalog_option(parser: argparse.ArgumentParser) -> None:
    """``--catalog URL`` (default: $CELLBENCH_CATALOG, else ~/.local/share/cellbench/catalog.sqlite)."""
    parser.add_argument("--catalog", metavar="URL", default=None,
                        help="catalog database: sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB "
                             "(password from PGPASSWORD or ~/.pgpass); default $CELLBENCH_CATALOG, "
                             "else ~/.local/share/cellbench/catalog.sqlite ($XDG_DATA_HOME/cellbench)")


def to_json(value: Any) -> str:
    """JSON text with datetimes as ISO 8601 (UTC, suffixed Z)."""
    def default(obj: Any) -> Any:
        if isinstance(obj, dt.datetime):
            return obj.isoformat(timespec="seconds") + ("Z" if obj.tzinfo is None else "")
        return str(obj)

    return json.dumps(value, indent=2, default=default, sort_keys=False)


def cell(value: Any, width: int = 0) -> str:
    """A value for a terminal table."""
    if value is None:
        text = "-"
    elif isinstance(value, dt.datetime):
        text = value.strftime("%Y-%m-%d %H:%M:%S")
    elif isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, list | tuple):
        text = ",".join(str(v) for v in value) or "-"
    else:
        text = str(value)
    if width and len(text) > width:
        text = text[: width - 1] + "…"
    return text


def print_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], widths: Mapping[str, int] | None = None) -> None:
    """Write rows as an aligned plain-text table on stdout."""
    widths = widths or {}
    texts = [[cell(r.get(c), widths.get(c, 0)) for c in columns] for r in rows]
    sizes = [max([len(c)] + [len(t[i]) for t in texts]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(sizes[i]) for i, c in enumerate(columns))]
    lines += ["  ".join(t[i].ljust(sizes[i]) for i in range(len(columns))).rstrip() for t in texts]
    sys.stdout.write("\n".join(lines) + "\n")
