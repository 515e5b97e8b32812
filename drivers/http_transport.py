"""HTTP GET transport for instruments with a REST interface (Memmert AtmoWEB), on urllib.

``HttpTransport("http://192.168.100.100")`` sends ``GET {resource}/{path}`` and returns the body
text; a refused connection, a timeout or a non-200 status raises an InstrumentError naming the
resource. Any object with ``resource``, ``get(path) -> str`` and ``close()`` can stand in (the
built-in simulated bench passes one that calls the simulator in process).
"""

from __future__ import annotations

import http.client
import logging
import urllib.error
import urllib.request
from typing import Protocol

from drivers.errors import InstrumentError, InstrumentReplyError, InstrumentTimeout

logger = logging.getLogger(__name__)


class GetTransport(Protocol):
    """What a REST driver needs: ``get("atmoweb?Temp1Read=")`` -> reply body."""

    resource: str

    def get(self, path: str) -> str: ...

    def close(self) -> None: ...


class HttpTransport:
    """Plain HTTP/1.1 GETs to ``resource`` (``http://HOST[:PORT]``), ``timeout_s`` per request."""

    def __init__(self, resource: str, *, timeout_s: float = 2.0) -> None:
        if not resource.startswith("http://"):
            raise InstrumentError(f"{resource}: an HTTP instrument needs a resource 'http://HOST[:PORT]'")
        self.resource = resource.rstrip("/")
        self.timeout_s = timeout_s
        # no proxy for an instrument on the lab network (an environment proxy would intercept it)
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def get(self, path: str) -> str:
        """Body of ``GET resource/path`` as text (UTF-8)."""
        url = f"{self.resource}/{path.lstrip('/')}"
        try:
            with self._opener.open(url, timeout=self.timeout_s) as reply:
                return str(reply.read().decode("utf-8", errors="replace"))
        except urllib.error.HTTPError as exc:
            raise InstrumentReplyError(f"{self.resource}: GET /{path} answered HTTP {exc.code}") from exc
        except TimeoutError as exc:
            raise InstrumentTimeout(f"{self.resource}: GET /{path}: no reply within {self.timeout_s:g} s") from exc
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError):
                raise InstrumentTimeout(
                    f"{self.resource}: GET /{path}: no reply within {self.timeout_s:g} s") from exc
            raise InstrumentError(f"{self.resource}: GET /{path} failed: {reason}") from exc

    def close(self) -> None:
        """Nothing held open between requests (one connection per GET)."""
