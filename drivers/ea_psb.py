"""EA Elektro-Automatik PSB 10000 bidirectional (regenerative) power supplies as a cycler, SCPI.

Commands after the EA "Programming Guide ModBus & SCPI" for the PSB 10000 / PSI 10000 / ELR 10000
series, section "SCPI commands": ``SYSTem:LOCK`` (remote control; settings are refused without
it) and ``SYSTem:LOCK:OWNer?``, ``SOURce:VOLTage|CURRent|POWer`` (source set values) and
``SINK:CURRent|POWer`` (sink set values), ``...:PROTection`` (OVP / OCP / OPP, source and sink),
``...:LIMit:HIGH|LOW`` (adjustment limits: set values outside them are refused), ``OUTPut``,
``MEASure:ARRay?`` (voltage, current, power in one reply, with units: ``"4.05 V, -20.00 A, -81.0 W"``),
``STATus:QUEStionable:CONDition?`` (alarm bits: 0 OV, 1 OC, 2 OP, 3 OT, 13 PF), ``SYSTem:ERRor?``,
``SYSTem:COMMunicate:MONitor:ACTive|TIMe`` (interface monitoring) and ``POWer:STAGe:AFTer:REMote``.
Behaviour after the PSB 10000 user manual, section 3.3 (in UIP mode the unit sources while the
load is below the voltage set value and sinks while it is above) and 3.5.3 "interface monitoring"
(no message within the timeout: remote control ends and, with "state after remote" OFF, the DC
output switches off, so a dead host leaves the battery unloaded).

Battery use: a charge at I up to V is U = V, I_source = I, I_sink = 0 (CC then CV at V); a
discharge at I is U = the protection floor (``voltage_min_v`` of :meth:`configure_protection`),
I_source = 0, I_sink = I (CC, then CV at the floor: the supply never discharges below it).
Measured current is positive when sourcing, i.e. charging (Battery Data Format convention).
"""

from __future__ import annotations

import logging
import math
import re

from drivers.errors import InstrumentCommandError, InstrumentReplyError, SetpointOutOfRange
from drivers.roles import ProtectionLimits
from drivers.scpi import ScpiInstrument, on_off, parse_bool, scpi_property
from drivers.scpi_cycler import Setting, apply_and_verify
from drivers.transport import MessageTransport

logger = logging.getLogger(__name__)

#: ``STATus:QUEStionable:CONDition?`` alarm bits (programming guide, status registers).
ALARM_BITS = ((0, "OVP"), (1, "OCP"), (2, "OPP"), (3, "OT"), (13, "PF"))
_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z]*)\s*$")


def parse_quantity(reply: str) -> float:
    """``"4.20 V"`` / ``"4.20V"`` / ``"4.2"`` -> 4.2 (the EA replies carry a unit); ValueError otherwise."""
    match = _QUANTITY.match(reply)
    if match is None:
        raise ValueError(reply)
    value = float(match.group(1))
    if not math.isfinite(value):
        raise ValueError(reply)
    return value


def _int_seconds(value: float) -> str:
    return str(int(math.ceil(value)))


