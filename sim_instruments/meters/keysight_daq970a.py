"""Simulated Keysight DAQ970A data acquisition system with a DAQM901A multiplexer, reading
type-K thermocouples (SCPI command set).

After the Keysight DAQ970A Programming Guide (chapter "Command reference": CONFigure:TEMPerature,
MEASure:TEMPerature?, ROUTe:SCAN, READ?, UNIT:TEMPerature). Channels: 101 = cell surface of
cycler channel 0 (10n+1 for channel n), 102 = chamber air near the cell. An open thermocouple
reads +9.9E+37 (overload), as the instrument reports with open-T/C detection on.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sim_instruments.wire.scpi_frontend import ScpiError, ScpiFrontEnd
from sim_instruments.world.sim_world import SimWorld

OVERLOAD = 9.9e37
_CHANNEL_LIST = re.compile(r"\(@([0-9:,]+)\)")


def parse_channel_list(text: str) -> list[int]:
    """``(@101:103,105)`` -> ``[101, 102, 103, 105]``; raises ScpiError -224 if malformed."""
    match = _CHANNEL_LIST.search(text)
    if not match:
        raise ScpiError(-224, text)
    channels: list[int] = []
    for item in match.group(1).split(","):
        if ":" in item:
            first, last = (int(x) for x in item.split(":"))
            channels.extend(range(first, last + 1))
        elif item:
            channels.append(int(item))
    return channels


class KeysightDaq970aSim(ScpiFrontEnd):
    """DAQ970A thermocouple readings computed from the world's cell and chamber temperatures."""

    def __init__(self, world: SimWorld, serial: str = "MY58001234", *,
                 cell_channels: dict[int, int] | None = None, air_channels: tuple[int, ...] = ()) -> None:
        """``cell_channels`` (DAQ channel -> world cell index) and ``air_channels`` wire the
        thermocouples explicitly (multi-channel benches); without them channel 10n+1 of a slot is
        the surface of cell n and 10n+2 the chamber air."""
        super().__init__(f"Keysight Technologies,DAQ970A,{serial},A.03.02-01.00-03.02-00.02-02-02")
        self.world = world
        self.cell_channels = dict(cell_channels) if cell_channels is not None else None
        self.air_channels = frozenset(air_channels)
        self.scan_list: list[int] = [101]
        self.unit = "C"
        #: DAQ channel -> callable reading its temperature in °C (the wiring is fixed at build time).
        self._readers: dict[int, Callable[[], float]] = {}
        self.add(":CONFigure:TEMPerature", self._configure)
        self.add(":ROUTe:SCAN", self._set_scan)
        self.add(":ROUTe:SCAN?", lambda _a: "(@" + ",".join(map(str, self.scan_list)) + ")")
        self.add(":UNIT:TEMPerature", self._set_unit)
        self.add(":UNIT:TEMPerature?", lambda _a: self.unit)
        self.add(":READ?", self._read)
        self.add(":MEASure:TEMPerature?", self._measure)
        self.add(":SENSe:TEMPerature:TRANsducer:TCouple:CHECk", lambda _a: None)

    def before_command(self) -> None:
        """Bring the physics to the present instant."""
        self.world.sync()

    def reset(self) -> None:
        """``*RST``: empty scan list, °C."""
        self.scan_list = []
        self.unit = "C"

    def _configure(self, args: str) -> None:
        if not args.upper().startswith("TC"):
            raise ScpiError(-224, args)
        self.scan_list = parse_channel_list(args)

    def _set_scan(self, args: str) -> None:
        self.scan_list = parse_channel_list(args)

    def _set_unit(self, args: str) -> None:
        word = args.strip().upper()
        if word not in ("C", "F", "K"):
            raise ScpiError(-224, args)
        self.unit = word

    def _measure(self, args: str) -> str:
        return self._format(parse_channel_list(args))

    def _read(self, _args: str) -> str:
        """``READ?``: one scan of the scan list."""
        channels = self.scan_list
        readers = self._readers
        # Fast path, the usual scan: two channels read before (cell surface, chamber air) in °C.
        if len(channels) == 2 and self.unit == "C":
            first, second = channels
            if first in readers and second in readers:
                return "%+.8E,%+.8E" % (readers[first](), readers[second]())  # noqa: UP031 - faster
        return self._format(channels)

    def _reader(self, channel: int) -> Callable[[], float]:
        """The callable reading ``channel`` (°C; OVERLOAD when the thermocouple is open), remembered
        per channel; raises ScpiError -222 for a channel wired to nothing."""
        world = self.world
        index: int | None
        if self.cell_channels is not None:
            index = self.cell_channels.get(channel)
            air = index is None and channel in self.air_channels
        else:
            slot_index, kind = divmod(channel % 100 - 1, 10)
            index = slot_index if kind == 0 and 0 <= slot_index < len(world.channels) else None
            air = index is None and kind == 1
        reader: Callable[[], float]
        if index is not None:
            def read_cell(world: SimWorld = world, index: int = index) -> float:
                ch = world.channels[index]
                return OVERLOAD if ch.thermocouple_open else ch.cell.measured_temperature_c()
            reader = read_cell
        elif air:
            def read_air(world: SimWorld = world) -> float:
                return world.chamber.air_c
            reader = read_air
        else:
            raise ScpiError(-222, f"channel {channel}")
        self._readers[channel] = reader
        return reader

    def _temperature_c(self, channel: int) -> float:
        """Temperature on ``channel``, °C (OVERLOAD when its thermocouple is open)."""
        return (self._readers.get(channel) or self._reader(channel))()

    def _format(self, channels: list[int]) -> str:
        if not channels:
            raise ScpiError(-221, "empty scan list")
        values = [self._temperature_c(channel) for channel in channels]  # in scan order
        if self.unit != "C":
            kelvin = self.unit == "K"
            values = [v if v >= OVERLOAD else (v + 273.15 if kelvin else v * 9.0 / 5.0 + 32.0) for v in values]
        if len(values) == 2:
            return "%+.8E,%+.8E" % (values[0], values[1])  # noqa: UP031 - faster than format()
        return ",".join(["%+.8E" % v for v in values])  # noqa: UP031
