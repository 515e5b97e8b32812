"""Simulated Keysight DAQ970A data acquisition system with a DAQM901A multiplexer whose channels are
wired to type-K thermocouples (SCPI command set).

After the Keysight DAQ970A/DAQ973A Programming Guide, chapter 2 "SCPI Programming" (page numbers of
that guide unless stated; the DAQ970A keeps the 34970A's scan model and command tree, so facts the
guide's excerpts leave open come from the 34970A User's Guide, chapter 5). The command table with
sections is :data:`sim_instruments.meters.daq970a_manual.MANUAL_COMMANDS`; a header it does not
list gets -113 "Undefined header".

Channels: 10n+1 = cell surface of cycler channel n, 10n+2 = chamber air (or explicit wiring). Each
channel measures the EMF of its thermocouple against the terminal block (the reference junction,
at lab temperature): ``FUNC "TEMP"`` converts it with the reference junction's temperature
(INTernal: the terminal block's, measured; FIXed: the programmed one, so a wrong fixed value reads
wrong; EXTernal: no reference channel is wired, so +9.9E+37), ``FUNC "VOLT"`` returns the EMF in
volts. An open thermocouple reads +9.9E+37 (overload). Scans, triggers and reading memory:
:mod:`sim_instruments.meters.daq970a_scan`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sim_instruments.meters.daq970a_manual import MANUAL_COMMANDS
from sim_instruments.meters.daq970a_scan import COUNT_MAX, SOURCES, TIMER_MAX_S, Reading, ScanMemory
from sim_instruments.meters.thermocouple import type_k_emf_v, type_k_temperature_c
from sim_instruments.wire.scpi_frontend import ScpiError, parse_bool, parse_number
from sim_instruments.wire.scpi_status import StatusFrontEnd
from sim_instruments.world.sim_world import SimWorld

__all__ = ["MANUAL_COMMANDS", "OVERLOAD", "KeysightDaq970aSim", "parse_channel_list"]

OVERLOAD = 9.9e37
_CHANNEL_LIST = re.compile(r"\(@([0-9:,]*)\)")
#: Integration times a channel accepts, power-line cycles (34970A User's Guide p. 216).
NPLC_VALUES = (0.02, 0.2, 1.0, 2.0, 10.0, 20.0, 100.0, 200.0)
#: Power-line period used for integration times, s (50 Hz mains).
PLC_S = 0.02
#: Automatic channel delay for dc volts and thermocouples, s (34970A User's Guide p. 89).
AUTO_DELAY_S = 0.002
TC_TYPES = ("B", "E", "J", "K", "N", "R", "S", "T")
_RJUN_TYPES = {"INT": "INT", "INTERNAL": "INT", "EXT": "EXT", "EXTERNAL": "EXT", "FIX": "FIX", "FIXED": "FIX"}


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


def split_channel_args(args: str) -> tuple[list[str], list[int] | None]:
    """``"1,(@101,102)"`` -> ``(["1"], [101, 102])``; no channel list -> ``(params, None)``."""
    index = args.find("(@")
    if index < 0:
        return [p.strip() for p in args.split(",") if p.strip()], None
    params = [p.strip() for p in args[:index].split(",") if p.strip()]
    return params, parse_channel_list(args[index:])


@dataclass
class ChannelConfig:
    """One multiplexer channel's measurement settings (the *RST state)."""

    function: str = "TEMP"  # "TEMP" or "VOLT" (dc volts)
    tc_type: str = "J"  # CONF:TEMP TC,DEF selects J (34970A User's Guide p. 200)
    rjun_type: str = "INT"
    rjun_fixed_c: float = 0.0
    nplc: float = 1.0
    delay_s: float | None = None  # None: automatic

    def sweep_time_s(self) -> float:
        """Channel delay plus integration time, s."""
        return (AUTO_DELAY_S if self.delay_s is None else self.delay_s) + self.nplc * PLC_S


