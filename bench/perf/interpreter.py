"""Which Python interpreter ``bench perf`` ran on, and how fast it runs plain Python.

The per-sample figures are pure-Python work (the drivers, the simulators' wire side, the physics,
the safety rules), so they scale with the interpreter's build as much as with the CPU: on the
same 2-core VM, a CPython 3.11 built without profile-guided optimisation and linked against a
shared ``libpython`` (pyenv's default build) ran the acceleration protocol about 20 % slower than
Debian's packaged CPython 3.11 (README, "Measured figures"). ``call_ns`` is a speed index of the
interpreter on this machine: figures from two machines compare fairly only together with it.
"""

from __future__ import annotations

import platform
import sys
import time
from math import exp
from typing import Any

#: Calls per timing of :func:`method_call_ns`, and timings (the minimum is kept).
CALLS = 200_000
REPEATS = 5


class _Probe:
    """A small object with slots and one method that reads them, does float arithmetic and calls
    ``math.exp``: what most of the per-sample path is made of."""

    __slots__ = ("gain", "rate")

    def __init__(self) -> None:
        self.gain = 1.0
        self.rate = 2.0

    def relax(self, time_s: float) -> float:
        return self.gain * time_s + exp(-self.rate * time_s)


def method_call_ns(calls: int = CALLS, repeats: int = REPEATS) -> float:
    """Nanoseconds per call of :meth:`_Probe.relax` (loop included; min of ``repeats`` timings)."""
    relax = _Probe().relax
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter_ns()
        for _ in range(calls):
            relax(0.5)
        best = min(best, time.perf_counter_ns() - start)
    return best / calls


def libpython_shared() -> bool | None:
    """True when this process runs the interpreter from a shared ``libpython`` (position-
    independent code: slower on CPython 3.11), False when it is linked into the executable;
    None where /proc/self/maps cannot be read (not Linux)."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as handle:
            return any("libpython" in line for line in handle)
    except OSError:
        return None


def interpreter() -> dict[str, Any]:
    """The interpreter's identity and speed index (``call_ns``: see :func:`method_call_ns`)."""
    return {
        "implementation": platform.python_implementation(),
        "version": platform.python_version(),
        "executable": sys.executable,
        "build": " ".join(platform.python_build()),
        "compiler": platform.python_compiler(),
        "libpython_shared": libpython_shared(),
        "call_ns": round(method_call_ns(), 1),
    }
