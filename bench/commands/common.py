"""Helpers shared by the command modules: one-line errors, ``--set`` pairs."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from typing import Any


def error(message: str, code: int) -> int:
    """Print ``bench: error: message`` on stderr (one line per problem) and return ``code``."""
    sys.stderr.write("".join(f"bench: error: {line}\n" for line in str(message).splitlines() or [""]))
    return code


def overrides(pairs: Sequence[str]) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``; raises ValueError naming a bad pair."""
    out = {}
    for pair in pairs:
        name, eq, value = pair.partition("=")
        if not eq or not name.strip():
            raise ValueError(f"--set {pair!r}: expected NAME=VALUE")
        out[name.strip()] = value.strip()
    return out


def catalog_command(handler: Callable[[Any], int]) -> Callable[[Any], int]:
    """``handler`` (a lab command using ``args.catalog``) with any database error of the catalog
    turned into one line and exit 2 (a damaged SQLite file) or 4 (unreachable), never a traceback."""

    @functools.wraps(handler)
    def run(args: Any) -> int:
        from sqlalchemy.exc import DatabaseError

        try:
            return handler(args)
        except DatabaseError as exc:
            from bench.lab.db import describe_catalog_error

            message, code = describe_catalog_error(getattr(args, "catalog", None), exc)
            return error(message, code)

    return run

