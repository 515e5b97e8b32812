"""Simulated Keithley 2460 SourceMeter (SCPI command set), driving one channel of the world.

Command set after the Keithley Model 2460 Reference Manual (2460-901-01), section 6 "SCPI command
reference" (same tree as the 2450, 2450-901-01 section 6): :SOURce, :SENSe, :OUTPut, :READ?,
:MEASure, plus IEEE 488.2 common commands. Source ranges after the 2460 datasheet: ±7.35 A,
±105 V. Sign: positive current flows out of FORCE HI, i.e. into the battery (charging).
"""

from __future__ import annotations

from sim_instruments.scpi_frontend import ScpiError, ScpiFrontEnd, parse_bool, parse_number
from sim_instruments.world import SimWorld, SourceState

CURRENT_MAX_A = 7.35
VOLTAGE_MAX_V = 105.0
#: Overvoltage protection levels of the 2460 (:SOURce:VOLTage:PROTection), volts.
OVP_LEVELS = {"PROT2": 2.0, "PROT5": 5.0, "PROT10": 10.0, "PROT20": 20.0, "PROT40": 40.0,
              "PROT60": 60.0, "PROT80": 80.0, "PROT100": 100.0, "NONE": None}
BUFFER_ELEMENTS = ("READ", "SOUR", "REL", "SEC", "FRAC", "DATE", "TIME", "TST", "UNIT", "SOURUNIT", "STAT")
_READ_SOUR = ("READ", "SOUR")
#: Magnitudes in [1, _E0) print as "d.dddddd" with the exponent 0 in ``%+.6E`` (no carry to 10).
_E0 = 9.999999


