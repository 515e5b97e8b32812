"""Simulated Keithley 2460 SourceMeter (SCPI command set), driving one channel of the world.

Command set after the Keithley Model 2460 Reference Manual (2460-901-01), section 6 "SCPI command
reference" (same tree as the 2450, 2450-901-01 section 6): :SOURce, :SENSe, :OUTPut, :READ?,
:MEASure, :TRACe (reading buffers), :SYSTem, :ROUTe, :FORMat, :STATus:PRESet, plus the IEEE 488.2
common commands with their status registers (:mod:`sim_instruments.wire.scpi_status`). Settings that
only hold a value are declared once in :mod:`sim_instruments.cyclers.keithley24xx_settings`. A header the
manual does not list gets -113 "Undefined header", as on the instrument (e.g. the 2400-emulation
``:TRAC:FEED``, which the 2460's own command set does not have).
Source ranges after the 2460 datasheet: ±7.35 A, ±105 V. Sign: positive current flows out of
FORCE HI, i.e. into the battery (charging).

Output-off state: ``:OUTPut[1]:<function>:SMODe NORMal|HIMPedance|ZERO|GUARd`` (2450-901-01
Rev. B p. 6-31), stored per source function ("the output-off state is stored with the source
function", section 2 "Setting the output-off state", p. 2-84); without ``<function>`` it sets every
function (p. 6-32), and ``:OUTP:SMOD?`` reads the present source function's.

Voltage limit of the current source (``:SOURce[1]:CURRent:VLIMit``): it bounds the terminal
voltage's magnitude charging or discharging (the world's ``limit_both_ways``); a limit set at or
below the cell's voltage in a discharge trips it (``:SOUR:CURR:VLIM:TRIP?`` 1) and the output
holds the limit, sinking more than programmed up to the 7.35 A range (the manual's sink-operation
caution).
"""

from __future__ import annotations

import functools
from collections import deque

from sim_instruments.cyclers import keithley24xx_settings as table
from sim_instruments.cyclers import keithley2460_system as system
from sim_instruments.cyclers.keithley2460_buffer import ReadingBuffers
from sim_instruments.wire.scpi_frontend import ScpiError, parse_bool, parse_number
from sim_instruments.wire.scpi_status import StatusFrontEnd
from sim_instruments.world.sim_world import SimWorld, SourceState

CURRENT_MAX_A = 7.35
VOLTAGE_MAX_V = 105.0
#: Overvoltage protection levels of the 2460 (:SOURce:VOLTage:PROTection), volts.
OVP_LEVELS = {"PROT2": 2.0, "PROT5": 5.0, "PROT10": 10.0, "PROT20": 20.0, "PROT40": 40.0,
              "PROT60": 60.0, "PROT80": 80.0, "PROT100": 100.0, "NONE": None}
BUFFER_ELEMENTS = ("READ", "SOUR", "REL", "SEC", "FRAC", "DATE", "TIME", "TST", "UNIT", "SOURUNIT", "STAT")
OFF_MODES = ("NORMal", "HIMPedance", "ZERO", "GUARd")
_READ_SOUR = ("READ", "SOUR")
#: Magnitudes in [1, _E0) print as "d.dddddd" with the exponent 0 in ``%+.6E`` (no carry to 10).
_E0 = 9.999999
#: :SYSTem:BEEPer[:IMMediate] frequency (Hz) and duration (s) ranges (section 6).
BEEP_HZ = (20.0, 8000.0)
BEEP_S = (0.001, 100.0)
#: Overflow reading (the manual: an overrange reads 9.9e+37 over the remote interface).
OVERFLOW = 9.9e37


