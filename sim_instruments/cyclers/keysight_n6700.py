"""Simulated Keysight N6700-series mainframe (N6705C) with N6781A source/measure modules, SCPI.

One mainframe, N modules (channels 1..N), each driving its own cell of the shared world. Command
table after the Keysight N6700 Series Programmer's Reference Guide, chapter "SCPI Command
Reference": every output command carries a channel list, ``(@1)``, ``(@1,3)``, ``(@1:4)``,
``(@1:2,4)``; a query answers one value per listed channel, comma separated, in list order.
``[SOURce:]FUNCtion CURRent|VOLTage`` (N678xA priority mode), ``[SOURce:]CURRent[:LEVel][:IMMediate]
[:AMPLitude]``, ``[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]``, ``[SOURce:]VOLTage:LIMit
[:POSitive]`` (current priority), ``[SOURce:]CURRent:LIMit[:POSitive]`` (voltage priority; the
negative limit tracks it, the User's Guide default), ``[SOURce:]VOLTage:PROTection:REMote``,
``OUTPut[:STATe]``, ``OUTPut:PROTection:CLEar``, ``MEASure[:SCALar]:VOLTage[:DC]?`` /
``:CURRent[:DC]?``, ``STATus:QUEStionable:CONDition?`` (bit 0 OV, 1 OC, 4 OT), ``SYSTem:CHANnel
[:COUNt]?``, ``SYSTem:CHANnel:MODel?``, plus IEEE 488.2 common commands and status. A channel the
mainframe does not have gets -222 "Data out of range" (SCPI-1999 Vol. 2 21.8.10), an unknown
header -113. Module ratings after the N6700 User's Guide, appendix E: the N6781A works in the
+voltage quadrants, on its 6 V range ±3 A; the programmer's reference parameter ranges are
0..20.4 V and -3.06..3.06 A (CURRent:LIMit 0..3.06 A).

Over-voltage protection of the N678xA: ``[SOURce:]VOLTage:PROTection:REMote[:POSitive][:LEVel]``
0..22 V and ``:NEGative[:LEVel]`` -22..0 V, *RST MAX (N6700 Series Programmer's Reference p. 304;
for the negative level MAX is "the least negative value of the range", 0 V). The manual excludes
``[SOURce:]VOLTage:PROTection[:LEVel]`` for the N678xA ("does NOT apply to models N678xA SMU"),
``VOLTage:PROTection:TRACking`` (N6752A/54A/62A only, p. 304) and ``OUTPut:PMODe`` (N6761A/62A
only): sent to an N6781A channel they are refused with -113 "Undefined header" ("a command was
received that was not valid for this instrument", N6700 User's Guide appendix D, p. 188) and
change nothing. The command table with its manual sections: :mod:`.keysight_n6700_commands`.
"""

from __future__ import annotations

from collections.abc import Callable

from sim_instruments.wire.scpi_frontend import Handler, ScpiError, parse_bool, parse_number
from sim_instruments.wire.scpi_status import StatusFrontEnd
from sim_instruments.world.sim_world import SimWorld, SourceState

MODULE_MODEL = "N6781A"
CURRENT_MAX_A = 3.06
VOLTAGE_MAX_V = 20.4
#: VOLTage:PROTection:REMote[:POSitive] / :NEGative ranges, V (p. 304).
REMOTE_OVP_V = 22.0
#: Headers (manual notation) the programmer's reference excludes for a module model.
EXCLUDED = {"N6781A": ("VOLTage:PROTection[:LEVel]", "VOLTage:PROTection:TRACking[:STATe]",
                       "VOLTage:PROTection:TRACking:OFFSet", "OUTPut:PMODe")}
#: The N6781A's fixed negative voltage limit in two-quadrant current priority, V (User's Guide).
NEGATIVE_VOLTAGE_LIMIT_V = -0.01
QUES_BITS = {"OVP": 0, "OCP": 1, "OT": 4}


