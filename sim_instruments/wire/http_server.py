"""A loopback HTTP server for simulators with a REST interface (Memmert AtmoWEB).

``GET /<path>?<query>`` is answered with ``handler(query)`` as ``text/plain`` (UTF-8), under the
world's lock; any other path answers 404. Binds 127.0.0.1 on a free ephemeral port by default.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from sim_instruments.wire.tcp_server import LOOPBACK

logger = logging.getLogger(__name__)


class RestServer:
    """Serves ``GET /{path}?query`` -> ``handler(query)`` on ``host``:``port`` (0: ephemeral)."""

    def __init__(self, handler: Callable[[str], str], *, path: str = "atmoweb", name: str = "rest",
                 host: str = LOOPBACK, port: int = 0, lock: Any = None) -> None:
        self.handler = handler
        self.path = "/" + path.strip("/")
        self.name = name
        self.lock = lock if lock is not None else threading.Lock()
        self.requests = 0
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                parts = urlsplit(self.path)
                if parts.path != outer.path:
                    self._reply(404, f"no resource {parts.path}")
                    return
                with outer.lock:
                    outer.requests += 1
                    body = outer.handler(parts.query)
                self._reply(200, body)

            def _reply(self, status: int, body: str) -> None:
                data = body.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
                logger.debug("%s: " + format, outer.name, *args)

        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound TCP port."""
        return int(self._server.server_address[1])

    def start(self) -> RestServer:
        """Serve in a daemon thread; returns self."""
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"sim-http-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(2.0)


class LocalRest:
    """In-process stand-in for an HTTP GET transport (the built-in simulated bench): ``get(path)``
    answers ``handler(query)`` for ``path`` = ``{self.path}?{query}`` with no socket at all."""

    def __init__(self, handler: Callable[[str], str], resource: str, *, path: str = "atmoweb") -> None:
        self.handler = handler
        self.resource = resource
        self.path = path.strip("/")
        self.requests = 0

    def get(self, path: str) -> str:
        """The body the simulator's server would answer; a wrong path raises LookupError."""
        route, _sep, query = path.lstrip("/").partition("?")
        if route != self.path:
            raise LookupError(f"{self.resource}: no resource /{route} (HTTP 404)")
        self.requests += 1
        return self.handler(query)

    def close(self) -> None:
        """Nothing to release."""
