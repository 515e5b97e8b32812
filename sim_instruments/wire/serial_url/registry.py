"""Names under which simulated instruments are reachable as ``cellsim://NAME`` serial URLs."""

from __future__ import annotations

import itertools
import threading

import serial

from sim_instruments.wire.endpoint import LineEndpoint

_endpoints: dict[str, LineEndpoint] = {}
_lock = threading.Lock()
_ids = itertools.count(1)
PACKAGE = "sim_instruments.wire.serial_url"


def register(endpoint: LineEndpoint, stem: str = "instrument") -> str:
    """Make ``endpoint`` reachable; returns its URL ``cellsim://<stem>-<n>`` (unique per process)."""
    with _lock:
        if PACKAGE not in serial.protocol_handler_packages:
            serial.protocol_handler_packages.append(PACKAGE)
        name = f"{stem}-{next(_ids)}"
        _endpoints[name] = endpoint
    return f"cellsim://{name}"


def unregister(url: str) -> None:
    """Forget the endpoint behind ``url``."""
    with _lock:
        _endpoints.pop(url.split("://", 1)[-1], None)


def lookup(name: str) -> LineEndpoint | None:
    """The endpoint registered as ``name``, if any."""
    with _lock:
        return _endpoints.get(name)
