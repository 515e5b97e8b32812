"""Every ``# type: ignore`` in the five packages names its error code and says why:
``# type: ignore[code]  # why`` (mypy itself reports unused ones: ``warn_unused_ignores``)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bench", "cells", "drivers", "protocols", "sim_instruments")
IGNORE = re.compile(r"#\s*type:\s*ignore\b(?P<code>\[[^\]]*\])?(?P<rest>.*)$")
REASON = re.compile(r"^\s+#\s*\S")


def unexplained_ignores(lines: list[str], where: str) -> list[str]:
    """``where:line`` of each ``type: ignore`` without an error code or without a ``# why`` after it."""
    bad = []
    for number, line in enumerate(lines, 1):
        match = IGNORE.search(line)
        if match and (not match.group("code") or not REASON.match(match.group("rest"))):
            bad.append(f"{where}:{number}: {line.strip()}")
    return bad


def test_every_type_ignore_has_a_code_and_a_reason() -> None:
    bad: list[str] = []
    files = [path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))]
    assert len(files) > 100  # the packages were found
    for path in files:
        bad += unexplained_ignores(path.read_text(encoding="utf-8").splitlines(), str(path.relative_to(ROOT)))
    assert bad == []


def test_the_check_flags_bare_and_unexplained_ignores() -> None:
    lines = ["x = f()  # type: ignore",
             "x = f()  # type: ignore[arg-type]",
             "x = f()  # type: ignore[arg-type]  # the value is a float here",
             "y = 1"]
    assert unexplained_ignores(lines, "m.py") == ["m.py:1: x = f()  # type: ignore",
                                                  "m.py:2: x = f()  # type: ignore[arg-type]"]
