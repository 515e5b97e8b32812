"""Clocks for the simulated world: a virtual clock (as fast as the CPU allows) and a scaled
wall clock (N times real time), both with the same two-method interface the engine uses.

Times are seconds. ``now_s()`` is monotonic seconds since the clock was created.
"""

from __future__ import annotations

import threading
import time


class VirtualClock:
    """A clock that only moves when someone sleeps on it: 24 h of protocol runs in milliseconds.

    ``sleep(dt)`` advances virtual time by ``dt`` seconds and returns at once. Listeners registered
    with ``on_advance`` are not needed by the simulators: they read ``now_s()`` lazily.
    """

    #: Time moves only when someone sleeps: a controller may stride (bench/engine/adaptive.py).
    virtual = True

    def __init__(self, start_s: float = 0.0) -> None:
        self._now_s = float(start_s)

    def now_s(self) -> float:
        """Virtual seconds since the start."""
        return self._now_s

    def sleep(self, duration_s: float) -> None:
        """Advance virtual time by ``duration_s`` seconds (negative durations are ignored)."""
        if duration_s > 0.0:
            self._now_s += duration_s

    def set_now(self, now_s: float) -> None:
        """Jump to ``now_s`` (used when a run is resumed from its journal); never goes backwards."""
        self._now_s = max(self._now_s, float(now_s))


class ScaledClock:
    """Wall clock running ``speed`` times faster than real time (``speed=1`` is real time).

    Used by the loopback TCP simulators (``bench sim serve --speed N``) and by a paced run
    (``bench run --speed N``). Thread-safe: ``now_s`` reads a monotonic counter.
    """

    def __init__(self, speed: float = 1.0, start_s: float = 0.0) -> None:
        if speed <= 0:
            raise ValueError(f"clock speed must be > 0, got {speed}")
        self.speed = float(speed)
        self._t0_wall = time.monotonic()
        self._start_s = float(start_s)
        self._lock = threading.Lock()

    def now_s(self) -> float:
        """Simulated seconds since the start: wall seconds elapsed times ``speed``."""
        return self._start_s + (time.monotonic() - self._t0_wall) * self.speed

    def sleep(self, duration_s: float) -> None:
        """Sleep ``duration_s`` simulated seconds (``duration_s / speed`` wall seconds)."""
        if duration_s > 0.0:
            time.sleep(duration_s / self.speed)

    def set_now(self, now_s: float) -> None:
        """Re-anchor so that ``now_s()`` reads ``now_s`` from this instant on."""
        with self._lock:
            self._t0_wall = time.monotonic()
            self._start_s = float(now_s)