class EaPsb10060_60(ScpiInstrument):  # noqa: N801 - the model name
    """EA PSB 10060-60: 0..60 V, ±60 A (source and sink), ±1500 W, four-quadrant in U.

    Set values accept 0..102 % of nominal, protections 0..110 % (programming guide, "set values").
    For another PSB 10000 model subclass it with that model's nominal values in the limits.
    """

    idn_models = ("PSB 10060-60",)
    current_range_a = (-60.0, 60.0)
    voltage_range_v = (0.0, 60.0)
    #: Set values: 0..102 % of nominal; protections 0..110 % (programming guide, "set values").
    #: One source per limit: a subclass for another model overrides these with the ranges.
    setpoint_range_v = (0.0, 61.2)
    setpoint_range_a = (0.0, 61.2)
    setpoint_range_w = (0.0, 1530.0)
    protection_range_v = (0.0, 66.0)
    protection_range_a = (0.0, 66.0)
    protection_range_w = (0.0, 1650.0)

    voltage_setpoint_v = scpi_property("SOUR:VOLT", limits="setpoint_range_v", unit="V", parse=parse_quantity,
                                       doc="Voltage set value U: CV target when sourcing, floor when sinking")
    current_setpoint_a = scpi_property("SOUR:CURR", limits="setpoint_range_a", unit="A", parse=parse_quantity,
                                       doc="Source (charge) current set value")
    power_setpoint_w = scpi_property("SOUR:POW", limits="setpoint_range_w", unit="W", parse=parse_quantity,
                                     doc="Source power set value")
    sink_current_setpoint_a = scpi_property("SINK:CURR", limits="setpoint_range_a", unit="A", parse=parse_quantity,
                                            doc="Sink (discharge) current set value")
    sink_power_setpoint_w = scpi_property("SINK:POW", limits="setpoint_range_w", unit="W", parse=parse_quantity,
                                          doc="Sink power set value")
    overvoltage_protection_v = scpi_property("SOUR:VOLT:PROT", limits="protection_range_v", unit="V", parse=parse_quantity,
                                             doc="Overvoltage protection (OVP): output off above it")
    overcurrent_protection_a = scpi_property("SOUR:CURR:PROT", limits="protection_range_a", unit="A", parse=parse_quantity,
                                             doc="Source overcurrent protection (OCP)")
    overpower_protection_w = scpi_property("SOUR:POW:PROT", limits="protection_range_w", unit="W", parse=parse_quantity,
                                           doc="Source overpower protection (OPP)")
    sink_overcurrent_protection_a = scpi_property("SINK:CURR:PROT", limits="protection_range_a", unit="A",
                                                  parse=parse_quantity, doc="Sink overcurrent protection (OCP)")
    sink_overpower_protection_w = scpi_property("SINK:POW:PROT", limits="protection_range_w", unit="W",
                                                parse=parse_quantity, doc="Sink overpower protection (OPP)")
    voltage_limit_low_v = scpi_property("SOUR:VOLT:LIM:LOW", limits="setpoint_range_v", unit="V", parse=parse_quantity,
                                        doc="Adjustment limit: lowest voltage set value accepted")
    voltage_limit_high_v = scpi_property("SOUR:VOLT:LIM:HIGH", limits="setpoint_range_v", unit="V", parse=parse_quantity,
                                         doc="Adjustment limit: highest voltage set value accepted")
    current_limit_high_a = scpi_property("SOUR:CURR:LIM:HIGH", limits="setpoint_range_a", unit="A", parse=parse_quantity,
                                         doc="Adjustment limit: highest source current set value accepted")
    sink_current_limit_high_a = scpi_property("SINK:CURR:LIM:HIGH", limits="setpoint_range_a", unit="A",
                                              parse=parse_quantity,
                                              doc="Adjustment limit: highest sink current set value accepted")
    watchdog_timeout_s = scpi_property("SYST:COMM:MON:TIME", limits=(1, 65535), unit="s", format=_int_seconds,
                                       doc="Interface monitoring timeout: no message for this long ends remote")
    watchdog_active = scpi_property("SYST:COMM:MON:ACT", parse=parse_bool, format=on_off,
                                    doc="Interface monitoring (communication watchdog) on/off")
    state_after_remote = scpi_property("POW:STAG:AFT:REM", values=("OFF", "AUTO"),
                                       doc="DC output state when remote control ends (OFF = switch off)")
    operating_mode = scpi_property("SYST:CONF:MODE", values=("UIP", "UIR"),
                                   doc="Regulation mode: UIP (voltage/current/power) or UIR (with resistance)")

    def __init__(self, transport: MessageTransport, *, name: str = "cycler") -> None:
        super().__init__(transport, name=name)
        #: Sink voltage set value used for discharges, V (from :meth:`configure_protection`).
        self.floor_v = 0.0

    # -- remote control ----------------------------------------------------------------------------
    def remote_owner(self) -> str:
        """Who controls the unit: ``REMOTE`` (this interface), ``LOCAL`` (front panel) or ``NONE``."""
        return self.query("SYST:LOCK:OWN?").strip().upper()

    def lock(self) -> None:
        """Take remote control (``SYSTem:LOCK ON``) and confirm it; InstrumentCommandError if refused."""
        self.write("SYST:LOCK ON")
        owner = self.remote_owner()
        if owner != "REMOTE":
            self.check_errors("SYST:LOCK ON")
            raise InstrumentCommandError(f"{self.where}: remote control refused (owner {owner}); "
                                         f"allow remote control at the front panel")

    def unlock(self) -> None:
        """Give remote control back (``SYSTem:LOCK OFF``); the output follows "state after remote"."""
        self.write("SYST:LOCK OFF")

    # -- Cycler role -------------------------------------------------------------------------------
    def configure(self) -> None:
        """Take remote control, reset (output off, set values 0), UIP mode, output off when remote ends."""
        self.lock()
        self.reset()
        self.write("SYST:CONF:MODE UIP")
        self.write("POW:STAG:AFT:REM OFF")
        self.check_errors("configure")

    def configure_protection(self, limits: ProtectionLimits) -> None:
        """Instrument-side protection from the protocol limits, to be called with the output off.

        OVP at ``voltage_max_v``, source and sink OCP at ``current_max_a``; the adjustment limits
        confine the voltage set value to [``voltage_min_v``, ``voltage_max_v``] and both current
        set values to ``current_max_a``, so no later command can ask for more; discharges stop at
        ``voltage_min_v`` in the instrument itself. With ``watchdog_s`` the interface monitoring
        switches the output off when the host is silent that long (rounded up to whole seconds).
        """
        cls = type(self)
        if not 0.0 <= limits.voltage_min_v < limits.voltage_max_v:
            raise SetpointOutOfRange(f"{self.where}: voltage limits {limits.voltage_min_v:g}..{limits.voltage_max_v:g} V"
                                     " are not an increasing range")
        settings = self.protection_settings(limits)
        for prop, value in settings:
            prop.validate(value, self.where, self)
        if limits.watchdog_s is not None:
            cls.watchdog_timeout_s.validate(math.ceil(limits.watchdog_s), self.where, self)
        # Set values first into the new window (limits that exclude a set value are refused: -221).
        self.write("SOUR:CURR 0")
        self.write("SINK:CURR 0")
        self.write(f"SOUR:VOLT {limits.voltage_min_v:.6g}")
        # Then the adjustment limits and protections, read back after the error queue is checked.
        apply_and_verify(self, settings, "configure_protection")
        if limits.watchdog_s is not None:
            self.write(f"SYST:COMM:MON:TIME {_int_seconds(limits.watchdog_s)}")
            self.write("SYST:COMM:MON:ACT ON")
        else:
            self.write("SYST:COMM:MON:ACT OFF")
        self.check_errors("configure_protection")
        self.floor_v = limits.voltage_min_v

    def protection_settings(self, limits: ProtectionLimits) -> list[Setting]:
        """Adjustment limits (voltage window, both current set values) and protections (OVP,
        source and sink OCP) for ``limits``, in sending order."""
        cls = type(self)
        current_a = min(limits.current_max_a, self.current_range_a[1])
        return [(cls.voltage_limit_low_v, limits.voltage_min_v), (cls.voltage_limit_high_v, limits.voltage_max_v),
                (cls.current_limit_high_a, current_a), (cls.sink_current_limit_high_a, current_a),
                (cls.overvoltage_protection_v, limits.voltage_max_v), (cls.overcurrent_protection_a, current_a),
                (cls.sink_overcurrent_protection_a, current_a)]

    def set_current(self, current_a: float, voltage_limit_v: float) -> None:
        """Force ``current_a`` A: + sources (charge) up to ``voltage_limit_v`` V, - sinks (discharge)
        down to the protection floor :attr:`floor_v` (``voltage_limit_v`` bounds charging only).

        The side not in use is set to 0 A first, so a change of direction has no overlap.
        """
        cls = type(self)
        low, high = self.current_range_a
        if not low <= current_a <= high:
            raise SetpointOutOfRange(f"{self.where}: current {current_a:g} A is outside [{low:g}, {high:g}] A")
        cls.voltage_setpoint_v.validate(voltage_limit_v, self.where, self)
        if current_a >= 0.0:
            self.write("SINK:CURR 0")
            self.write(f"SOUR:VOLT {voltage_limit_v:.6g}")
            self.write(f"SOUR:CURR {current_a:.6g}")
        else:
            self.write("SOUR:CURR 0")
            self.write(f"SOUR:VOLT {self.floor_v:.6g}")
            self.write(f"SINK:CURR {-current_a:.6g}")
        self.check_errors(f"set_current({current_a:g} A, {voltage_limit_v:g} V)")

    def set_voltage(self, voltage_v: float, current_limit_a: float) -> None:
        """Hold ``voltage_v`` V, sourcing or sinking at most ``current_limit_a`` A."""
        cls = type(self)
        cls.voltage_setpoint_v.validate(voltage_v, self.where, self)
        cls.current_setpoint_a.validate(current_limit_a, self.where, self)
        self.write(f"SOUR:CURR {current_limit_a:.6g}")
        self.write(f"SINK:CURR {current_limit_a:.6g}")
        self.write(f"SOUR:VOLT {voltage_v:.6g}")
        self.check_errors(f"set_voltage({voltage_v:g} V, {current_limit_a:g} A)")

    def output_on(self) -> None:
        """Switch the DC output on (also acknowledges latched alarms)."""
        self.write("OUTP ON")
        self.check_errors("output on")

    def output_off(self) -> None:
        """Switch the DC output off (the battery is disconnected from the power stage)."""
        self.write("OUTP OFF")

    def is_output_on(self) -> bool:
        """DC output state as the instrument reports it."""
        return parse_bool(self.query("OUTP?"))

    def measure(self) -> tuple[float, float]:
        """One reading: (voltage_v, current_a), from ``MEAS:ARR?`` (current + = sourcing = charging)."""
        return self.query_parsed("MEAS:ARR?", self._parse_array)

    def _parse_array(self, reply: str) -> tuple[float, float]:
        parts = reply.split(",")
        if len(parts) != 3:
            raise InstrumentReplyError(f"{self.where} MEAS:ARR?: expected voltage, current, power; got {reply!r}")
        try:
            voltage, current, _power = (parse_quantity(p) for p in parts)
        except ValueError:
            raise InstrumentReplyError(f"{self.where} MEAS:ARR?: cannot parse {reply!r}") from None
        return voltage, current

    def alarms(self) -> list[str]:
        """Active device alarms from ``STAT:QUES:COND?`` (``OVP``, ``OCP``, ``OPP``, ``OT``, ``PF``)."""
        reply = self.query("STAT:QUES:COND?")
        try:
            bits = int(reply.strip())
        except ValueError:
            raise InstrumentReplyError(f"{self.where} STAT:QUES:COND?: expected an integer, got {reply!r}") from None
        return [name for bit, name in ALARM_BITS if bits & (1 << bit)]

    def protection_tripped(self) -> str:
        """Why the output was switched off by the instrument: alarm names, or lost remote control
        (interface monitoring timed out, or the front panel took over); ``""`` when neither."""
        alarms = self.alarms()
        if alarms:
            return ",".join(alarms)
        owner = self.remote_owner()
        return "" if owner == "REMOTE" else f"remote control lost (owner {owner})"
