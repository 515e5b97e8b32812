"""Headers in a manual's notation, matched against the messages a driver sends.

``[SOURce:]VOLTage:PROTection[:LEVel]``: upper case is the short form, the lower-case rest makes
the long form, ``[...]`` is optional (SCPI-1999 Vol. 1, 6.2 "program headers"). A driver uses this
to state, as data, which commands the manual excludes for a model, and a test checks every
message the driver sends against that table (``tests/drivers/test_excluded_commands.py``).
"""

from __future__ import annotations

import re
from functools import lru_cache


def _node(mnemonic: str) -> str:
    """``VOLTage`` -> ``VOLT(?:AGE)?``."""
    short = "".join(ch for ch in mnemonic if ch.isupper() or ch.isdigit() or ch in "*?")
    rest = mnemonic[len(short):]
    return re.escape(short) + (f"(?:{re.escape(rest.upper())})?" if rest else "")


@lru_cache(maxsize=256)
def header_regex(manual: str) -> re.Pattern[str]:
    """The regex of a manual-notation header (command or query, leading colon optional),
    anchored, case-insensitive."""
    query = manual.endswith("?")
    core = (manual[:-1] if query else manual).lstrip(":")
    regex = ""
    # Tokens: an optional group ``[...]`` (``[SOURce:]``, ``[:LEVel]``) or a run of plain nodes.
    for optional, plain in re.findall(r"\[([^\]]+)\]|([^\[\]]+)", core):
        text = optional or plain
        body = ":".join(_node(n) for n in text.split(":") if n)
        lead = ":" if text.startswith(":") else ""
        trail = ":" if text.endswith(":") else ""
        piece = lead + body + trail
        regex += f"(?:{piece})?" if optional else piece
    return re.compile("^:?" + regex + (r"\?" if query else "") + "$", re.IGNORECASE)


def message_header(message: str) -> str:
    """The header of one program message (``VOLT:PROT 4.3,(@1)`` -> ``VOLT:PROT``)."""
    return message.strip().partition(" ")[0]


def matches(manual: str, message: str) -> bool:
    """Whether ``message`` (a command line) uses the header ``manual`` (its command or query form)."""
    header = message_header(message)
    bare = header[:-1] if header.endswith("?") else header
    core = manual[:-1] if manual.endswith("?") else manual
    return header_regex(core).match(bare) is not None