class Keithley2460Sim(ScpiFrontEnd):
    """The 2460's SCPI behaviour on top of channel ``channel`` of ``world``."""

    def __init__(self, world: SimWorld, channel: int = 0, serial: str = "04412345") -> None:
        super().__init__(f"KEITHLEY INSTRUMENTS,MODEL 2460,{serial},1.7.12b")
        self.world = world
        self.channel = channel
        self.sense_function = "VOLT"
        self.readback = True
        self.remote_sense = False
        self.ovp_name = "NONE"
        self.output_off_mode = "NORM"
        self._t0_s = world.clock.now_s()
        #: ``:READ?`` argument text -> checked buffer elements (parsed once per distinct text).
        self._read_elements: dict[str, tuple[str, ...]] = {}
        self._declare()
        self.reset()

    @property
    def source(self) -> SourceState:
        return self.world.channels[self.channel].source

    def before_command(self) -> None:
        """Every command first brings the physics up to the present instant."""
        self.world.sync()

    def reset(self) -> None:
        """``*RST``: output off, source current 0 A with a 21 V limit, sense voltage."""
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
        add(":SOURce[1]:CURRent:READ:BACK", lambda a: self._set_readback(a))
        add(":SOURce[1]:VOLTage:READ:BACK", lambda a: self._set_readback(a))
        add(":SOURce[1]:CURRent:READ:BACK?", lambda _a: "1" if self.readback else "0")
        add(":SENSe[1]:FUNCtion[:ON]", self._set_sense)
        add(":SENSe[1]:FUNCtion[:ON]?", lambda _a: f'"{self.sense_function}:DC"')
        add(":SENSe[1]:VOLTage:RSENse", lambda a: self._set_rsense(a))
        add(":SENSe[1]:CURRent:RSENse", lambda a: self._set_rsense(a))
        add(":SENSe[1]:VOLTage:RSENse?", lambda _a: "1" if self.remote_sense else "0")
        add(":SENSe[1]:VOLTage:NPLCycles", lambda a: _accept_number(a, 0.01, 10.0))
        add(":SENSe[1]:CURRent:NPLCycles", lambda a: _accept_number(a, 0.01, 10.0))
        add(":SENSe[1]:VOLTage:RANGe:AUTO", lambda a: _accept_bool(a))
        add(":SENSe[1]:CURRent:RANGe:AUTO", lambda a: _accept_bool(a))
        add(":OUTPut[1][:STATe]", self._set_output)
        add(":OUTPut[1][:STATe]?", lambda _a: "1" if self.source.output_on else "0")
        add(":OUTPut[1]:SMODe", self._set_off_mode)
        add(":OUTPut[1]:SMODe?", lambda _a: self.output_off_mode)
        add(":READ?", self._read)
        add(":MEASure:VOLTage[:DC]?", lambda _a: _fmt(self.world.measure(self.channel)[0]))
        add(":MEASure:CURRent[:DC]?", lambda _a: _fmt(self.world.measure(self.channel)[1]))

    # -- settings ----------------------------------------------------------------------------
    def _set_function(self, args: str) -> None:
        word = args.strip().upper()
        if word in ("CURR", "CURRENT"):
            self.source.function = "CURR"
        elif word in ("VOLT", "VOLTAGE"):
            self.source.function = "VOLT"
        else:
            raise ScpiError(-224, args)

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

    def _set_readback(self, args: str) -> None:
        self.readback = parse_bool(args)

    def _set_rsense(self, args: str) -> None:
        self.remote_sense = parse_bool(args)

    def _set_sense(self, args: str) -> None:
        word = args.strip().strip('"\'').upper().split(":")[0]
        if word in ("VOLT", "VOLTAGE"):
            self.sense_function = "VOLT"
        elif word in ("CURR", "CURRENT"):
            self.sense_function = "CURR"
        else:
            raise ScpiError(-224, args)

    def _set_output(self, args: str) -> None:
        on = parse_bool(args)
        if on:
            self.source.protection_tripped = ""
        self.source.output_on = on

    def _set_off_mode(self, args: str) -> None:
        word = args.strip().upper()[:4]
        if word not in ("HIMP", "NORM", "ZERO", "GUAR"):
            raise ScpiError(-224, args)
        self.output_off_mode = word

    def _trip(self, function: str) -> str:
        src = self.source
        return "1" if (src.output_on and src.function == function and src.in_compliance) else "0"

    # -- measurement -------------------------------------------------------------------------
    def _read(self, args: str) -> str:
        """``:READ? ["buffer"[, element, ...]]``: one reading, elements as requested (default READ)."""
        try:
            elements = self._read_elements[args]
        except KeyError:
            elements = self._read_elements[args] = self._parse_read_args(args)
        world = self.world
        voltage, current = world.measure(self.channel)
        src = world.channels[self.channel].source
        readback = self.readback
        if self.sense_function == "VOLT":
            reading = voltage
            if src.function == "VOLT":
                source_value = voltage if readback else src.voltage_v
            else:
                source_value = current if readback else src.current_a
        else:
            reading = current
            source_value = voltage if readback else src.voltage_v
        if elements is _READ_SOUR:  # what the driver asks every sample
            # %-format is the faster here (noqa: UP031). Fast path: with both exponents 0
            # (1 <= |value| < 9.999999, so no rounding up to 10, or a zero), "%+.6E" is the
            # fixed-point "%+.6f" (the same 7 correctly rounded digits) plus "E+00", without the
            # C library's exponent printing (~0.2 µs a number; test_sim_fast_paths.py checks).
            if (1.0 <= reading < _E0 or -_E0 < reading <= -1.0 or reading == 0.0) and (
                    1.0 <= source_value < _E0 or -_E0 < source_value <= -1.0 or source_value == 0.0):
                return "%+.6fE+00,%+.6fE+00" % (reading, source_value)  # noqa: UP031
            return "%+.6E,%+.6E" % (reading, source_value)  # noqa: UP031
        rel = world.clock.now_s() - self._t0_s
        values = {"READ": _fmt(reading), "SOUR": _fmt(source_value), "REL": _fmt(rel),
                  "SEC": f"{rel:.3f}", "STAT": "0"}
        return ",".join(values.get(e, "0") for e in elements)

    def _parse_read_args(self, args: str) -> tuple[str, ...]:
        """Check ``:READ?`` arguments once per distinct text; the requested buffer elements."""
        parts = [p.strip() for p in args.split(",")] if args.strip() else []
        if parts and not (parts[0].startswith('"') or parts[0].startswith("'")):
            raise ScpiError(-224, parts[0])
        elements = tuple(p.upper() for p in parts[1:]) or ("READ",)
        for element in elements:
            if element not in BUFFER_ELEMENTS:
                raise ScpiError(-224, element)
        return _READ_SOUR if elements == _READ_SOUR else elements  # one object: ``is`` test in _read


def _fmt(value: float | None) -> str:
    """Keithley ASCII number format: ``+4.123456E+00``."""
    if value is None:
        return "NONE"
    return f"{value:+.6E}"


def _accept_number(args: str, low: float, high: float) -> None:
    parse_number(args, low=low, high=high)


def _accept_bool(args: str) -> None:
    parse_bool(args)
