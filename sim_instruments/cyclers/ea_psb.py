"""Simulated EA Elektro-Automatik PSB 10000 bidirectional power supply (SCPI), on one world channel.

Command set after the EA "Programming Guide ModBus & SCPI" for the 10000 series (section "SCPI
commands": SOURce / SINK set values, protections and adjustment limits, OUTPut, MEASure, SYSTem:LOCK,
SYSTem:COMMunicate:MONitor, STATus:QUEStionable) and the PSB 10000 user manual (section 3.3
"operating modes" for the automatic source/sink transition, 3.5.3 "interface monitoring").

Operating model (UIP mode): the supply regulates its terminal voltage to the voltage set value U.
While the battery would need current *into* it to reach U it sources, limited by the source
current set value I (and power P/U); while the battery is above U it sinks, limited by the sink
current set value I_sink (and P_sink/U). So a charge is U = end voltage, I = charge current,
I_sink = 0; a discharge is U = floor voltage, I = 0, I_sink = discharge current. The mapping to
the shared output stage (``world.channels[n].source``) is re-evaluated at every message and sync.

Protection: OVP, OCP (source and sink), OPP (source and sink) switch the DC output off and latch
an alarm bit in ``STATus:QUEStionable:CONDition?`` (bit 0 OV, 1 OC, 2 OP) until the output is
switched on again or ``*CLS`` / ``*RST``. Set values outside 0..102 % of nominal, or outside the
adjustment limits (``...:LIMit:HIGH|LOW``), are refused with -222; a limit that would exclude the
present set value with -221. Settings need remote control (``SYSTem:LOCK ON``) else -203.
Interface monitoring (communication watchdog): with ``SYSTem:COMMunicate:MONitor:ACTive ON`` and a
timeout in seconds, a gap of more than the timeout between two messages (in the world's clock)
ends remote control, and the output goes off when "state after remote" is OFF (the default).
Replies carry units (``"4.20 V"``, ``"-20.00 A"``); current is positive when sourcing (charging).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sim_instruments.wire.scpi_frontend import Handler, ScpiError, ScpiFrontEnd, parse_bool, parse_number
from sim_instruments.world.sim_world import SimWorld, SourceState

logger = logging.getLogger(__name__)

#: Questionable status bits (alarms) of the 10000 series.
QUES_BITS = {"OVP": 0, "OCP": 1, "OPP": 2, "OT": 3, "PF": 13}
EXTRA_ERRORS = {-203: "Command protected"}


@dataclass(frozen=True)
class PsbRatings:
    """Nominal values of one PSB 10000 model: volts, amps (source and sink), watts, model name, and
    the decimals of its replies (the front display's resolution: 60.00 V, 60.00 A on a 60 V / 60 A unit)."""

    model: str
    voltage_v: float
    current_a: float
    power_w: float
    decimals: tuple[int, int, int] = (2, 2, 1)


PSB_10060_60 = PsbRatings("PSB 10060-60", 60.0, 60.0, 1500.0)
#: Set values accept up to 102 % of nominal, protections up to 110 % (programming guide, set values).
SET_SPAN, PROT_SPAN = 1.02, 1.10


class EaPsbSim(ScpiFrontEnd):
    """A PSB 10000 (default PSB 10060-60) on channel ``channel`` of ``world``."""

    def __init__(self, world: SimWorld, channel: int = 0, ratings: PsbRatings = PSB_10060_60,
                 serial: str = "2582470001") -> None:
        super().__init__(f"EA Elektro-Automatik, {ratings.model}, {serial}, V3.02 KE:03.07.01 HMI:03.07.00")
        self.world = world
        self.channel = channel
        self.ratings = ratings
        #: Front panel setting "allow remote control"; False makes SYSTem:LOCK ON fail (tests).
        self.remote_allowed = True
        self.owner = "NONE"
        self.watchdog_active = False
        self.watchdog_timeout_s = 5.0
        self.state_after_remote = "OFF"
        self.mode = "UIP"
        self.alarms: set[str] = set()
        self.alarm_events = 0
        self._last_message_s = world.clock.now_s()
        self._declare()
        self.reset()
        world.hooks.append(self._watchdog_hook)

    @property
    def source(self) -> SourceState:
        return self.world.channels[self.channel].source

    # -- error queue with the EA-specific -203 ---------------------------------------------------
    def push_error(self, code: int, detail: str = "") -> None:
        """As the base class, with "Command protected" (-203) known."""
        if code not in EXTRA_ERRORS:
            super().push_error(code, detail)
            return
        message = f"{EXTRA_ERRORS[code]}; {detail}" if detail else EXTRA_ERRORS[code]
        if len(self.errors) >= self.error_queue_size:
            self.errors[-1] = (-350, "Queue overflow")
            return
        self.errors.append((code, message))

    # -- power-on state ----------------------------------------------------------------------
    def reset(self) -> None:
        """``*RST``: output off, set values 0 V / 0 A (power at nominal), protections and limits at their maxima."""
        r = self.ratings
        self.voltage_v = 0.0
        self.current_a = 0.0
        self.power_w = r.power_w
        self.sink_current_a = 0.0
        self.sink_power_w = r.power_w
        self.ovp_v = r.voltage_v * PROT_SPAN
        self.ocp_a = r.current_a * PROT_SPAN
        self.opp_w = r.power_w * PROT_SPAN
        self.sink_ocp_a = r.current_a * PROT_SPAN
        self.sink_opp_w = r.power_w * PROT_SPAN
        self.voltage_low_v, self.voltage_high_v = 0.0, r.voltage_v * SET_SPAN
        self.current_low_a, self.current_high_a = 0.0, r.current_a * SET_SPAN
        self.sink_current_low_a, self.sink_current_high_a = 0.0, r.current_a * SET_SPAN
        self.power_high_w = self.sink_power_high_w = r.power_w * SET_SPAN
        self.mode = "UIP"
        self.alarms.clear()
        src = self.source
        src.output_on = False
        src.protection_tripped = ""
        self._apply()

    # -- every message -------------------------------------------------------------------------
    def before_command(self) -> None:
        """Bring the physics to now (the watchdog hook may fire), latch trips, note the activity."""
        self.world.sync()
        self._check_protection()
        self._last_message_s = self.world.clock.now_s()
        self._apply()

    def _watchdog_hook(self, world: SimWorld, now_s: float) -> None:
        """Interface monitoring, run at every sync of the world (any instrument's message)."""
        if not (self.watchdog_active and self.owner == "REMOTE"):
            return
        if now_s - self._last_message_s <= self.watchdog_timeout_s:
            return
        self.owner = "NONE"
        if self.state_after_remote == "OFF" and self.source.output_on:
            self.source.output_on = False
        logger.info("simulated PSB: no message for %.1f s > %.1f s: remote control ended, output %s",
                    now_s - self._last_message_s, self.watchdog_timeout_s,
                    "on" if self.source.output_on else "off")

    def _check_protection(self) -> None:
        """Latch the world's OVP/OCP trip; check the directional OCP and OPP levels."""
        src = self.source
        if src.protection_tripped:
            self._alarm(src.protection_tripped)
            src.protection_tripped = ""
        if not src.output_on:
            return
        current, voltage = src.actual_current_a, src.actual_voltage_v
        power = abs(current * voltage)
        if current > self.ocp_a or -current > self.sink_ocp_a:
            self._alarm("OCP")
        elif (current >= 0 and power > self.opp_w) or (current < 0 and power > self.sink_opp_w):
            self._alarm("OPP")

    def _alarm(self, name: str) -> None:
        self.source.output_on = False
        if name not in self.alarms:
            self.alarms.add(name)
            self.alarm_events |= 1 << QUES_BITS[name]
            logger.info("simulated PSB: %s alarm, DC output off", name)

    def _apply(self) -> None:
        """Translate the UIP set values into the channel's output stage (see the module docstring)."""
        src = self.source
        src.overvoltage_v = self.ovp_v
        src.overcurrent_a = max(self.ocp_a, self.sink_ocp_a)
        if not src.output_on:
            return
        cell = self.world.channels[self.channel].cell
        volts = max(cell.terminal_voltage_v(0.0), 0.1)
        source_a = min(self.current_a, self.power_w / volts)
        sink_a = min(self.sink_current_a, self.sink_power_w / volts)
        if cell.current_for_voltage_a(self.voltage_v) >= 0.0 or sink_a <= 0.0:
            # Battery below U (or no sink current): source side. The source current is forced and U
            # is its voltage limit, so the current tapers (CV) as the terminals reach U.
            src.function, src.current_a, src.voltage_limit_v = "CURR", max(source_a, 0.0), self.voltage_v
        else:
            # Battery above U: sink side, regulating to U with the sink current as the limit.
            src.function, src.voltage_v, src.current_limit_a = "VOLT", self.voltage_v, sink_a

    # -- command table -------------------------------------------------------------------------
    def _both(self, pattern: str, handler: Handler) -> None:
        """Register ``[SOURce:]pattern`` (the SOURce node is optional in the 10000-series tree)."""
        self.add(f":SOURce{pattern}", handler)
        self.add(pattern, handler)

    def _declare(self) -> None:
        r = self.ratings
        setting = self._setting
        self.add(":SYSTem:LOCK[:STATe]", self._lock)
        self.add(":SYSTem:LOCK[:STATe]?", lambda _a: "ON" if self.owner == "REMOTE" else "OFF")
        self.add(":SYSTem:LOCK:OWNer?", lambda _a: self.owner)
        self.add(":SYSTem:ERRor:ALL?", self._all_errors)
        self.add(":SYSTem:NOMinal:VOLTage?", lambda _a: self._q(r.voltage_v, "V"))
        self.add(":SYSTem:NOMinal:CURRent?", lambda _a: self._q(r.current_a, "A"))
        self.add(":SYSTem:NOMinal:POWer?", lambda _a: self._q(r.power_w, "W"))
        self.add(":SYSTem:CONFig:MODE", setting(self._set_mode))
        self.add(":SYSTem:CONFig:MODE?", lambda _a: self.mode)
        self.add(":SYSTem:COMMunicate:MONitor:ACTive", setting(self._set_watchdog_active))
        self.add(":SYSTem:COMMunicate:MONitor:ACTive?", lambda _a: "ON" if self.watchdog_active else "OFF")
        self.add(":SYSTem:COMMunicate:MONitor:TIMe", setting(self._set_watchdog_timeout))
        self.add(":SYSTem:COMMunicate:MONitor:TIMe?", lambda _a: f"{self.watchdog_timeout_s:.0f}")
        self.add(":POWer:STAGe:AFTer:REMote", setting(self._set_after_remote))
        self.add(":POWer:STAGe:AFTer:REMote?", lambda _a: self.state_after_remote)
        # Set values.
        self._both(":VOLTage[:LEVel][:IMMediate][:AMPLitude]", setting(self._number("voltage_v", "V")))
        self._both(":VOLTage[:LEVel][:IMMediate][:AMPLitude]?", lambda _a: self._q(self.voltage_v, "V"))
        self._both(":CURRent[:LEVel][:IMMediate][:AMPLitude]", setting(self._number("current_a", "A")))
        self._both(":CURRent[:LEVel][:IMMediate][:AMPLitude]?", lambda _a: self._q(self.current_a, "A"))
        self._both(":POWer[:LEVel][:IMMediate][:AMPLitude]", setting(self._number("power_w", "W")))
        self._both(":POWer[:LEVel][:IMMediate][:AMPLitude]?", lambda _a: self._q(self.power_w, "W"))
        self.add(":SINK:CURRent[:LEVel][:IMMediate][:AMPLitude]", setting(self._number("sink_current_a", "A")))
        self.add(":SINK:CURRent[:LEVel][:IMMediate][:AMPLitude]?", lambda _a: self._q(self.sink_current_a, "A"))
        self.add(":SINK:POWer[:LEVel][:IMMediate][:AMPLitude]", setting(self._number("sink_power_w", "W")))
        self.add(":SINK:POWer[:LEVel][:IMMediate][:AMPLitude]?", lambda _a: self._q(self.sink_power_w, "W"))
        # Protections (0..110 % of nominal).
        for pattern, attr, unit, nominal in (
                (":VOLTage:PROTection[:LEVel]", "ovp_v", "V", r.voltage_v),
                (":CURRent:PROTection[:LEVel]", "ocp_a", "A", r.current_a),
                (":POWer:PROTection[:LEVel]", "opp_w", "W", r.power_w)):
            self._both(pattern, setting(self._protection(attr, nominal)))
            self._both(pattern + "?", self._reader(attr, unit))
        for pattern, attr, unit, nominal in (
                (":SINK:CURRent:PROTection[:LEVel]", "sink_ocp_a", "A", r.current_a),
                (":SINK:POWer:PROTection[:LEVel]", "sink_opp_w", "W", r.power_w)):
            self.add(pattern, setting(self._protection(attr, nominal)))
            self.add(pattern + "?", self._reader(attr, unit))
        # Adjustment limits.
        for node, low, high, value, unit, nominal, sink in (
                (":VOLTage", "voltage_low_v", "voltage_high_v", "voltage_v", "V", r.voltage_v, False),
                (":CURRent", "current_low_a", "current_high_a", "current_a", "A", r.current_a, False),
                (":SINK:CURRent", "sink_current_low_a", "sink_current_high_a", "sink_current_a", "A", r.current_a,
                 True)):
            for edge, attr in (("LOW", low), ("HIGH", high)):
                handler = setting(self._limit(attr, value, low, high, nominal))
                query = self._reader(attr, unit)
                if sink:
                    self.add(f"{node}:LIMit:{edge}", handler)
                    self.add(f"{node}:LIMit:{edge}?", query)
                else:
                    self._both(f"{node}:LIMit:{edge}", handler)
                    self._both(f"{node}:LIMit:{edge}?", query)
        self._both(":POWer:LIMit:HIGH", setting(self._power_limit("power_high_w", "power_w")))
        self._both(":POWer:LIMit:HIGH?", lambda _a: self._q(self.power_high_w, "W"))
        self.add(":SINK:POWer:LIMit:HIGH", setting(self._power_limit("sink_power_high_w", "sink_power_w")))
        self.add(":SINK:POWer:LIMit:HIGH?", lambda _a: self._q(self.sink_power_high_w, "W"))
        # Output, measurements, status.
        self.add(":OUTPut[:STATe]", setting(self._set_output))
        self.add(":OUTPut[:STATe]?", lambda _a: "ON" if self.source.output_on else "OFF")
        self.add(":MEASure[:SCALar]:VOLTage[:DC]?", lambda _a: self._q(self._measure()[0], "V"))
        self.add(":MEASure[:SCALar]:CURRent[:DC]?", lambda _a: self._q(self._measure()[1], "A"))
        self.add(":MEASure[:SCALar]:POWer[:DC]?", lambda _a: self._q(_product(self._measure()), "W"))
        self.add(":MEASure[:SCALar]:ARRay?", self._measure_array)
        self.add(":STATus:QUEStionable:CONDition?", lambda _a: str(self._condition()))
        self.add(":STATus:QUEStionable[:EVENt]?", lambda _a: str(self._take_events()))

    # -- handlers ------------------------------------------------------------------------------
    def _setting(self, handler: Handler) -> Callable[[str], None]:
        """Settings are only accepted under remote control (programming guide: SYSTem:LOCK)."""
        def guarded(args: str) -> None:
            if self.owner != "REMOTE":
                raise ScpiError(-203, "remote control required (SYST:LOCK ON)")
            handler(args)
            self._apply()
        return guarded

    def _lock(self, args: str) -> None:
        if parse_bool(args):
            if not self.remote_allowed:
                self.owner = "LOCAL"
                raise ScpiError(-203, "remote control not allowed at the front panel")
            self.owner = "REMOTE"
        else:
            self.owner = "NONE"
            if self.state_after_remote == "OFF":
                self.source.output_on = False

    def _q(self, value: float, unit: str) -> str:
        """EA reply format: the value at the model's resolution and its unit, e.g. ``"4.20 V"``."""
        decimals = self.ratings.decimals["VAW".index(unit)]
        return f"{value:.{decimals}f} {unit}"

    def _reader(self, attr: str, unit: str) -> Callable[[str], str]:
        return lambda _args: self._q(getattr(self, attr), unit)

    def _all_errors(self, _args: str) -> str:
        replies = []
        while self.errors:
            replies.append(self.next_error())
        return ",".join(replies) if replies else '0,"No error"'

    def _number(self, attr: str, unit: str) -> Callable[[str], None]:
        low_attr, high_attr = _LIMIT_ATTRS[attr]
        nominal = {"V": self.ratings.voltage_v, "A": self.ratings.current_a, "W": self.ratings.power_w}[unit]

        def handler(args: str) -> None:
            value = parse_number(args, low=0.0, high=nominal * SET_SPAN, default=0.0)
            low = getattr(self, low_attr) if low_attr else 0.0
            high = getattr(self, high_attr)
            if not low <= value <= high:
                raise ScpiError(-222, f"{value:g} {unit} outside the adjustment limits {low:g}..{high:g} {unit}")
            setattr(self, attr, value)
        return handler

    def _protection(self, attr: str, nominal: float) -> Callable[[str], None]:
        def handler(args: str) -> None:
            setattr(self, attr, parse_number(args, low=0.0, high=nominal * PROT_SPAN, default=nominal * PROT_SPAN))
        return handler

    def _limit(self, attr: str, value_attr: str, low_attr: str, high_attr: str, nominal: float) -> Callable[[str], None]:
        def handler(args: str) -> None:
            value = parse_number(args, low=0.0, high=nominal * SET_SPAN)
            low = value if attr == low_attr else getattr(self, low_attr)
            high = value if attr == high_attr else getattr(self, high_attr)
            if low > high:
                raise ScpiError(-221, f"limit low {low:g} above limit high {high:g}")
            if not low <= getattr(self, value_attr) <= high:
                raise ScpiError(-221, f"set value {getattr(self, value_attr):g} outside the new limits")
            setattr(self, attr, value)
        return handler

    def _power_limit(self, attr: str, value_attr: str) -> Callable[[str], None]:
        def handler(args: str) -> None:
            value = parse_number(args, low=0.0, high=self.ratings.power_w * SET_SPAN)
            if getattr(self, value_attr) > value:
                raise ScpiError(-221, f"set value {getattr(self, value_attr):g} W above the new limit")
            setattr(self, attr, value)
        return handler

    def _set_mode(self, args: str) -> None:
        word = args.strip().upper()
        if word != "UIP":
            raise ScpiError(-224, f"{args} (only UIP is simulated)")
        self.mode = word

    def _set_watchdog_active(self, args: str) -> None:
        self.watchdog_active = parse_bool(args)

    def _set_watchdog_timeout(self, args: str) -> None:
        self.watchdog_timeout_s = float(round(parse_number(args, low=1.0, high=65535.0)))

    def _set_after_remote(self, args: str) -> None:
        word = args.strip().upper()
        if word not in ("OFF", "AUTO"):
            raise ScpiError(-224, args)
        self.state_after_remote = word

    def _set_output(self, args: str) -> None:
        on = parse_bool(args)
        if on:
            self.alarms.clear()  # switching on again acknowledges the latched alarms
        self.source.output_on = on

    def _measure(self) -> tuple[float, float]:
        return self.world.measure(self.channel)

    def _measure_array(self, _args: str) -> str:
        voltage, current = self._measure()
        return f"{self._q(voltage, 'V')}, {self._q(current, 'A')}, {self._q(voltage * current, 'W')}"

    def _condition(self) -> int:
        return sum(1 << QUES_BITS[name] for name in self.alarms)

    def _take_events(self) -> int:
        events, self.alarm_events = self.alarm_events, 0
        return events


#: Adjustment-limit attributes (low, high) that bound each set value.
_LIMIT_ATTRS = {
    "voltage_v": ("voltage_low_v", "voltage_high_v"),
    "current_a": ("current_low_a", "current_high_a"),
    "sink_current_a": ("sink_current_low_a", "sink_current_high_a"),
    "power_w": ("", "power_high_w"),
    "sink_power_w": ("", "sink_power_high_w"),
}


def _product(pair: tuple[float, float]) -> float:
    return pair[0] * pair[1]


