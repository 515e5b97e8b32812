"""Keysight N6700-series modular power systems (N6705C DC Power Analyzer, N6700C/N6701C/N6702C
mainframes) with N6781A two-quadrant source/measure modules, one cell per module, SCPI.

Commands after the Keysight N6700 Series Programmer's Reference Guide, chapter "SCPI Command
Reference" (every output command takes a channel list, ``(@1)``, ``(@1,3)``, ``(@1:4)``):
``[SOURce:]FUNCtion CURRent|VOLTage`` (priority mode of the N678xA SMUs), ``[SOURce:]CURRent`` /
``VOLTage:LIMit`` (current priority: the output current, bounded by the voltage limit),
``[SOURce:]VOLTage`` / ``CURRent:LIMit`` (voltage priority; the negative current limit tracks the
positive one by default), ``[SOURce:]VOLTage:PROTection:REMote[:POSitive][:LEVel]`` (the
N678xA's over-voltage protection, see below), ``OUTPut[:STATe]``,
``OUTPut:PROTection:CLEar``, ``MEASure:VOLTage?`` / ``MEASure:CURRent?`` (one value per listed
channel), ``STATus:QUEStionable:CONDition?`` (bit 0 OV, 1 OC, 4 OT: Questionable Status Group),
``SYSTem:CHANnel:COUNt?`` / ``SYSTem:CHANnel:MODel?``, ``SYSTem:ERRor?``. Operating quadrants
after the N6700 User's Guide, appendix E "Source Operating Modes", N678xA multi-quadrant
operation: the N6781A works in the +voltage quadrants, sourcing and sinking current (±3 A on its
6 V range, ±1 A up to 20 V), so it charges and discharges a lithium cell.

Over-voltage protection of the N678xA SMUs: the programmer's reference says of
``[SOURce:]VOLTage:PROTection[:LEVel]`` that it "does NOT apply to models N678xA SMU. Refer to
[SOURce:]VOLTage:PROTection:REMote" (Keysight N6700 Series Programmer's Reference, SOURce
subsystem, VOLTage:PROTection entries; the :REMote entry is on p. 304 of the edition hosted at
easymanua.ls/keysight/n6702c): ``VOLT:PROT:REM <level>, (@list)`` sets the positive remote OVP,
0..22 V, *RST MAX; ``VOLT:PROT:REM:NEG`` the negative one, -22..0 V; the query answers
``+n.nnnnnnE+nn`` per channel. The commands the manual excludes for a module model are data
(:data:`EXCLUDED_COMMANDS`); ``tests/drivers/test_excluded_commands.py`` fails if the driver sends
one to that model. Every protection setting is read back after it is set
(:func:`drivers.scpi_cycler.apply_and_verify`): one the module did not take stops the run before
any output (exit 4).

Ranges (N6781A, programmer's reference, ``[SOURce:]CURRent`` / ``VOLTage`` parameter tables):
current -3.06..3.06 A, voltage 0..20.4 V, current limit 0..3.06 A, voltage limit 0..20.4 V.

One connection to the mainframe (:class:`N6700System`) hands out channel handles
(:meth:`N6700System.channel`) that each implement the ``Cycler`` role. Every message a channel
sends names its channel in the command, never through a selected-channel state. A failure on one
channel raises a one-line error naming the system and the channel.
Current is positive into the cell (charging), as the module's own sign convention.
"""

from __future__ import annotations

import logging
import threading

from drivers.errors import InstrumentError, InstrumentReplyError, SetpointOutOfRange
from drivers.roles import ProtectionLimits
from drivers.scpi import ScpiInstrument, parse_bool, parse_floats, scpi_property
from drivers.scpi_cycler import ScpiCycler, Setting
from drivers.transport import MessageTransport

logger = logging.getLogger(__name__)

#: STATus:QUEStionable:CONDition? bits that mean an output protection tripped.
PROTECTION_BITS = ((0, "OVP"), (1, "OCP"), (4, "OT"))

