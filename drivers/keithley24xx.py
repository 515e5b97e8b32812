"""Keithley 2400-series graphical SourceMeters (2450 / 2460 / 2461) as a cycler, SCPI.

Commands after the Keithley Model 2460 Reference Manual (2460-901-01), section 6 "SCPI command
reference" (the 2450, 2450-901-01, and 2461 share the tree):
``:SOUR:FUNC``, ``:SOUR:CURR``, ``:SOUR:CURR:VLIM``, ``:SOUR:VOLT``, ``:SOUR:VOLT:ILIM``,
``:SOUR:VOLT:PROT`` (overvoltage protection levels PROT2...), ``:SOUR:<f>:READ:BACK``,
``:SENS:FUNC``, ``:SENS:VOLT:RSEN`` (4-wire), ``:OUTP``, ``:OUTP:<function>:SMOD``, ``:READ?`` with
buffer elements (section 6, TRACe/READ "buffer elements"), ``:SYST:ERR?``.

Output-off state: the reference manual's header is ``:OUTPut[1]:<function>:SMODe <state>``
(2450-901-01 Rev. B section 6, p. 6-31; the same in 2460-901-01 section 6), ``<function>`` =
CURRent or VOLTage; "the output-off state is stored with the source function" (section 2,
"Setting the output-off state", p. 2-84). The manual adds that without ``<function>`` the command
sets every function, so the short ``:OUTP:SMOD HIMP`` we sent before also works on the instrument;
we now name both functions explicitly, as the header is documented, so the off state does not
depend on that fallback.

Limits: each model declares its ranges once as class attributes (``current_range_a``,
``voltage_range_v``, ``voltage_limit_range_v``, ``current_limit_range_a``); the properties name
them, so a model that overrides a range overrides every limit derived from it.
Positive current flows out of FORCE HI into the cell: charging, as in the Battery Data Format.
"""

from __future__ import annotations

import logging

from drivers.errors import SetpointOutOfRange
from drivers.roles import ProtectionLimits
from drivers.scpi import ScpiInstrument, on_off, parse_bool, parse_floats, scpi_property
from drivers.scpi_cycler import ScpiCycler, Setting
from drivers.transport import MessageTransport

logger = logging.getLogger(__name__)

#: Overvoltage protection levels (``:SOURce:VOLTage:PROTection``), V, ascending.
OVP_LEVELS_V = ((2.0, "PROT2"), (5.0, "PROT5"), (10.0, "PROT10"), (20.0, "PROT20"),
                (40.0, "PROT40"), (60.0, "PROT60"), (80.0, "PROT80"), (100.0, "PROT100"))

#: One reading with the measured value and the source readback (section 6, ``:READ?``).
READ_COMMAND = ':READ? "defbuffer1", READ, SOUR'