class KeysightN6700Sim(StatusFrontEnd):
    """An N6705C mainframe whose channels 1..len(cells) are world channels ``cells``."""

    def __init__(self, world: SimWorld, cells: list[int], serial: str = "MY56000001") -> None:
        if not 1 <= len(cells) <= 4:
            raise ValueError(f"an N6705C holds 1 to 4 modules, got {len(cells)}")
        super().__init__(f"Keysight Technologies,N6705C,{serial},D.04.01")
        self.world = world
        self.cells = list(cells)
        self._sources = [world.channels[c].source for c in cells]
        for src in self._sources:
            src.limit_both_ways = True
            src.current_max_a = CURRENT_MAX_A
        self._lists: dict[str, tuple[int, ...]] = {}
        #: Module model of each channel (1-based index - 1).
        self.models = [MODULE_MODEL] * len(cells)
        #: Negative remote OVP level per channel, V (the cell never drives the output negative).
        self.negative_ovp_v = [0.0] * len(cells)
        self._declare()
        self.reset()

    def before_command(self) -> None:
        """Every command first brings the physics up to the present instant."""
        self.world.sync()

    def reset(self) -> None:
        """``*RST``: outputs off, voltage priority at 0 V, limits at the module's maximum, OVP off.

        (These *RST values are the simulator's choice; the driver sets every value it relies on.)
        """
        for src in self._sources:
            src.output_on = False
            src.function = "VOLT"
            src.voltage_v = 0.0
            src.current_a = 0.0
            src.current_limit_a = CURRENT_MAX_A
            src.voltage_limit_v = VOLTAGE_MAX_V
            src.overvoltage_v = REMOTE_OVP_V  # *RST MAX (p. 304)
            src.protection_tripped = ""
        self.negative_ovp_v = [0.0] * len(self._sources)  # *RST MAX: the least negative value

    # -- channel lists -------------------------------------------------------------------------
    def channels(self, text: str) -> tuple[int, ...]:
        """``(@1:2,4)`` -> (1, 2, 4), checked against the installed channels (-222 otherwise)."""
        found = self._lists.get(text)
        if found is not None:
            return found
        body = text.strip()
        if not (body.startswith("(@") and body.endswith(")")):
            raise ScpiError(-109 if not body else -104, text)
        numbers: list[int] = []
        try:
            for part in body[2:-1].split(","):
                first, _, last = part.partition(":")
                low, high = int(first), int(last or first)
                numbers += range(low, high + 1) if low <= high else range(low, high - 1, -1)
        except ValueError:
            raise ScpiError(-104, text) from None
        if not numbers or any(not 1 <= n <= len(self.cells) for n in numbers):
            raise ScpiError(-222, text)
        if len(self._lists) >= 256:  # distinct list texts are few; bound the memo anyway
            self._lists.clear()
        found = self._lists[text] = tuple(numbers)
        return found

    def _excluded(self, header: str, numbers: tuple[int, ...]) -> None:
        """-113 when a listed channel's module does not have ``header`` (the manual excludes it)."""
        if any(header in EXCLUDED.get(self.models[n - 1], ()) for n in numbers):
            raise ScpiError(-113, header)

    def _refused(self, header: str) -> Handler:
        """Handler of a header the manual excludes for every module this mainframe holds."""
        def handler(args: str) -> None:
            _word, numbers = self._split_query(args)
            self._excluded(header, numbers)
            raise ScpiError(-113, header)  # every simulated module is an N6781A, which excludes it
        return handler

    def _split_query(self, args: str) -> tuple[str, tuple[int, ...]]:
        """``[MIN|MAX,](@list)`` -> (the word, channels)."""
        value, sep, listed = args.partition("(@")
        if not sep:
            raise ScpiError(-109, args)
        return value.strip().rstrip(",").strip().upper(), self.channels("(@" + listed)

    def _split(self, args: str) -> tuple[str, tuple[int, ...]]:
        """``value,(@list)`` -> (value, channels)."""
        value, sep, listed = args.partition("(@")
        if not sep:
            raise ScpiError(-109, args)
        return value.strip().rstrip(",").strip(), self.channels("(@" + listed)

    def _setter(self, apply: Callable[[SourceState, str], None]) -> Handler:
        """A set command's handler: ``apply`` the value to each listed channel's source."""
        def handler(args: str) -> None:
            value, numbers = self._split(args)
            for n in numbers:
                apply(self._sources[n - 1], value)
        return handler

    def _query(self, read: Callable[[int], str]) -> Handler:
        """A query's handler: ``read`` each listed channel (by number), comma separated."""
        def handler(args: str) -> str:
            return ",".join(read(n) for n in self.channels(args))
        return handler

    def _level_query(self, read: Callable[[int], str], low: float, high: float) -> Handler:
        """A setting's query ``<header>? [MIN|MAX,](@list)``: the value, or the range's end."""
        def handler(args: str) -> str:
            word, numbers = self._split_query(args)
            if word in ("MIN", "MINIMUM"):
                return ",".join(_fmt(low) for _ in numbers)
            if word in ("MAX", "MAXIMUM"):
                return ",".join(_fmt(high) for _ in numbers)
            if word:
                raise ScpiError(-224, word)
            return ",".join(read(n) for n in numbers)
        return handler

    # -- command table -------------------------------------------------------------------------
    def _declare(self) -> None:
        add = self.add
        src = self._sources
        for prefix in (":SOURce", ""):  # the SOURce node is optional
            add(f"{prefix}:FUNCtion", self._setter(_set_function))
            add(f"{prefix}:FUNCtion?", self._query(lambda n: "CURR" if src[n - 1].function == "CURR" else "VOLT"))
            add(f"{prefix}:CURRent[:LEVel][:IMMediate][:AMPLitude]", self._setter(_set_current))
            add(f"{prefix}:CURRent[:LEVel][:IMMediate][:AMPLitude]?",
                self._level_query(lambda n: _fmt(src[n - 1].current_a), -CURRENT_MAX_A, CURRENT_MAX_A))
            add(f"{prefix}:VOLTage[:LEVel][:IMMediate][:AMPLitude]", self._setter(_set_voltage))
            add(f"{prefix}:VOLTage[:LEVel][:IMMediate][:AMPLitude]?",
                self._level_query(lambda n: _fmt(src[n - 1].voltage_v), 0.0, VOLTAGE_MAX_V))
            add(f"{prefix}:VOLTage:LIMit[:POSitive][:IMMediate][:AMPLitude]", self._setter(_set_vlim))
            add(f"{prefix}:VOLTage:LIMit[:POSitive][:IMMediate][:AMPLitude]?",
                self._level_query(lambda n: _fmt(src[n - 1].voltage_limit_v), 0.0, VOLTAGE_MAX_V))
            add(f"{prefix}:CURRent:LIMit[:POSitive][:IMMediate][:AMPLitude]", self._setter(_set_ilim))
            add(f"{prefix}:CURRent:LIMit[:POSitive][:IMMediate][:AMPLitude]?",
                self._level_query(lambda n: _fmt(src[n - 1].current_limit_a), 0.0, CURRENT_MAX_A))
            add(f"{prefix}:VOLTage:PROTection:REMote[:POSitive][:LEVel]", self._setter(_set_remote_ovp))
            add(f"{prefix}:VOLTage:PROTection:REMote[:POSitive][:LEVel]?",
                self._level_query(lambda n: _fmt(_overvoltage_v(src[n - 1])), 0.0, REMOTE_OVP_V))
            add(f"{prefix}:VOLTage:PROTection:REMote:NEGative[:LEVel]", self._set_negative_ovp)
            add(f"{prefix}:VOLTage:PROTection:REMote:NEGative[:LEVel]?",
                self._level_query(lambda n: _fmt(self.negative_ovp_v[n - 1]), -REMOTE_OVP_V, 0.0))
            for header in EXCLUDED[MODULE_MODEL]:
                add(f"{prefix}:{header}" if header.startswith("VOLT") else f":{header}", self._refused(header))
                add(f"{prefix}:{header}?" if header.startswith("VOLT") else f":{header}?", self._refused(header))
        add(":OUTPut[:STATe]", self._setter(_set_output))
        add(":OUTPut[:STATe]?", self._query(lambda n: "1" if src[n - 1].output_on else "0"))
        add(":OUTPut:PROTection:CLEar", lambda a: self._clear_protection(self.channels(a)))
        add(":MEASure[:SCALar]:VOLTage[:DC]?", self._query(lambda n: _fmt(self._measure(n)[0])))
        add(":MEASure[:SCALar]:CURRent[:DC]?", self._query(lambda n: _fmt(self._measure(n)[1])))
        add(":MEASure[:SCALar]:POWer[:DC]?", self._query(lambda n: _fmt(_product(self._measure(n)))))
        add(":STATus:QUEStionable[:EVENt]?", self._query(self._questionable))
        add(":STATus:QUEStionable:CONDition?", self._query(self._questionable))
        add(":SYSTem:CHANnel[:COUNt]?", lambda _a: str(len(self.cells)))
        add(":SYSTem:CHANnel:MODel?", self._query(lambda _n: MODULE_MODEL))

    def _measure(self, number: int) -> tuple[float, float]:
        return self.world.measure(self.cells[number - 1])

    def _questionable(self, number: int) -> str:
        tripped = self._sources[number - 1].protection_tripped
        return str(1 << QUES_BITS[tripped]) if tripped in QUES_BITS else "0"

    def _set_negative_ovp(self, args: str) -> None:
        value, numbers = self._split(args)
        level = parse_number(value, low=-REMOTE_OVP_V, high=0.0, default=0.0)
        for n in numbers:
            self.negative_ovp_v[n - 1] = level

    def _clear_protection(self, numbers: tuple[int, ...]) -> None:
        for n in numbers:
            self._sources[n - 1].protection_tripped = ""


