"""The engine's clock interface and the wall clock used with real (or loopback) instruments."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Seconds since start, and a sleep that the clock defines (virtual clocks just advance)."""

    def now_s(self) -> float: ...

    def sleep(self, duration_s: float) -> None: ...


class RealClock:
    """Monotonic wall-clock seconds since creation, times ``speed``.

    ``speed=1`` for real instruments; ``speed=N`` keeps a run in step with simulators served by
    ``bench sim serve --speed N`` (their world runs N times faster than the wall clock).
    """

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.speed = float(speed)
        self._t0 = time.monotonic()

    def now_s(self) -> float:
        """Scaled seconds since creation."""
        return (time.monotonic() - self._t0) * self.speed

    def sleep(self, duration_s: float) -> None:
        """Sleep ``duration_s`` scaled seconds on the wall clock."""
        if duration_s > 0:
            time.sleep(duration_s / self.speed)
