"""Sending a simulator the lines of its manual command table, as a test script: each line's reply
checked (a value, or a predicate), the error queue empty after every line, a second of virtual
time between lines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: (line sent, expected reply: None for none, a text, or a predicate on the reply text).
ScriptLine = tuple[str, Any]


def run_script(sim: Any, clock: Any, script: Sequence[ScriptLine]) -> None:
    """Send every line of ``script`` to ``sim`` (its ``handle_line``) and check each reply."""
    for line, check in script:
        reply = sim.handle_line(line)
        if callable(check):  # a predicate on the reply
            assert reply is not None and check(reply), f"{line!r} -> {reply!r}"
        else:
            assert reply == check, f"{line!r} -> {reply!r}"
        assert list(sim.errors) == [], f"{line!r} left {list(sim.errors)}"
        clock.sleep(1.0)
