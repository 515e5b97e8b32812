"""A small SCPI (IEEE 488.2 / SCPI-1999) command interpreter for simulated instruments.

Headers are declared in the manuals' notation: upper case is the short form, lower case the rest
of the long form, ``[...]`` an optional node, e.g. ``:SOURce[1]:CURRent[:LEVel][:IMMediate][:AMPLitude]``.
Either form matches, case-insensitively. Several messages may be joined with ``;`` in one line.

Errors go to the instrument's error queue with the standard SCPI numbers (SCPI-1999 Vol. 2,
chapter 21): -100 command error, -102 syntax error, -109 missing parameter, -113 undefined header,
-222 data out of range, -224 illegal parameter value, -350 queue overflow.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

#: A handler gets the argument text (may be empty) and returns the reply text or None.
Handler = Callable[[str], "str | None"]
_MISSING = object()
#: Most distinct lines remembered by a front end's line cache (it is emptied when full).
LINE_CACHE_SIZE = 512

ERROR_MESSAGES = {
    -100: "Command error",
    -102: "Syntax error",
    -104: "Data type error",
    -109: "Missing parameter",
    -113: "Undefined header",
    -221: "Settings conflict",
    -222: "Data out of range",
    -224: "Illegal parameter value",
    -230: "Data corrupt or stale",
    -350: "Queue overflow",
    -410: "Query INTERRUPTED",
    -420: "Query UNTERMINATED",
}


class ScpiError(Exception):
    """Raised by a handler to put ``code`` into the error queue (the command has no effect)."""

    def __init__(self, code: int, detail: str = "") -> None:
        super().__init__(detail or ERROR_MESSAGES.get(code, "Error"))
        self.code = code
        self.detail = detail


def _mnemonic_regex(mnemonic: str) -> str:
    """``CURRent`` -> ``CURR(?:ENT)?``; a trailing numeric suffix ``[1]`` becomes optional digits."""
    suffix = ""
    if mnemonic.endswith("[1]"):
        mnemonic, suffix = mnemonic[:-3], r"\d*"
    short = "".join(ch for ch in mnemonic if ch.isupper() or ch.isdigit() or ch in "*?")
    rest = mnemonic[len(short):]
    body = re.escape(short) + (f"(?:{re.escape(rest.upper())})?" if rest else "")
    return body + suffix


def compile_header(pattern: str) -> re.Pattern[str]:
    """Compile a manual-notation header (``:SOURce:CURRent[:LEVel]``, ``*IDN?``) to a regex."""
    query = pattern.endswith("?")
    core = pattern[:-1] if query else pattern
    parts = re.findall(r"\[:[^\]]+\]|:?[^:\[]+(?:\[1\])?", core)
    regex = ""
    for index, part in enumerate(parts):
        optional = part.startswith("[")
        name = (part[1:-1] if optional else part).lstrip(":")
        piece = _mnemonic_regex(name)
        sep = ":" if (index > 0 or part.startswith(":") or optional) else ""
        if optional:
            regex += f"(?::{piece})?"
        elif sep:
            regex += (":?" if index == 0 else ":") + piece
        else:
            regex += piece
    return re.compile("^" + regex + (r"\?" if query else "") + "$", re.IGNORECASE)


@dataclass
class _Command:
    pattern: str
    regex: re.Pattern[str]
    handler: Handler


class ScpiFrontEnd:
    """Dispatches SCPI messages to handlers and keeps the error queue.

    Subclasses call :meth:`add` for each header they implement and may override
    :meth:`before_command` (e.g. to sync the physical world, count for a watchdog).
    """

    error_queue_size = 10

    def __init__(self, idn: str) -> None:
        self.idn = idn
        self.errors: deque[tuple[int, str]] = deque()
        self._commands: list[_Command] = []
        self._cache: dict[str, _Command | None] = {}
        #: Received single-message line -> (handler, argument text): parsed once per distinct line.
        self._lines: dict[str, tuple[Handler, str]] = {}
        self.add("*IDN?", lambda _a: self.idn)
        self.add("*CLS", self._cls)
        self.add("*OPC?", lambda _a: "1")
        self.add("*RST", lambda _a: self.reset())
        self.add(":SYSTem:ERRor[:NEXT]?", lambda _a: self.next_error())
        self.add(":SYSTem:ERRor:COUNt?", lambda _a: str(len(self.errors)))

    # -- declaration -------------------------------------------------------------------------
    def add(self, pattern: str, handler: Handler) -> None:
        """Register ``handler`` for the header ``pattern`` (manual notation)."""
        self._commands.append(_Command(pattern, compile_header(pattern), handler))
        self._cache.clear()
        self._lines.clear()

    # -- behaviour a subclass may override -----------------------------------------------------
    def reset(self) -> None:
        """``*RST``: return to the power-on settings. Subclasses extend this."""
        return None

    def before_command(self) -> None:
        """Called once per received line, before any handler runs."""
        return None

    # -- error queue -------------------------------------------------------------------------
    def push_error(self, code: int, detail: str = "") -> None:
        """Append an error; a full queue replaces its last entry with -350 (SCPI-1999 21.8)."""
        message = ERROR_MESSAGES.get(code, "Error")
        if detail:
            message = f"{message}; {detail}"
        if len(self.errors) >= self.error_queue_size:
            self.errors[-1] = (-350, ERROR_MESSAGES[-350])
            return
        self.errors.append((code, message))

    def next_error(self) -> str:
        """``:SYST:ERR?`` reply: oldest error first, ``0,"No error"`` when empty."""
        if not self.errors:
            return '0,"No error"'
        code, message = self.errors.popleft()
        return f'{code},"{message}"'

    def _cls(self, _args: str) -> None:
        self.errors.clear()

    # -- dispatch ----------------------------------------------------------------------------
    def _lookup(self, header: str) -> _Command | None:
        found = self._cache.get(header, _MISSING)
        if found is not _MISSING:
            return found  # type: ignore[return-value]  # not the _MISSING sentinel: a cached _Command or None
        found = next((c for c in self._commands if c.regex.match(header)), None)
        if found is None and header.startswith(":*"):
            # A colon before a common command (``*RST;:*CLS``): common commands are not part of
            # the SCPI tree and are interpreted the same whatever the path (SCPI-1999 Vol. 1
            # 6.2.4), so the root colon changes nothing.
            found = next((c for c in self._commands if c.regex.match(header[1:])), None)
        self._cache[header] = found
        return found

    def handle_line(self, line: str) -> str | None:
        """Execute one received line (messages joined by ``;``); return the joined replies or None."""
        self.before_command()
        # Fast path: a line seen before (the per-sample queries) goes straight to its handler.
        # Only single messages with a known header are cached; the handler still runs every time.
        try:
            handler, args = self._lines[line]
        except KeyError:
            handler = None
        if handler is None:
            return self._handle_uncached(line)
        try:
            return handler(args)
        except ScpiError as exc:
            self.push_error(exc.code, exc.detail)
            return None

    def _handle_uncached(self, line: str) -> str | None:
        """:meth:`handle_line` after ``before_command`` for a line not in the line cache."""
        if ";" not in line:  # a single message (the usual case)
            header, _, args = line.strip().partition(" ")
            if not header:
                return None
            command = self._lookup(header)
            if command is None:
                self.push_error(-113, header)
                return None
            args = args.strip()
            lines = self._lines
            if len(lines) >= LINE_CACHE_SIZE:
                lines.clear()
            lines[line] = (command.handler, args)
            try:
                return command.handler(args)
            except ScpiError as exc:
                self.push_error(exc.code, exc.detail)
                return None
        replies: list[str] = []
        for message in line.split(";"):
            message = message.strip()
            if not message:
                continue
            header, _, args = message.partition(" ")
            command = self._lookup(header)
            if command is None:
                self.push_error(-113, header)
                continue
            try:
                reply = command.handler(args.strip())
            except ScpiError as exc:
                self.push_error(exc.code, exc.detail)
                continue
            if reply is not None:
                replies.append(reply)
        return ";".join(replies) if replies else None


def parse_number(text: str, *, low: float, high: float, default: float | None = None) -> float:
    """Parse an SCPI numeric argument (``1.5``, ``1.5E-3``, ``MIN``, ``MAX``, ``DEF``) in [low, high].

    Raises ScpiError -109 when missing, -104 when not a number, -222 when out of range.
    """
    text = text.strip()
    if not text:
        raise ScpiError(-109)
    word = text.upper()
    if word in ("MIN", "MINIMUM"):
        return low
    if word in ("MAX", "MAXIMUM"):
        return high
    if word in ("DEF", "DEFAULT"):
        if default is None:
            raise ScpiError(-224, text)
        return default
    try:
        value = float(text)
    except ValueError:
        raise ScpiError(-104, text) from None
    if not (low <= value <= high) or value != value:
        raise ScpiError(-222, text)
    return value


def parse_bool(text: str) -> bool:
    """Parse ``ON|OFF|1|0`` (SCPI boolean); raises ScpiError -224 otherwise."""
    word = text.strip().upper()
    if word in ("ON", "1"):
        return True
    if word in ("OFF", "0"):
        return False
    if not word:
        raise ScpiError(-109)
    raise ScpiError(-224, text)
