"""Simulated Keithley 2460: language, line frequency, status and event-log clearing, linear sweeps.

After the Model 2460 Reference Manual (2460-901-01) section 6 "SCPI command reference" (2450-901-01
the same tree):

- ``*LANG <SCPI|TSP|SCPI2400>`` / ``*LANG?``: the command set chosen for the next power-up; the
  query answers the one in use, ``SCPI`` for this simulator (a change would take effect only after
  a power cycle, which a simulator does not have).
- ``:SYSTem:LFRequency?``: the power-line frequency the instrument detected, Hz, used for NPLC
  timing (this simulator's mains: :data:`LINE_FREQUENCY_HZ`).
- ``:STATus:CLEar``: clears the event registers (the standard event status register here; the
  operation and questionable event registers are held at 0 by this simulator).
- ``:SYSTem:CLEar``: clears the event log, which the SCPI error queue reads from.
- ``:SENSe[1]:AZERo:ONCE``: refresh the reference and zero measurements once (simulated readings
  carry no drift: nothing changes).
- ``:SOURce[1]:SWEep:<function>:LINear <start>, <stop>, <points>[, <delay>[, <count>[, <rangeType>
  [, <failAbort>[, <dual>[, "<bufferName>"]]]]]]``: replaces the trigger model with a linear sweep
  that ``:INITiate`` runs: the buffer cleared (the sweep model's first block), then ``points``
  source levels from start to stop (back again when dual), each measured with the sense function
  into the buffer, ``count`` times.

Simulator choices: a sweep's readings are taken at one instant of the shared virtual clock (the
simulator does not advance the bench's clock; ``delay`` is checked, not waited), the output is on
for the sweep and back to its previous state after, and the sweep's source function becomes the
present one.
"""

from __future__ import annotations

import functools
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from sim_instruments.cyclers import keithley24xx_settings as table
from sim_instruments.cyclers.keithley2460_buffer import ReadingBuffers
from sim_instruments.wire.scpi_frontend import Handler, ScpiError, parse_bool, parse_number
from sim_instruments.world.sim_world import SimWorld, SourceState

LANGUAGES = ("SCPI", "TSP", "SCPI2400")
LINE_FREQUENCY_HZ = 60
#: :SWEep:<function>:LINear parameter ranges: points, delay (s; -1 = auto), count.
SWEEP_POINTS = (2, 1_000_000)
SWEEP_DELAY_S = (-1.0, 10000.0)
SWEEP_COUNT = (1, 268_435_455)
RANGE_TYPES = ("AUTO", "BEST", "FIXed")


@dataclass(frozen=True)
class Sweep:
    """A linear sweep the trigger model holds: levels of ``function`` and where readings go."""

    function: str
    levels: tuple[float, ...]
    count: int
    buffer: str


class Keithley2460Sim(Protocol):
    """What this module uses of the simulator (:class:`sim_instruments.cyclers.keithley2460.Keithley2460Sim`)."""

    world: SimWorld
    buffers: ReadingBuffers
    errors: deque[tuple[int, str]]
    esr: int
    next_language: str
    sweep: Sweep | None

    @property
    def source(self) -> SourceState: ...
    def add(self, pattern: str, handler: Handler) -> None: ...
    def reading(self) -> float: ...


def declare(sim: Keithley2460Sim) -> None:
    """Register the commands of this module on ``sim``."""
    add = sim.add
    add("*LANG?", lambda _a: "SCPI")
    add("*LANG", lambda a: _set_language(sim, a))
    add(":SYSTem:LFRequency?", lambda _a: str(LINE_FREQUENCY_HZ))
    add(":STATus:CLEar", lambda _a: _clear_events(sim))
    add(":SYSTem:CLEar", lambda _a: sim.errors.clear())
    add(":SENSe[1]:AZERo:ONCE", lambda _a: None)
    for function, node in table.SOURCE_NODES.items():
        add(f":SOURce[1]:SWEep:{node}:LINear", functools.partial(_set_sweep, sim, function))


def _set_language(sim: Keithley2460Sim, args: str) -> None:
    word = args.strip().strip("\"'").upper()
    if word not in LANGUAGES:
        raise ScpiError(-224, args)
    sim.next_language = word


def _clear_events(sim: Keithley2460Sim) -> None:
    sim.esr = 0


def _set_sweep(sim: Keithley2460Sim, function: str, args: str) -> None:
    parts = [p.strip() for p in args.split(",")] if args.strip() else []
    if len(parts) < 3:
        raise ScpiError(-109, args)
    if len(parts) > 9:
        raise ScpiError(-108, args)
    limit = table.RANGES[function][-1] * table.OVERRANGE
    start = parse_number(parts[0], low=-limit, high=limit)
    stop = parse_number(parts[1], low=-limit, high=limit)
    points = int(parse_number(parts[2], low=SWEEP_POINTS[0], high=SWEEP_POINTS[1]))
    if len(parts) > 3:
        parse_number(parts[3], low=SWEEP_DELAY_S[0], high=SWEEP_DELAY_S[1])
    count = 1
    if len(parts) > 4:
        count = SWEEP_COUNT[1] if parts[4].upper() == "INF" else int(
            parse_number(parts[4], low=SWEEP_COUNT[0], high=SWEEP_COUNT[1]))
    if len(parts) > 5:
        table.match_word(RANGE_TYPES, parts[5])
    if len(parts) > 6:
        parse_bool(parts[6])  # failAbort: the simulated source never fails a limit check
    dual = parse_bool(parts[7]) if len(parts) > 7 else False
    buffer = parts[8].strip("\"'") if len(parts) > 8 and parts[8].strip("\"'") else "defbuffer1"
    sim.buffers.check_name(buffer)
    step = (stop - start) / (points - 1)
    levels = tuple(start + step * i for i in range(points))
    if dual:
        levels += tuple(reversed(levels))
    sim.sweep = Sweep(function, levels, count, buffer)


def run_sweep(sim: Keithley2460Sim, sweep: Sweep) -> None:
    """``:INITiate`` with a sweep in the trigger model: every level measured into its buffer."""
    src = sim.source
    was_on = src.output_on
    src.function = sweep.function
    src.output_on = True
    sim.buffers.readings(sweep.buffer).clear()
    try:
        for _ in range(min(sweep.count, 1000)):  # bounded: INF runs until ABORt on the instrument
            for level in sweep.levels:
                if sweep.function == "CURR":
                    src.current_a = level
                else:
                    src.voltage_v = level
                sim.world.sync()
                sim.buffers.store(sweep.buffer, sim.reading())
    finally:
        src.output_on = was_on