#: Commands the programmer's reference excludes for a module model (manual notation), with why.
#: The driver must never send one of these to that model (tests/drivers/test_excluded_commands.py).
EXCLUDED_COMMANDS: dict[str, tuple[tuple[str, str], ...]] = {
    "N6781A": (
        ("[SOURce:]VOLTage:PROTection[:LEVel]",
         'N6700 Programmer\'s Reference, [SOURce:]VOLTage:PROTection[:LEVel]: "does NOT apply to models '
         'N678xA SMU. Refer to [SOURce:]VOLTage:PROTection:REMote"'),
        ("[SOURce:]VOLTage:PROTection:TRACking[:STATe]",
         "N6700 Programmer's Reference p. 304: applies only to models N6752A, N6754A and N6762A"),
        ("[SOURce:]VOLTage:PROTection:TRACking:OFFSet",
         "N6700 Programmer's Reference p. 304: applies only to models N6752A, N6754A and N6762A"),
        ("OUTPut:PMODe", "N6700 Programmer's Reference, OUTPut:PMODe: applies only to models N6761A and N6762A"),
    ),
}


def channel_list(channels: list[int] | tuple[int, ...]) -> str:
    """``(@1:4)`` for a consecutive run, ``(@1,3)`` otherwise."""
    ordered = sorted(channels)
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"(@{ordered[0]}:{ordered[-1]})"
    return "(@" + ",".join(str(c) for c in ordered) + ")"


class N6700System(ScpiInstrument):
    """One N6700-series mainframe: identity, installed modules, error queue, multi-channel reads."""

    idn_models = ("N6705", "N6700", "N6701", "N6702")

    def __init__(self, transport: MessageTransport, *, name: str = "n6700") -> None:
        super().__init__(transport, name=name)
        self._models: dict[int, str] = {}
        #: One conversation at a time on the mainframe's one connection: each channel's engine runs
        #: in its own thread, and a query's reply must reach the channel that asked.
        self.lock = threading.RLock()

    def modules(self) -> dict[int, str]:
        """Installed module model by channel number (``SYSTem:CHANnel:COUNt?`` / ``:MODel?``)."""
        if not self._models:
            count = int(self.query_float("SYST:CHAN:COUN?"))
            if count < 1:
                raise InstrumentReplyError(f"{self.where}: SYST:CHAN:COUN? reports {count} channels")
            numbers = list(range(1, count + 1))
            models = [m.strip().strip('"') for m in self.query(f"SYST:CHAN:MOD? {channel_list(numbers)}").split(",")]
            if len(models) != count:
                raise InstrumentReplyError(f"{self.where}: SYST:CHAN:MOD? gave {len(models)} models for {count} channels")
            self._models = dict(zip(numbers, models, strict=True))
        return self._models

    def channel(self, number: int, *, name: str = "") -> N6781AChannel:
        """A handle on channel ``number`` (1-based); an unknown channel is a one-line error."""
        modules = self.modules()
        if number not in modules:
            raise SetpointOutOfRange(f"{self.where}: no channel {number} (installed: "
                                     f"{', '.join(str(n) for n in modules)})")
        cls = MODULE_CLASSES.get(modules[number])
        if cls is None:
            raise InstrumentReplyError(f"{self.where} channel {number}: module {modules[number]} is not a "
                                       f"cycler module ({', '.join(MODULE_CLASSES)})")
        return cls(self, number, name=name or f"{self.name}.ch{number}")

    def measure_channels(self, numbers: list[int]) -> list[tuple[float, float]]:
        """(voltage_v, current_a) of every listed channel: two queries for the whole list."""
        listed = channel_list(numbers)
        where = f"{self.where} channels {listed}"
        with self.lock:
            volts = parse_floats(self.query(f"MEAS:VOLT? {listed}"), len(numbers), where=where)
            amps = parse_floats(self.query(f"MEAS:CURR? {listed}"), len(numbers), where=where)
        order = sorted(numbers)
        by_channel = dict(zip(order, zip(volts, amps, strict=True), strict=True))
        return [by_channel[n] for n in numbers]


