"""Secrets never leave the bench TOML: the copy of a bench config that goes into a run file, the
catalog, a log line or an export has its secret keys removed (docs/lab.md).

A resumed run on a real bench opens the instruments from the run file's copy: a driver whose
secret was removed takes it from its environment variable (the Arbin CTI driver reads
``ARBIN_CTI_PASSWORD``), as it does when the TOML names none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Keys whose values are secrets (lower case; compared case-insensitively).
SECRET_KEYS = frozenset({"password", "passwd", "secret", "token", "api_key"})


def without_secrets(value: Any) -> Any:
    """``value`` (a bench config: nested dicts and lists) with every secret key removed."""
    if isinstance(value, Mapping):
        return {k: without_secrets(v) for k, v in value.items() if str(k).lower() not in SECRET_KEYS}
    if isinstance(value, list | tuple):
        return [without_secrets(v) for v in value]
    return value