class Keithley2460(ScpiInstrument, ScpiCycler):
    """Keithley 2460 High-Current SourceMeter: ±7.35 A, ±105 V, four-quadrant (sources and sinks)."""

    idn_models = ("MODEL 2460",)
    #: Source ranges (2460 datasheet: ±7.35 A DC, ±105 V).
    current_range_a = (-7.35, 7.35)
    voltage_range_v = (-105.0, 105.0)
    #: ``:SOUR:CURR:VLIM`` and ``:SOUR:VOLT:ILIM`` parameter ranges (section 6).
    voltage_limit_range_v = (0.02, 105.0)
    current_limit_range_a = (1e-8, 7.35)
    #: Source function selection (section 6 :SOURce[1]:FUNCtion, :SENSe[1]:FUNCtion): the sense
    #: function is the other quantity; in voltage priority the source readback is turned on.
    function_commands = {"CURR": (":SOUR:FUNC CURR", ':SENS:FUNC "VOLT"'),
                         "VOLT": (":SOUR:FUNC VOLT", ':SENS:FUNC "CURR"', ":SOUR:VOLT:READ:BACK ON")}

    source_function = scpi_property(":SOUR:FUNC", values=("CURR", "VOLT"), doc="Source function")
    source_current_a = scpi_property(":SOUR:CURR", limits="current_range_a", unit="A",
                                     doc="Source current setpoint (+ = into the cell)")
    voltage_limit_v = scpi_property(":SOUR:CURR:VLIM", limits="voltage_limit_range_v", unit="V",
                                    doc="Voltage limit while sourcing current")
    source_voltage_v = scpi_property(":SOUR:VOLT", limits="voltage_range_v", unit="V",
                                     doc="Source voltage setpoint")
    current_limit_a = scpi_property(":SOUR:VOLT:ILIM", limits="current_limit_range_a", unit="A",
                                    doc="Current limit while sourcing voltage")
    overvoltage_protection = scpi_property(":SOUR:VOLT:PROT", values=tuple(n for _, n in OVP_LEVELS_V) + ("NONE",),
                                           doc="Overvoltage protection level (PROTn = n volts)")
    remote_sense = scpi_property(":SENS:VOLT:RSEN", parse=parse_bool, format=on_off,
                                 doc="4-wire (remote) voltage sensing")

    def __init__(self, transport: MessageTransport, *, name: str = "cycler") -> None:
        super().__init__(transport, name=name)
        self._function = ""

    def configure(self) -> None:
        """Power-on state for battery work: reset, 4-wire sense, readback on, high-impedance off state."""
        self.reset()
        self._function = ""
        self.write(':SENS:FUNC "VOLT"')
        self.write(":SENS:VOLT:RSEN ON")
        self.write(":SOUR:CURR:READ:BACK ON")
        # Output-off state per source function (section 6, :OUTPut[1]:<function>:SMODe): high
        # impedance, the output relay opens, so an output that is off does not load the cell.
        self.write(":OUTP:CURR:SMOD HIMP")
        self.write(":OUTP:VOLT:SMOD HIMP")
        self.check_errors("configure")

    def protection_settings(self, limits: ProtectionLimits) -> list[Setting]:
        """The overvoltage protection at the lowest level above ``voltage_max_v``; the voltage
        limit of the current source and the current limit of the voltage source at the cell's
        maximum voltage and current (the current limit no higher than the instrument can force)."""
        cls = type(self)
        current_limit_a = min(limits.current_max_a, self.current_range_a[1])
        level = next((name for volts, name in OVP_LEVELS_V if volts > limits.voltage_max_v), None)
        if level is None:
            raise SetpointOutOfRange(f"{self.where}: no OVP level above {limits.voltage_max_v:g} V")
        return [(cls.overvoltage_protection, level), (cls.voltage_limit_v, limits.voltage_max_v),
                (cls.current_limit_a, current_limit_a)]

    def output_on(self) -> None:
        """Enable the output."""
        self.write(":OUTP ON")
        self.check_errors("output on")

    def output_off(self) -> None:
        """Disable the output (high-impedance off state: the cell is not loaded)."""
        self.write(":OUTP OFF")

    def is_output_on(self) -> bool:
        """Output state as the instrument reports it."""
        return parse_bool(self.query(":OUTP?"))

    def measure(self) -> tuple[float, float]:
        """One reading: (voltage_v, current_a), from ``:READ?`` with the READ and SOUR elements."""
        reading, source = self.query_parsed(READ_COMMAND, self._parse_reading)
        if self._function == "VOLT":
            return source, reading
        return reading, source

    def _read_where(self) -> str:
        return f"{self.where} :READ?"

    def _parse_reading(self, reply: str) -> list[float]:
        # Fast path (every sample): two numbers, neither NaN; anything else (a garbled reply)
        # gets parse_floats' checks and error messages.
        parts = reply.split(",")
        if len(parts) == 2:
            try:
                values = list(map(float, parts))
            except ValueError:
                pass
            else:
                reading, source = values
                if reading == reading and source == source:
                    return values
        return parse_floats(reply, 2, where=self._read_where)

    def protection_tripped(self) -> str:
        """``"OVP"`` when the overvoltage protection has tripped, else ``""``."""
        return "OVP" if parse_bool(self.query(":SOUR:VOLT:PROT:TRIP?")) else ""


class Keithley2450(Keithley2460):
    """Keithley 2450 SourceMeter: ±1.05 A, ±210 V (same command tree as the 2460)."""

    idn_models = ("MODEL 2450",)
    current_range_a = (-1.05, 1.05)
    voltage_range_v = (-210.0, 210.0)
    voltage_limit_range_v = (0.02, 210.0)
    current_limit_range_a = (1e-9, 1.05)


class Keithley2461(Keithley2460):
    """Keithley 2461 High-Current SourceMeter: ±7.35 A DC (10 A pulse), ±105 V."""

    idn_models = ("MODEL 2461",)
