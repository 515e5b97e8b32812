"""The DAQ970A's scan trigger system and reading memory (Keysight DAQ970A/DAQ973A Programming Guide,
chapter 2 "SCPI Programming": TRIGger subsystem p. 341-343, DATA subsystem p. 109-110, R? p. 29,
INITiate/FETCh?/ABORt in the scan description p. 214-215; the 34970A User's Guide, chapter 5
"Remote Interface Reference" p. 227-235, for the same scan model).

``INIT`` clears reading memory and starts a scan: each trigger sweeps once through the scan list
and stores one reading per channel, oldest first, up to 100,000 readings (an overflow overwrites the
oldest). The trigger source decides when sweeps happen: ``IMMediate`` back to back, ``TIMer`` one
every ``TRIGger:TIMer`` seconds from the start, ``BUS`` one per ``*TRG``; ``EXTernal``, ``ALARm``
and ``INTernal`` wait for signals this simulator never receives. The scan stops after
``TRIGger:COUNt`` sweeps (``INFinity`` never) or on ``ABORt`` (readings are kept).

The world advances lazily: sweeps that fell due between two commands are taken when the next
command arrives, with the world as it is then (the time stamps stay the scheduled ones). Units:
seconds.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

#: Reading memory, readings (DAQ970A Programming Guide p. 109: "up to 100,000 readings").
MEMORY_READINGS = 100_000
#: TRIGger:COUNt range, sweeps; INFinity is stored as ``math.inf`` and reads back as 9.9E+37.
COUNT_MAX = 100_000
#: TRIGger:TIMer range, seconds (0 to 359,999 s with 1 ms resolution, 34970A User's Guide p. 229).
TIMER_MAX_S = 359_999.0
#: Trigger sources the manual lists (p. 342) and the short form ``TRIG:SOUR?`` returns.
SOURCES = {"IMM": "IMM", "IMMEDIATE": "IMM", "TIM": "TIM", "TIMER": "TIM", "BUS": "BUS", "EXT": "EXT",
           "EXTERNAL": "EXT", "INT": "INT", "INTERNAL": "INT", "ALAR": "ALAR1", "ALARM": "ALAR1",
           **{f"{word}{n}": f"ALAR{n}" for word in ("ALAR", "ALARM") for n in (1, 2, 3, 4)}}

#: One stored reading: (time since the scan started in s, channel, value in the unit at the time).
Reading = tuple[float, int, float]


class ScanMemory:
    """Trigger settings, scan state and reading memory of one DAQ970A.

    ``sweep`` reads every channel of the scan list once from the world's present state and returns
    ``[(channel, value), ...]``; ``sweep_time_s`` is how long one sweep takes (channel delays and
    integration times), seconds.
    """

    def __init__(self, sweep: Callable[[], list[tuple[int, float]]], sweep_time_s: Callable[[], float]) -> None:
        self._sweep = sweep
        self._sweep_time_s = sweep_time_s
        self.readings: deque[Reading] = deque(maxlen=MEMORY_READINGS)
        self.reset()

    def reset(self) -> None:
        """Factory reset: IMMediate source, one sweep, memory cleared, no scan running.

        The scan interval after a reset is 10 s (34970A User's Guide, "Factory Reset State")."""
        self.source = "IMM"
        self.count: float = 1.0
        self.timer_s = 10.0
        self.readings.clear()
        self.running = False
        self._start_s = 0.0
        self._sweeps_done = 0
        self._bus_triggers = 0

    # -- the trigger system -------------------------------------------------------------------
    def initiate(self, now_s: float) -> None:
        """``INITiate``: clear reading memory and wait for triggers from ``now_s``."""
        self.readings.clear()
        self.running = True
        self._start_s = now_s
        self._sweeps_done = 0
        self._bus_triggers = 0
        self.catch_up(now_s)

    def abort(self, now_s: float) -> None:
        """``ABORt``: take the sweeps due until now, then stop (the readings stay in memory)."""
        self.catch_up(now_s)
        self.running = False

    def bus_trigger(self, now_s: float) -> bool:
        """``*TRG``: one sweep now when the scan waits for BUS triggers; False when it does not."""
        if not (self.running and self.source == "BUS"):
            return False
        self._bus_triggers += 1
        self.catch_up(now_s)
        return True

    def catch_up(self, now_s: float) -> None:
        """Store the sweeps that have fallen due by ``now_s`` (bounded by the memory's size)."""
        if not self.running:
            return
        due = self._due_sweeps(now_s) - self._sweeps_done
        if due <= 0:
            return
        interval = self._interval_s()
        # Only the newest MEMORY_READINGS readings survive an overflow: skip sweeps that would be
        # overwritten anyway (a long unattended INFinity scan).
        values = self._sweep()
        keep = MEMORY_READINGS // max(1, len(values)) + 1
        first = self._sweeps_done + max(0, due - keep)
        for k in range(first, self._sweeps_done + due):
            t = k * interval if self.source != "BUS" else now_s - self._start_s
            self.readings.extend((t, channel, value) for channel, value in values)
        self._sweeps_done += due
        if self._sweeps_done >= self.count:
            self.running = False

    def _interval_s(self) -> float:
        sweep_s = self._sweep_time_s()
        return max(self.timer_s, sweep_s) if self.source == "TIM" else sweep_s

    def _due_sweeps(self, now_s: float) -> int:
        """Sweeps started and finished by ``now_s`` since INIT (not capped by the count yet)."""
        if self.source == "BUS":
            due = self._bus_triggers
        elif self.source in ("IMM", "TIM"):
            elapsed = now_s - self._start_s
            sweep_s = self._sweep_time_s()
            interval = self._interval_s()
            due = 0 if elapsed < sweep_s else int((elapsed - sweep_s) // interval) + 1
        else:  # EXTernal, ALARm, INTernal: no such signal reaches a simulator
            due = 0
        return int(min(due, self.count)) if math.isfinite(self.count) else due

    # -- reading memory ------------------------------------------------------------------------
    def remove(self, count: int) -> list[Reading]:
        """``DATA:REMove?``: the ``count`` oldest readings, erased from memory; ValueError when fewer
        are stored (the caller answers with an error)."""
        if count > len(self.readings):
            raise ValueError(f"{count} readings asked, {len(self.readings)} in memory")
        return [self.readings.popleft() for _ in range(count)]