class N6781AChannel(ScpiCycler):
    """One N6781A module of a mainframe as a cycler: 0..20.4 V, ±3.06 A (6 V range), two-quadrant."""

    module_models = ("N6781A",)
    #: Operating ranges (programmer's reference parameter tables for the N6781A).
    current_range_a = (-3.06, 3.06)
    voltage_range_v = (0.0, 20.4)
    #: VOLTage:LIMit (current priority) and CURRent:LIMit (voltage priority) parameter ranges.
    voltage_limit_range_v = (0.0, 20.4)
    current_limit_range_a = (0.0, 3.06)
    #: VOLTage:PROTection:REMote[:POSitive] range (p. 304: 0..22 V).
    ovp_range_v = (0.0, 22.0)
    function_commands = {"CURR": ("FUNC CURR",), "VOLT": ("FUNC VOLT",)}

    source_current_a = scpi_property("CURR", limits="current_range_a", unit="A",
                                     doc="Output current in current priority (+ = into the cell)")
    voltage_limit_v = scpi_property("VOLT:LIM", limits="voltage_limit_range_v", unit="V",
                                    doc="Voltage limit in current priority")
    source_voltage_v = scpi_property("VOLT", limits="voltage_range_v", unit="V",
                                     doc="Output voltage in voltage priority")
    current_limit_a = scpi_property("CURR:LIM", limits="current_limit_range_a", unit="A",
                                    doc="Current limit in voltage priority (the negative limit tracks it)")
    overvoltage_protection_v = scpi_property("VOLT:PROT:REM", limits="ovp_range_v", unit="V",
                                             doc="Remote (sense-terminal) over-voltage protection: output off above it")

    def __init__(self, system: N6700System, channel: int, *, name: str) -> None:
        self.system = system
        self.channel = channel
        self.name = name
        self._suffix = f"(@{channel})"
        self._function = ""
        self.model = system.modules().get(channel, "")

    @property
    def where(self) -> str:
        """``system (resource) channel N`` for messages."""
        return f"{self.system.where} channel {self.channel}"

    def _named(self, exc: InstrumentError) -> InstrumentError:
        """The same error, one line, led by ``system (resource) channel N``."""
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        for prefix in (f"{self.system.where}: ", f"{self.system.name}: ", f"{self.system.transport.resource}: "):
            text = text.removeprefix(prefix)
        return type(exc)(f"{self.where}: {text}")

    def write(self, command: str) -> None:
        """Send ``command`` for this channel (``<command> <value>,(@N)`` or ``<command> (@N)``)."""
        head, _, value = command.partition(" ")
        message = f"{head} {value},{self._suffix}" if value else f"{head} {self._suffix}"
        try:
            with self.system.lock:
                self.system.write(message)
        except InstrumentError as exc:
            raise self._named(exc) from exc

    def query(self, command: str) -> str:
        """Ask ``command`` (a query) about this channel: ``<command> (@N)``."""
        try:
            with self.system.lock:
                return self.system.query(f"{command} {self._suffix}")
        except InstrumentError as exc:
            raise self._named(exc) from exc

    def check_errors(self, context: str = "") -> None:
        """The mainframe's error queue, errors named with this channel."""
        try:
            with self.system.lock:
                self.system.check_errors(context)
        except InstrumentError as exc:
            raise self._named(exc) from exc

    def verify_identity(self) -> str:
        """The mainframe's ``*IDN?`` (checked) and this channel's module model (checked)."""
        with self.system.lock:
            idn = self.system.verify_identity()
            model = self.system.modules().get(self.channel, "")
        if model not in self.module_models:
            raise InstrumentReplyError(f"{self.where}: module {model!r}, expected {', '.join(self.module_models)}")
        return f"{idn}; channel {self.channel}: {model}"

    def protection_settings(self, limits: ProtectionLimits) -> list[Setting]:
        """Remote OVP at ``voltage_max_v`` plus 1 % (the voltage limit holds the cell at its maximum,
        the protection trips only past it), limits at the cell's maximum voltage and current."""
        cls = type(self)
        current_a = min(limits.current_max_a, self.current_limit_range_a[1])
        return [(cls.overvoltage_protection_v, min(limits.voltage_max_v * 1.01, self.ovp_range_v[1])),
                (cls.voltage_limit_v, limits.voltage_max_v), (cls.current_limit_a, current_a)]

    def output_on(self) -> None:
        """Clear a latched protection, then enable the output."""
        self.write("OUTP:PROT:CLE")
        self.write("OUTP ON")
        self.check_errors("output on")

    def output_off(self) -> None:
        """Disable the output."""
        self.write("OUTP OFF")

    def is_output_on(self) -> bool:
        """Output state as the mainframe reports it."""
        return parse_bool(self.query("OUTP?"))

    def measure(self) -> tuple[float, float]:
        """(voltage_v, current_a) of this channel."""
        try:
            return self.system.measure_channels([self.channel])[0]
        except InstrumentError as exc:
            raise self._named(exc) from exc

    def protection_tripped(self) -> str:
        """``OVP`` / ``OCP`` / ``OT`` when that protection has the output off, else ``""``."""
        bits = int(float(self.query("STAT:QUES:COND?")))
        return next((name for bit, name in PROTECTION_BITS if bits & (1 << bit)), "")


#: Channel class of each supported module model.
MODULE_CLASSES: dict[str, type[N6781AChannel]] = {"N6781A": N6781AChannel}