def _set_function(src: SourceState, value: str) -> None:
    word = value.upper()
    if word in ("CURR", "CURRENT"):
        src.function = "CURR"
    elif word in ("VOLT", "VOLTAGE"):
        src.function = "VOLT"
    else:
        raise ScpiError(-224, value)


def _set_current(src: SourceState, value: str) -> None:
    src.current_a = parse_number(value, low=-CURRENT_MAX_A, high=CURRENT_MAX_A, default=0.0)


def _set_voltage(src: SourceState, value: str) -> None:
    src.voltage_v = parse_number(value, low=0.0, high=VOLTAGE_MAX_V, default=0.0)


def _set_vlim(src: SourceState, value: str) -> None:
    src.voltage_limit_v = parse_number(value, low=0.0, high=VOLTAGE_MAX_V, default=VOLTAGE_MAX_V)


def _set_ilim(src: SourceState, value: str) -> None:
    src.current_limit_a = parse_number(value, low=0.0, high=CURRENT_MAX_A, default=CURRENT_MAX_A)


def _set_remote_ovp(src: SourceState, value: str) -> None:
    src.overvoltage_v = parse_number(value, low=0.0, high=REMOTE_OVP_V, default=REMOTE_OVP_V)


def _overvoltage_v(src: SourceState) -> float:
    """The positive remote OVP level, V."""
    return src.overvoltage_v if src.overvoltage_v is not None else REMOTE_OVP_V


def _set_output(src: SourceState, value: str) -> None:
    on = parse_bool(value)
    # A tripped protection keeps the output off until OUTPut:PROTection:CLEar.
    src.output_on = on and not src.protection_tripped


def _product(measured: tuple[float, float]) -> float:
    """Power of one (voltage_v, current_a) reading, W."""
    return measured[0] * measured[1]


def _fmt(value: float) -> str:
    """NR3 reply, ``+4.200000E+00``."""
    return f"{value:+.6E}"
