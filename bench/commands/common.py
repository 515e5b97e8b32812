"""Helpers shared by the command modules: one-line errors, ``--set`` pairs."""

from __future__ import annotations

import sys
from collections.abc import Sequence


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