class Keithley2460Sim(StatusFrontEnd):
    """The 2460's SCPI behaviour on top of channel ``channel`` of ``world``."""

    def __init__(self, world: SimWorld, channel: int = 0, serial: str = "04412345") -> None:
        super().__init__(f"KEITHLEY INSTRUMENTS,MODEL 2460,{serial},1.7.12b")
        self.world = world
        self.channel = channel
        #: The channel's output stage (one object for the channel's life: read every sample).
        self._source = world.channels[channel].source
        self._source.limit_both_ways = True
        self._source.current_max_a = CURRENT_MAX_A
        self.sense_function = "VOLT"
        self.readback = True
        self._readbacks = {"CURR": True, "VOLT": True}
        self.ovp_name = "NONE"
        self.off_modes = {"CURR": "NORM", "VOLT": "NORM"}
        self.settings_table = table.settings_table()
        self.settings: dict[str, object] = {}
        self._t0_s = world.clock.now_s()
        #: ``*LANG`` chosen for the next power-up (this one runs SCPI).
        self.next_language = "SCPI"
        #: The linear sweep loaded into the trigger model (None: the default model, :SENS:COUN readings).
        self.sweep: system.Sweep | None = None
        self.buffers = ReadingBuffers(world.clock.now_s)
        #: ``:READ?`` argument text -> checked buffer elements (parsed once per distinct text).
        self._read_elements: dict[str, tuple[str, ...]] = {}
        #: Readings of ``:READ?`` kept for defbuffer1 (appended every sample: a deque is cheap).
        self._readings: deque[float] = self.buffers.readings("defbuffer1")
        self._declare()
        self.reset()

    @property
    def source(self) -> SourceState:
        return self._source

    def before_command(self) -> None:
        """Every command first brings the physics up to the present instant."""
        self.world.sync()

    def reset(self) -> None:
        """``*RST``: output off, source current 0 A with a 21 V limit, sense voltage, settings as declared."""
        src = self.source
        src.output_on = False
        src.function = "CURR"
        src.current_a = 0.0
        src.voltage_v = 0.0
        src.voltage_limit_v = 21.0
        src.current_limit_a = 1.05e-4
        src.overvoltage_v = None
        src.protection_tripped = ""
        self.sense_function = "VOLT"
        self.ovp_name = "NONE"
        self.off_modes = {"CURR": "NORM", "VOLT": "NORM"}
        self._readbacks = {"CURR": True, "VOLT": True}
        self.readback = True
        self.settings = {s.key: s.rst for s in self.settings_table}
        self.sweep = None
        self.buffers.reset()

    def _declare(self) -> None:
        add = self.add
        add(":SOURce[1]:FUNCtion[:MODE]", self._set_function)
        add(":SOURce[1]:FUNCtion[:MODE]?", lambda _a: self.source.function)
        add(":SOURce[1]:CURRent[:LEVel][:IMMediate][:AMPLitude]", self._set_current)
        add(":SOURce[1]:CURRent[:LEVel][:IMMediate][:AMPLitude]?", lambda _a: _fmt(self.source.current_a))
        add(":SOURce[1]:VOLTage[:LEVel][:IMMediate][:AMPLitude]", self._set_voltage)
        add(":SOURce[1]:VOLTage[:LEVel][:IMMediate][:AMPLitude]?", lambda _a: _fmt(self.source.voltage_v))
        add(":SOURce[1]:CURRent:VLIMit[:LEVel]", self._set_vlim)
        add(":SOURce[1]:CURRent:VLIMit[:LEVel]?", lambda _a: _fmt(self.source.voltage_limit_v))
        add(":SOURce[1]:CURRent:VLIMit[:LEVel]:TRIPped?", lambda _a: self._trip("CURR"))
        add(":SOURce[1]:VOLTage:ILIMit[:LEVel]", self._set_ilim)
        add(":SOURce[1]:VOLTage:ILIMit[:LEVel]?", lambda _a: _fmt(self.source.current_limit_a))
        add(":SOURce[1]:VOLTage:ILIMit[:LEVel]:TRIPped?", lambda _a: self._trip("VOLT"))
        add(":SOURce[1]:VOLTage:PROTection[:LEVel]", self._set_ovp)
        add(":SOURce[1]:VOLTage:PROTection[:LEVel]?", lambda _a: self.ovp_name)
        add(":SOURce[1]:VOLTage:PROTection:TRIPped?",
            lambda _a: "1" if self.source.protection_tripped == "OVP" else "0")
        for function, node in table.SOURCE_NODES.items():
            self._declare_function_node(function, node)
        add(":OUTPut[1]:SMODe", lambda a: self._set_off_mode(("CURR", "VOLT"), a))
        add(":OUTPut[1]:SMODe?", lambda _a: self.off_modes[self.source.function])
        add(":SENSe[1]:FUNCtion[:ON]", self._set_sense)
        add(":SENSe[1]:FUNCtion[:ON]?", lambda _a: f'"{self.sense_function}:DC"' if self.sense_function != "RES"
            else '"RES"')
        for setting in self.settings_table:
            self._declare_setting(setting)
        add(":OUTPut[1][:STATe]", self._set_output)
        add(":OUTPut[1][:STATe]?", lambda _a: "1" if self.source.output_on else "0")
        add(":READ?", self._read)
        # :MEASure[:<function>]? ["<buffer>"[, <elements>]]: a reading into the buffer, as :READ?,
        # with the named function made the measure function first (section 6, :MEASure).
        add(":MEASure?", self._read)
        for function, node in (("VOLT", "VOLTage[:DC]"), ("CURR", "CURRent[:DC]"), ("RES", "RESistance")):
            add(f":MEASure:{node}?", functools.partial(self._measure_as, function))
        add(":FETCh?", self._fetch)
        add(":INITiate[:IMMediate]", self._initiate)
        add(":ABORt", lambda _a: None)  # readings are taken at once: nothing is running to abort
        add("*TRG", lambda _a: None)  # no trigger model waits for a bus trigger
        add(":SYSTem:BEEPer[:IMMediate]", self._beep)
        system.declare(self)
        self.buffers.declare(self)

    def _declare_setting(self, setting: table.Setting) -> None:
        key = setting.key
        range_of = key.endswith(".range") and key.startswith("sense.")

        def set_value(args: str) -> None:
            self.settings[key] = table.parse_setting(setting, args)
            if range_of:  # choosing a range turns autorange off (section 6, :RANGe)
                self.settings[key[: -len("range")] + "auto"] = False

        def query(_args: str) -> str:
            value = self.settings[key]
            if range_of and self.settings[key[: -len("range")] + "auto"]:
                value = self._autorange(key.split(".")[1], setting.ranges)
            return table.format_setting(setting, value)

        self.add(setting.header, set_value)
        self.add(setting.header + "?", query)

    def _autorange(self, function: str, ranges: tuple[float, ...]) -> float:
        """The range autoranging settles on for the present signal of ``function``."""
        voltage, current = self.world.measure(self.channel)
        value = {"VOLT": voltage, "CURR": current}.get(function, _resistance(voltage, current))
        try:
            return table.pick_range(ranges, value)
        except ScpiError:
            return ranges[-1]

    # -- settings ----------------------------------------------------------------------------
    def _set_function(self, args: str) -> None:
        word = args.strip().upper()
        if word in ("CURR", "CURRENT"):
            self.source.function = "CURR"
        elif word in ("VOLT", "VOLTAGE"):
            self.source.function = "VOLT"
        else:
            raise ScpiError(-224, args)
        self.readback = self._readbacks[self.source.function]

    def _set_current(self, args: str) -> None:
        self.source.current_a = parse_number(args, low=-CURRENT_MAX_A, high=CURRENT_MAX_A, default=0.0)

    def _set_voltage(self, args: str) -> None:
        self.source.voltage_v = parse_number(args, low=-VOLTAGE_MAX_V, high=VOLTAGE_MAX_V, default=0.0)

    def _set_vlim(self, args: str) -> None:
        self.source.voltage_limit_v = parse_number(args, low=0.02, high=VOLTAGE_MAX_V, default=21.0)

    def _set_ilim(self, args: str) -> None:
        self.source.current_limit_a = parse_number(args, low=1e-9, high=CURRENT_MAX_A, default=1.05e-4)

    def _set_ovp(self, args: str) -> None:
        word = args.strip().upper()
        if word not in OVP_LEVELS:
            raise ScpiError(-224, args)
        self.ovp_name = word
        self.source.overvoltage_v = OVP_LEVELS[word]

    def _declare_function_node(self, function: str, node: str) -> None:
        """Read-back and output-off-mode commands of one source function (``CURR`` / ``VOLT``)."""
        add = self.add
        add(f":SOURce[1]:{node}:READ:BACK", lambda a: self._set_readback(function, a))
        add(f":SOURce[1]:{node}:READ:BACK?", lambda _a: "1" if self._readbacks[function] else "0")
        add(f":OUTPut[1]:{node}:SMODe", lambda a: self._set_off_mode((function,), a))
        add(f":OUTPut[1]:{node}:SMODe?", lambda _a: self.off_modes[function])

    def _set_readback(self, function: str, args: str) -> None:
        self._readbacks[function] = parse_bool(args)
        self.readback = self._readbacks[self.source.function]

    def _set_sense(self, args: str) -> None:
        word = args.strip().strip('"\'').upper().split(":")[0]
        if word in ("VOLT", "VOLTAGE"):
            self.sense_function = "VOLT"
        elif word in ("CURR", "CURRENT"):
            self.sense_function = "CURR"
        elif word in ("RES", "RESISTANCE"):
            self.sense_function = "RES"
        else:
            raise ScpiError(-224, args)

    def _set_output(self, args: str) -> None:
        on = parse_bool(args)
        if on:
            self.source.protection_tripped = ""
        self.source.output_on = on

    def _set_off_mode(self, functions: tuple[str, ...], args: str) -> None:
        word = table.match_word(OFF_MODES, args)
        for function in functions:
            self.off_modes[function] = word

    def _beep(self, args: str) -> None:
        parts = args.split(",")
        if len(parts) != 2:
            raise ScpiError(-109 if len(parts) < 2 else -108, args)
        parse_number(parts[0], low=BEEP_HZ[0], high=BEEP_HZ[1])
        parse_number(parts[1], low=BEEP_S[0], high=BEEP_S[1])

    def _trip(self, function: str) -> str:
        src = self.source
        return "1" if (src.output_on and src.function == function and src.in_compliance) else "0"

    # -- measurement -------------------------------------------------------------------------
    def _initiate(self, _args: str) -> None:
        """``:INIT``: the trigger model runs: a loaded sweep, else the default model's
        ``:SENS:COUN`` readings into defbuffer1."""
        if self.sweep is not None:
            system.run_sweep(self, self.sweep)
            return
        for _ in range(int(self.settings["sense.count"])):  # type: ignore[call-overload]  # an "int" setting (keithley24xx_settings): parse_setting stored an int
            self._readings.append(self.reading())

    def _measure_as(self, function: str, args: str) -> str:
        """``:MEASure:<function>?``: make ``function`` the measure function, then read as :READ?."""
        self.sense_function = function
        return self._read(args)

    def _fetch(self, args: str) -> str:
        """``:FETCh? ["<buffer>"[, <elements>]]``: the latest reading of the buffer, not a new one;
        an empty buffer is -230 "Data corrupt or stale" (SCPI-1999 Vol. 2, 21.8.9)."""
        parts = [p.strip() for p in args.split(",")] if args.strip() else []
        buffer = self.buffers.readings(self.buffers.check_name(_buffer_name(args)))
        for element in parts[1:]:
            if element.upper() not in ("READ", "READING"):
                raise ScpiError(-224, element)  # a buffer keeps the reading of each entry only
        if not buffer:
            raise ScpiError(-230, "buffer empty")
        return _fmt(buffer[-1])

    def reading(self) -> float:
        """One reading of the sense function."""
        voltage, current = self.world.measure(self.channel)
        if self.sense_function == "VOLT":
            return voltage
        if self.sense_function == "CURR":
            return current
        return _resistance(voltage, current)

    def _read(self, args: str) -> str:
        """``:READ? ["buffer"[, element, ...]]``: one reading, stored in the buffer (defbuffer1
        unless named), elements as requested (default READ)."""
        try:
            elements = self._read_elements[args]
        except KeyError:
            elements = self._read_elements[args] = self._parse_read_args(args)
        voltage, current = self.world.measure(self.channel)
        src = self._source
        if self.sense_function == "VOLT":
            reading = voltage
            if src.function == "VOLT":
                source_value = voltage if self.readback else src.voltage_v
            else:
                source_value = current if self.readback else src.current_a
        else:
            reading = current if self.sense_function == "CURR" else _resistance(voltage, current)
            source_value = voltage if self.readback else src.voltage_v
        if elements is _READ_SOUR:  # what the driver asks every sample
            self._readings.append(reading)
            # %-format is the faster here (noqa: UP031). Fast path: with both exponents 0
            # (1 <= |value| < 9.999999, so no rounding up to 10, or a zero), "%+.6E" is the
            # fixed-point "%+.6f" (the same 7 correctly rounded digits) plus "E+00", without the
            # C library's exponent printing (~0.2 µs a number; test_sim_fast_paths.py checks).
            if (1.0 <= reading < _E0 or -_E0 < reading <= -1.0 or reading == 0.0) and (
                    1.0 <= source_value < _E0 or -_E0 < source_value <= -1.0 or source_value == 0.0):
                return "%+.6fE+00,%+.6fE+00" % (reading, source_value)  # noqa: UP031
            return "%+.6E,%+.6E" % (reading, source_value)  # noqa: UP031
        self.buffers.store(_buffer_name(args), reading)
        rel = self.world.clock.now_s() - self._t0_s
        values = {"READ": _fmt(reading), "SOUR": _fmt(source_value), "REL": _fmt(rel),
                  "SEC": f"{rel:.3f}", "STAT": "0"}
        return ",".join(values.get(e, "0") for e in elements)

    def _parse_read_args(self, args: str) -> tuple[str, ...]:
        """Check ``:READ?`` arguments once per distinct text; the requested buffer elements."""
        parts = [p.strip() for p in args.split(",")] if args.strip() else []
        if parts and not (parts[0].startswith('"') or parts[0].startswith("'")):
            raise ScpiError(-224, parts[0])
        if parts:
            self.buffers.check_name(_buffer_name(args))
        elements = tuple(p.upper() for p in parts[1:]) or ("READ",)
        for element in elements:
            if element not in BUFFER_ELEMENTS:
                raise ScpiError(-224, element)
        if elements == _READ_SOUR and _buffer_name(args) == "defbuffer1":
            return _READ_SOUR  # one object: ``is`` test in _read
        return elements


def _buffer_name(args: str) -> str:
    """The buffer a ``:READ?`` names (defbuffer1 when none)."""
    first = args.split(",", 1)[0].strip().strip("\"'")
    return first or "defbuffer1"


def _resistance(voltage_v: float, current_a: float) -> float:
    """V / I in ohms; an open circuit (no current) reads as overflow."""
    return voltage_v / current_a if current_a else OVERFLOW


def _fmt(value: float | None) -> str:
    """Keithley ASCII number format: ``+4.123456E+00``."""
    if value is None:
        return "NONE"
    return f"{value:+.6E}"
