"""Conversation transport for driver tests: a script of ``(command, reply)`` pairs that must be
used exactly, in order (``reply`` None for a write). Unused pairs fail the test."""

from __future__ import annotations

from drivers.errors import InstrumentTimeout


class Conversation:
    """A fake transport that checks every message against the script."""

    resource = "conversation"

    def __init__(self, pairs: list[tuple[str, str | None]]) -> None:
        self.pairs = list(pairs)
        self.position = 0

    def _next(self, message: str, expect_reply: bool) -> str | None:
        assert self.position < len(self.pairs), f"unexpected extra message {message!r}"
        command, reply = self.pairs[self.position]
        assert message == command, f"message {self.position}: sent {message!r}, script expects {command!r}"
        assert (reply is not None) == expect_reply, (
            f"message {self.position}: {command!r} is a {'query' if expect_reply else 'write'} in the driver "
            f"but the script has reply {reply!r}")
        self.position += 1
        return reply

    def write(self, message: str) -> None:
        """A write must match the next scripted command with reply None."""
        self._next(message, expect_reply=False)

    def query(self, message: str) -> str:
        """A query must match the next scripted command; ``TIMEOUT`` as reply raises a timeout."""
        reply = self._next(message, expect_reply=True)
        if reply == "TIMEOUT":
            raise InstrumentTimeout(f"conversation: no reply to {message!r}")
        return reply or ""

    def close(self) -> None:
        """Nothing to close."""

    def assert_done(self) -> None:
        """Every scripted pair was used."""
        unused = self.pairs[self.position:]
        assert not unused, f"unused conversation pairs: {unused}"
