"""Reading buffers of the simulated Keithley 2460: ``defbuffer1`` and ``defbuffer2``, :TRACe subsystem.

After the Model 2460 Reference Manual (2460-901-01) section 6 "TRACe subsystem" (2450-901-01 the
same): ``:TRACe:POINts <size>[, "<buffer>"]`` (capacity), ``:TRACe:ACTual? ["<buffer>"]`` (readings
stored), ``:TRACe:CLEar ["<buffer>"]``, ``:TRACe:DATA? <start>, <end>[, "<buffer>"[, <elements>]]``
(1-based, inclusive), ``:TRACe:STATistics:AVERage|MAXimum|MINimum|PK2Pk|STDDev? ["<buffer>"]``,
``:TRACe:MAKE "<name>", <size>[, <style>]`` (a user buffer; styles COMPact, STANdard, FULL,
WRITable, FULLWRITable), ``:TRACe:DELete "<name>"`` (user buffers only) and ``:TRACe:TRIGger
["<buffer>"]`` (one reading of the measure function into the buffer).
A buffer is a ring: when full, the oldest reading goes. ``:READ?`` and ``:INIT`` store into
defbuffer1 unless told otherwise.

Simulator choices where the manual gives no number we could check: the default capacity is
100 000 readings, the largest accepted 6 875 000 (the 2460's standard-reading memory), a resize
empties the buffer, and a statistic of an empty buffer reads 9.91E+37 (SCPI's NaN).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Any

from sim_instruments.wire.scpi_frontend import ScpiError, parse_number

BUFFER_NAMES = ("defbuffer1", "defbuffer2")
BUFFER_STYLES = ("COMPACT", "COMP", "STANDARD", "STAN", "FULL", "WRITABLE", "WRIT", "FULLWRITABLE", "FULLWRIT")
DEFAULT_CAPACITY = 100_000
MAX_CAPACITY = 6_875_000
SCPI_NAN = "9.91E+37"


class ReadingBuffers:
    """The two default buffers; ``owner._readings`` always is defbuffer1's deque (its fast path)."""

    def __init__(self, now_s: Callable[[], float]) -> None:
        self.now_s = now_s
        self._owner: Any = None
        self._buffers: dict[str, deque[float]] = {name: deque(maxlen=DEFAULT_CAPACITY) for name in BUFFER_NAMES}

    def readings(self, name: str) -> deque[float]:
        """The readings of buffer ``name`` (oldest first)."""
        return self._buffers[name]

    def reset(self) -> None:
        """``*RST``: default capacities, empty buffers, user buffers deleted."""
        for name in [n for n in self._buffers if n not in BUFFER_NAMES]:
            del self._buffers[name]
        for name in BUFFER_NAMES:
            self._resize(name, DEFAULT_CAPACITY)

    def check_name(self, name: str) -> str:
        """``name`` if it is a buffer; -224 otherwise."""
        if name not in self._buffers:
            raise ScpiError(-224, f'"{name}"')
        return name

    def store(self, name: str, reading: float) -> None:
        """Append a reading to buffer ``name``."""
        self._buffers[self.check_name(name)].append(reading)

    def declare(self, frontend: Any) -> None:
        """Register the :TRACe commands on ``frontend`` (which gets ``_readings``)."""
        self._owner = frontend
        frontend._readings = self._buffers["defbuffer1"]
        add = frontend.add
        add(":TRACe:POINts", self._set_points)
        add(":TRACe:POINts?", lambda a: str(self._buffer(a).maxlen))
        add(":TRACe:ACTual?", lambda a: str(len(self._buffer(a))))
        add(":TRACe:CLEar", lambda a: self._buffer(a).clear())
        add(":TRACe:DATA?", self._data)
        add(":TRACe:MAKE", self._make)
        add(":TRACe:DELete", self._delete)
        add(":TRACe:TRIGger", lambda a: self._buffer(a).append(frontend.reading()))
        for node, statistic in (("AVERage", _mean), ("MAXimum", max), ("MINimum", min),
                                ("PK2Pk", lambda r: max(r) - min(r)), ("STDDev", _stddev)):
            add(f":TRACe:STATistics:{node}?", lambda a, f=statistic: self._statistic(a, f))

    # -- commands ----------------------------------------------------------------------------
    def _name(self, text: str) -> str:
        name = text.strip().strip("\"'") or "defbuffer1"
        return self.check_name(name)

    def _buffer(self, args: str) -> deque[float]:
        return self._buffers[self._name(args)]

    def _resize(self, name: str, capacity: int) -> None:
        self._buffers[name] = deque(maxlen=capacity)
        if self._owner is not None and name == "defbuffer1":
            self._owner._readings = self._buffers[name]

    def _set_points(self, args: str) -> None:
        size_text, _, name_text = args.partition(",")
        capacity = int(parse_number(size_text, low=1, high=MAX_CAPACITY))
        self._resize(self._name(name_text), capacity)

    def _make(self, args: str) -> None:
        parts = [p.strip() for p in args.split(",")]
        if len(parts) < 2 or not parts[1]:
            raise ScpiError(-109, args)
        name = parts[0].strip("\"'")
        if not name or name in self._buffers:
            raise ScpiError(-224, parts[0])  # an existing name (or none)
        capacity = int(parse_number(parts[1], low=10, high=MAX_CAPACITY))
        if len(parts) > 2 and parts[2] and parts[2].upper() not in BUFFER_STYLES:
            raise ScpiError(-224, parts[2])
        self._buffers[name] = deque(maxlen=capacity)

    def _delete(self, args: str) -> None:
        name = self._name(args)
        if name in BUFFER_NAMES:
            raise ScpiError(-224, args)  # the default buffers cannot be deleted
        del self._buffers[name]

    def _data(self, args: str) -> str:
        parts = [p.strip() for p in args.split(",")]
        if len(parts) < 2 or not parts[1]:
            raise ScpiError(-109, args)
        buffer = self._buffer(parts[2] if len(parts) > 2 else "")
        for element in parts[3:]:
            if element.upper() != "READ":
                raise ScpiError(-224, element)  # only the reading is kept per entry
        start = int(parse_number(parts[0], low=1, high=max(len(buffer), 1)))
        end = int(parse_number(parts[1], low=start, high=max(len(buffer), 1)))
        if not buffer:
            raise ScpiError(-222, "buffer empty")
        readings = list(buffer)[start - 1:end]
        return ",".join(f"{r:+.6E}" for r in readings)

    def _statistic(self, args: str, statistic: Callable[[Any], float]) -> str:
        buffer = self._buffer(args)
        if not buffer:
            return SCPI_NAN
        return f"{statistic(buffer):+.6E}"


def _mean(readings: deque[float]) -> float:
    return math.fsum(readings) / len(readings)


def _stddev(readings: deque[float]) -> float:
    """Sample standard deviation (0 for one reading)."""
    if len(readings) < 2:
        return 0.0
    mean = _mean(readings)
    return math.sqrt(math.fsum((r - mean) ** 2 for r in readings) / (len(readings) - 1))
