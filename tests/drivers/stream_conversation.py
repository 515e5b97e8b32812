"""Conversation streams for byte-stream drivers: a script of (request, reply) pairs that must be used
exactly, in order; unused pairs fail :meth:`assert_done`.

:class:`JsonConversation` (MacNet): each request is compared as its ``params`` object, each reply
is a ``result`` object sent back with the request's id; ``"TIMEOUT"`` makes the read time out and
``{"error": {...}}`` sends a JSON-RPC error. :class:`BytesConversation` (binary protocols): requests
and replies are byte strings (``None`` reply: no reply expected).
"""

from __future__ import annotations

import json
from typing import Any


class _Script:
    resource = "TCPIP::conversation::57570::SOCKET"

    def __init__(self, pairs: list[tuple[Any, Any]]) -> None:
        self.pairs = list(pairs)
        self.position = 0
        self._out = bytearray()
        self.reopened = 0

    def _next(self, got: Any) -> Any:
        assert self.position < len(self.pairs), f"unexpected extra request {got!r}"
        expected, reply = self.pairs[self.position]
        assert got == expected, f"request {self.position}: sent {got!r}, script expects {expected!r}"
        self.position += 1
        return reply

    def recv_until(self, terminator: bytes) -> bytes:
        index = self._out.find(terminator)
        if index < 0:
            raise TimeoutError("conversation: no reply")
        data = bytes(self._out[: index + len(terminator)])
        del self._out[: index + len(terminator)]
        return data

    def recv_exact(self, count: int) -> bytes:
        if len(self._out) < count:
            raise TimeoutError("conversation: no reply")
        data = bytes(self._out[:count])
        del self._out[:count]
        return data

    def reopen(self) -> None:
        self.reopened += 1
        self._out.clear()

    def close(self) -> None:
        """Nothing to close."""

    def assert_done(self) -> None:
        unused = self.pairs[self.position:]
        assert not unused, f"unused conversation pairs: {unused}"


class JsonConversation(_Script):
    """MacNet JSON-RPC: pairs of (params, result | "TIMEOUT" | {"error": {...}})."""

    def send(self, data: bytes) -> None:
        message = json.loads(data.decode("ascii"))
        assert message["jsonrpc"] == "2.0" and message["method"] == "MacNet", message
        reply = self._next(message["params"])
        if reply == "TIMEOUT":
            return
        if isinstance(reply, dict) and "error" in reply:
            body = {"jsonrpc": "2.0", "error": reply["error"], "id": message["id"]}
        else:
            body = {"jsonrpc": "2.0", "result": reply, "id": message["id"]}
        self._out += json.dumps(body).encode("ascii") + b"\r\n"


class BytesConversation(_Script):
    """Binary protocols: pairs of (request bytes, reply bytes | None | "TIMEOUT")."""

    def send(self, data: bytes) -> None:
        reply = self._next(bytes(data))
        if isinstance(reply, bytes):
            self._out += reply
