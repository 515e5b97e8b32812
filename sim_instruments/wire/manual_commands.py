"""Each simulator's command set as its manual states it: one row per command (or query) a real unit
accepts, with the manual section it comes from and what the simulator does with it.

A simulator module declares ``MANUAL_COMMANDS: tuple[ManualCommand, ...]``. Rows with
``status="implemented"`` are answered with the manual's behaviour (ranges, *RST defaults, error
numbers and texts, reply formats); rows with ``status="unsupported"`` are answered with the
manual's own error for a command the unit does not execute here (e.g. SCPI -113 "Undefined header"
or the vendor's "COMMAND ERR"), and docs/simulators.md lists them in one table. A meta-test
(``tests/sim_instruments/test_manual_commands.py``) fails when an implemented row has no test that
sends it (its ``example`` text must appear in a test file under ``tests/``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["implemented", "unsupported"]


@dataclass(frozen=True)
class ManualCommand:
    """One command of a manual.

    ``header``: the command in the manual's notation (``[:SOURce[1]]:VOLTage:PROTection:REMote``,
    ``TEMP?``, ``holding register 2160``). ``section``: where the manual states it (document number,
    section, page). ``example``: a literal command line a test sends (the meta-test looks for it).
    ``note``: what is simplified, or why unsupported.
    """

    header: str
    section: str
    status: Status
    example: str
    note: str = ""