class KeysightDaq970aSim(StatusFrontEnd):
    """DAQ970A readings computed from the world's cell and chamber temperatures."""

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
        self.format_channel = False
        self.config: dict[int, ChannelConfig] = {}
        #: Multiplexer relays closed with ROUTe:CLOSe (a scan or a measurement opens them again).
        self.closed: set[int] = set()
        self.scan = ScanMemory(self._sweep, self._sweep_time_s)
        #: The usual scan (°C, internal reference, immediate single sweep, no channel numbers):
        #: READ? takes its fast path. Recomputed by every settings change (:meth:`_changed`).
        self._plain = False
        #: DAQ channel -> callable reading its hot-junction temperature in °C (fixed wiring).
        self._readers: dict[int, Callable[[], float]] = {}
        add = self.add
        add(":CONFigure:TEMPerature", self._configure_temperature)
        add(":CONFigure:VOLTage[:DC]", self._configure_voltage)
        add(":MEASure:TEMPerature?", lambda a: self._measure(a, self._configure_temperature))
        add(":MEASure:VOLTage[:DC]?", lambda a: self._measure(a, self._configure_voltage))
        add(":ROUTe:SCAN", self._set_scan)
        add(":ROUTe:SCAN?", lambda _a: "(@" + ",".join(map(str, self.scan_list)) + ")")
        add(":ROUTe:SCAN:SIZE?", lambda _a: "%+d" % len(self.scan_list))  # noqa: UP031
        add(":ROUTe:CHANnel:DELay", self._set_delay)
        add(":ROUTe:CHANnel:DELay?", lambda a: self._per_channel(a, lambda c: "%+.8E" % (  # noqa: UP031
            AUTO_DELAY_S if c.delay_s is None else c.delay_s)))
        add(":ROUTe:CLOSe", self._close)
        add(":ROUTe:OPEN", lambda a: self.closed.difference_update(parse_channel_list(a)))
        add(":ROUTe:CLOSe?", lambda a: ",".join("1" if c in self.closed else "0" for c in parse_channel_list(a)))
        add(":ROUTe:OPEN?", lambda a: ",".join("0" if c in self.closed else "1" for c in parse_channel_list(a)))
        add(":UNIT:TEMPerature", self._set_unit)
        add(":UNIT:TEMPerature?", lambda _a: self.unit)
        add(":READ?", self._read)
        add(":INITiate[:IMMediate]", self._initiate)
        add(":ABORt", self._abort)
        add("*TRG", self._trigger)
        add(":FETCh?", self._fetch)
        add(":TRIGger:SOURce", self._set_source)
        add(":TRIGger:SOURce?", lambda _a: self.scan.source)
        add(":TRIGger:COUNt", self._set_count)
        add(":TRIGger:COUNt?", lambda _a: "%+.8E" % (self.scan.count if math.isfinite(self.scan.count)  # noqa: UP031
                                                      else OVERLOAD))
        add(":TRIGger:TIMer", self._set_timer)
        add(":TRIGger:TIMer?", lambda _a: "%+.8E" % self.scan.timer_s)  # noqa: UP031
        add(":DATA:POINts?", self._points)
        add(":DATA:REMove?", self._remove)
        add(":R?", self._r_block)
        add(":FORMat:READing:CHANnel", self._set_format_channel)
        add(":FORMat:READing:CHANnel?", lambda _a: "1" if self.format_channel else "0")
        for root in ("", ":SENSe"):  # [SENSe:] is optional in every sense command
            add(root + ":FUNCtion", self._set_function)
            add(root + ":FUNCtion?", lambda a: self._per_channel(a, lambda c: f'"{c.function}"'))
            add(root + ":TEMPerature:NPLC", lambda a: self._set_nplc(a, "TEMP"))
            add(root + ":TEMPerature:NPLC?", lambda a: self._per_channel(a, lambda c: "%+.8E" % c.nplc))  # noqa: UP031
            add(root + ":VOLTage[:DC]:NPLC", lambda a: self._set_nplc(a, "VOLT"))
            add(root + ":VOLTage[:DC]:NPLC?", lambda a: self._per_channel(a, lambda c: "%+.8E" % c.nplc))  # noqa: UP031
            tc = root + ":TEMPerature:TRANsducer:TCouple"
            add(tc + ":TYPE", self._set_tc_type)
            add(tc + ":TYPE?", lambda a: self._per_channel(a, lambda c: c.tc_type))
            add(tc + ":RJUNction:TYPE", self._set_rjun_type)
            add(tc + ":RJUNction:TYPE?", lambda a: self._per_channel(a, lambda c: c.rjun_type))
            add(tc + ":RJUNction", self._set_rjun_fixed)
            add(tc + ":RJUNction?", lambda a: self._per_channel(a, lambda c: "%+.8E" % c.rjun_fixed_c))  # noqa: UP031
            add(tc + ":CHECk", lambda _a: None)

    def before_command(self) -> None:
        """Bring the physics to the present instant (while a scan runs, :meth:`_before_scanning`
        stands in: it also stores the sweeps that fell due)."""
        self.world.sync()

    def _before_scanning(self) -> None:
        now = self.world.sync()
        scan = self.scan
        scan.catch_up(now)
        if not scan.running:
            del self.before_command  # back to the class's plain sync
    def reset(self) -> None:
        """``*RST``: empty scan list, °C, channel settings and trigger system to their defaults,
        reading memory cleared, channel numbers off (FORMat subsystem p. 139)."""
        self.scan_list = []
        self.unit = "C"
        self.format_channel = False
        self.config.clear()
        self.closed.clear()
        self.scan.reset()
        self._changed()

    # -- settings ------------------------------------------------------------------------------
    def _changed(self) -> None:
        """A setting READ?'s fast path depends on changed, or a scan started or stopped."""
        self._plain = self._is_plain()
        if self.scan.running:
            self.before_command = self._before_scanning  # type: ignore[method-assign]  # per-instance hook while scanning
        elif "before_command" in self.__dict__:
            del self.before_command

    def _channel(self, channel: int) -> ChannelConfig:
        config = self.config.get(channel)
        if config is None:
            config = self.config[channel] = ChannelConfig()
        return config

    def _targets(self, channels: list[int] | None) -> list[int]:
        """The channels a setting applies to: its list, or the scan list when it has none."""
        return self.scan_list if channels is None else channels

    def _per_channel(self, args: str, reply: Callable[[ChannelConfig], str]) -> str:
        params, channels = split_channel_args(args)
        targets = self._targets(channels)
        if not targets:
            raise ScpiError(-221, "no channel list and an empty scan list")
        return ",".join(reply(self._channel(c)) for c in targets)

    def _configure(self, channels: list[int], function: str, tc_type: str | None = None) -> None:
        """CONFigure: fresh settings on ``channels``, which become the scan list; channel numbers
        in readings off (p. 139: "CONFigure and MEASure? commands automatically disable the
        channel setting")."""
        for channel in channels:
            self.config[channel] = ChannelConfig(function=function, tc_type=tc_type or "J")
        self.scan_list = channels
        self.format_channel = False
        self._changed()

    def _configure_temperature(self, args: str) -> None:
        """``CONF:TEMP {TC|DEF},{<type>|DEF}[,1[,<resolution>]],(@<scan_list>)`` (thermocouples)."""
        params, channels = split_channel_args(args)
        if channels is None:
            raise ScpiError(-109, "channel list")
        probe = params[0].upper() if params else "DEF"
        if probe not in ("TC", "TCOUPLE", "DEF"):
            raise ScpiError(-224, f"probe {params[0]}: the channels are wired to thermocouples")
        tc_type = params[1].upper() if len(params) > 1 else "DEF"
        if tc_type != "DEF" and tc_type not in TC_TYPES:
            raise ScpiError(-224, tc_type)
        self._configure(channels, "TEMP", None if tc_type == "DEF" else tc_type)

    def _configure_voltage(self, args: str) -> None:
        """``CONF:VOLT[:DC] [{<range>|AUTO|DEF}[,<resolution>]],(@<scan_list>)`` (autoranging)."""
        params, channels = split_channel_args(args)
        if channels is None:
            raise ScpiError(-109, "channel list")
        if params and params[0].upper() not in ("AUTO", "DEF", "MIN", "MAX"):
            parse_number(params[0], low=0.0, high=300.0)
        self._configure(channels, "VOLT")

    def _measure(self, args: str, configure: Callable[[str], None]) -> str:
        configure(args)
        return self._format_sweeps(1)

    def _set_scan(self, args: str) -> None:
        self.scan_list = parse_channel_list(args)
        self._changed()

    def _close(self, args: str) -> None:
        """``ROUTe:CLOSe``: relays closed until a scan opens them (READ?'s fast path waits)."""
        self.closed.update(parse_channel_list(args))
        self._plain = False

    def _set_unit(self, args: str) -> None:
        word = args.strip().upper()
        if word not in ("C", "F", "K"):
            raise ScpiError(-224, args)
        self.unit = word
        self._changed()

    def _set_function(self, args: str) -> None:
        params, channels = split_channel_args(args)
        if not params:
            raise ScpiError(-109)
        word = params[0].strip('"\'').upper()
        function = {"TEMP": "TEMP", "TEMPERATURE": "TEMP", "VOLT": "VOLT", "VOLT:DC": "VOLT",
                    "VOLTAGE": "VOLT", "VOLTAGE:DC": "VOLT"}.get(word)
        if function is None:
            raise ScpiError(-224, f"function {params[0]}: the channels are wired to thermocouples")
        for channel in self._targets(channels):
            self._channel(channel).function = function
        self._changed()

    def _set_nplc(self, args: str, _function: str) -> None:
        params, channels = split_channel_args(args)
        value = parse_number(params[0] if params else "", low=NPLC_VALUES[0], high=NPLC_VALUES[-1], default=1.0)
        nplc = next(v for v in NPLC_VALUES if v >= value - 1e-9)
        for channel in self._targets(channels):
            self._channel(channel).nplc = nplc

    def _set_delay(self, args: str) -> None:
        params, channels = split_channel_args(args)
        delay = parse_number(params[0] if params else "", low=0.0, high=60.0)
        for channel in self._targets(channels):
            self._channel(channel).delay_s = round(delay, 3)

    def _set_tc_type(self, args: str) -> None:
        params, channels = split_channel_args(args)
        word = params[0].upper() if params else ""
        if word not in TC_TYPES:
            raise ScpiError(-224 if word else -109, word)
        for channel in self._targets(channels):
            self._channel(channel).tc_type = word

    def _set_rjun_type(self, args: str) -> None:
        params, channels = split_channel_args(args)
        word = _RJUN_TYPES.get(params[0].upper() if params else "")
        if word is None:
            raise ScpiError(-224 if params else -109, args)
        for channel in self._targets(channels):
            self._channel(channel).rjun_type = word
        self._changed()

    def _set_rjun_fixed(self, args: str) -> None:
        """Fixed reference junction temperature, -20..+80 °C, always in °C."""
        params, channels = split_channel_args(args)
        value = parse_number(params[0] if params else "", low=-20.0, high=80.0, default=0.0)
        for channel in self._targets(channels):
            self._channel(channel).rjun_fixed_c = value

    def _set_format_channel(self, args: str) -> None:
        self.format_channel = parse_bool(args)
        self._changed()

    # -- trigger system -----------------------------------------------------------------------
    def _set_source(self, args: str) -> None:
        source = SOURCES.get(args.strip().upper())
        if source is None:
            raise ScpiError(-224 if args.strip() else -109, args)
        self.scan.source = source
        self._changed()

    def _set_count(self, args: str) -> None:
        word = args.strip().upper()
        self.scan.count = math.inf if word in ("INF", "INFINITY") else float(
            int(parse_number(args, low=1, high=COUNT_MAX, default=1)))
        self._changed()

    def _set_timer(self, args: str) -> None:
        self.scan.timer_s = round(parse_number(args, low=0.0, high=TIMER_MAX_S, default=10.0), 3)

    def _initiate(self, _args: str) -> None:
        if not self.scan_list:
            raise ScpiError(-221, "empty scan list")
        self.scan.initiate(self.world.now_s)
        self._changed()

    def _abort(self, _args: str) -> None:
        self.scan.abort(self.world.now_s)
        self._changed()

    def _trigger(self, _args: str) -> None:
        if not self.scan.bus_trigger(self.world.now_s):
            raise ScpiError(-211, "not waiting for a BUS trigger")

    def _fetch(self, _args: str) -> str:
        """``FETCh?``: every reading in memory, oldest first (memory is not cleared)."""
        if not self.scan.readings:
            raise ScpiError(-230, "no readings in memory")
        return self._format_readings(self.scan.readings)

    def _points(self, args: str) -> str:
        _params, channels = split_channel_args(args)
        if channels is None:
            return "%+d" % len(self.scan.readings)  # noqa: UP031
        wanted = set(channels)
        return "%+d" % sum(1 for _t, c, _v in self.scan.readings if c in wanted)  # noqa: UP031

    def _remove(self, args: str) -> str:
        params, _channels = split_channel_args(args)
        count = int(parse_number(params[0] if params else "", low=1, high=100_000))
        try:
            readings = self.scan.remove(count)
        except ValueError as exc:
            raise ScpiError(-222, str(exc)) from None
        return self._format_readings(readings)

    def _r_block(self, args: str) -> str:
        """``R? [<max>]``: up to ``max`` oldest readings, erased, as a definite-length block (p. 29)."""
        count = len(self.scan.readings)
        if args.strip():
            count = min(count, int(parse_number(args, low=1, high=100_000)))
        body = self._format_readings(self.scan.remove(count)) if count else ""
        return f"#{len(str(len(body)))}{len(body)}{body}" if body else "#10"

    # -- readings ------------------------------------------------------------------------------
    def _read(self, args: str) -> str:
        """``READ?``: INIT + FETCh? without storing (34970A User's Guide p. 204); no parameters."""
        channels = self.scan_list
        if self._plain and not args and len(channels) == 2:  # the usual two-channel scan, read before
            readers = self._readers
            first, second = channels
            if first in readers and second in readers:
                return "%+.8E,%+.8E" % (readers[first](), readers[second]())  # noqa: UP031 - faster
        if args:
            raise ScpiError(-108, f"READ? {args}: use ROUTe:SCAN or CONFigure for the channels")
        if self.scan.source == "BUS":
            raise ScpiError(-214, "READ? with TRIGger:SOURce BUS (p. 342)")
        if self.scan.source not in ("IMM", "TIM"):
            raise ScpiError(-214, f"READ? waits for a {self.scan.source} trigger that never comes here")
        count = self.scan.count
        if not math.isfinite(count):
            raise ScpiError(-221, "READ? with an infinite trigger count")
        return self._format_sweeps(int(count))

    def _is_plain(self) -> bool:
        if not self.scan_list:
            return False
        if self.unit != "C" or self.format_channel or self.scan.source != "IMM" or self.scan.count != 1:
            return False
        return all(self._channel(c).function == "TEMP" and self._channel(c).rjun_type == "INT"
                   for c in self.scan_list)

    def _format_sweeps(self, sweeps: int) -> str:
        if not self.scan_list:
            raise ScpiError(-221, "empty scan list")
        values = self._sweep()
        one = ",".join(self._format_value(c, v) for c, v in values)
        return ",".join([one] * sweeps)

    def _format_readings(self, readings: Iterable[Reading]) -> str:
        return ",".join(self._format_value(c, v) for _t, c, v in readings)

    def _format_value(self, channel: int, value: float) -> str:
        text = "%+.8E" % value  # noqa: UP031
        return f"{text},{channel}" if self.format_channel else text

    def _sweep(self) -> list[tuple[int, float]]:
        """One pass through the scan list: ``[(channel, value)]`` in °C/°F/K or volts (the scan
        opens any relay closed by hand first)."""
        if self.closed:
            self.closed.clear()
            self._plain = self._is_plain()
        return [(channel, self._value(channel)) for channel in self.scan_list]

    def _sweep_time_s(self) -> float:
        return max(1e-3, sum(self._channel(c).sweep_time_s() for c in self.scan_list))

    def _value(self, channel: int) -> float:
        """The reading of ``channel`` as configured (OVERLOAD for an open thermocouple)."""
        hot_c = (self._readers.get(channel) or self._reader(channel))()
        if hot_c >= OVERLOAD:
            return OVERLOAD
        config = self._channel(channel)
        lab_c = self.world.chamber.lab_c
        if config.function == "VOLT":
            return type_k_emf_v(hot_c) - type_k_emf_v(lab_c)
        if config.rjun_type == "EXT":
            return OVERLOAD  # no external reference channel is wired: nothing stored
        if config.rjun_type == "FIX":
            emf = type_k_emf_v(hot_c) - type_k_emf_v(lab_c)
            hot_c = type_k_temperature_c(emf + type_k_emf_v(config.rjun_fixed_c))
        if self.unit == "K":
            return hot_c + 273.15
        if self.unit == "F":
            return hot_c * 9.0 / 5.0 + 32.0
        return hot_c

    def _reader(self, channel: int) -> Callable[[], float]:
        """The callable reading ``channel``'s hot junction (°C; OVERLOAD when the thermocouple is
        open), remembered per channel; raises ScpiError -222 for a channel wired to nothing."""
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
