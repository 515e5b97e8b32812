"""Maccor battery testers through MacNet (JSON over TCP) as cyclers: one connection, channel handles.

Facts from Maccor's manual "Remote Control - MacNet - LabView" (the MacTest32 help; a copy is in
the public pymacnet repository, docs/macnet_from_maccor_help.pdf), section by section:

* "Network interface" / "JSON protocol": JSON-RPC 2.0 messages ``{"jsonrpc": "2.0", "method":
  "MacNet", "params": {"FClass": c, "FNum": n, ...}, "id": k}`` on TCP port ``MacNet_JSON_Port``
  (default 57570; 57560 is the binary TCP port, 57550 UDP). Parse problems come back as JSON-RPC
  errors (Parse error, Invalid params, Invalid FClass, Illegal value ...). The replies end with
  CR LF (as the public client pymacnet reads them); requests are sent as one JSON object.
* "MacNet Functions": ``Chan`` is 0-based; test channel 4 is ``Chan`` 3. A bench config names the
  channel as the tester shows it (``channel = 4``), the driver sends ``Chan = channel - 1``.
* (1, 1) version info, (1, 2) general system information (``TestChannels``, ``SystemType``),
  (3, 1) channel specification (``Vmax``, ``Vmin``, ``IR1..4Chg/Dis`` current ranges),
  (4, 7) all status and readings of one channel (``Stat``, ``RF1``, ``RF2``, ``Voltage``, ``Current``),
  (6, 5) reset, (6, 7) start direct mode, (6, 8) set direct mode output, (6, 10) set safety.
* (6, 7) / (6, 8): Current, Voltage and Power are mutually limiting; a value outside the range is
  ignored (0 is in range); a set point must be active in (6, 7) to work in (6, 8); ChMode ``C``
  charge, ``D`` discharge; direct mode works only on SystemType 0. (6, 8) answers 3 "Command sent
  too fast" unless **100 ms** passed since the previous command: the driver waits out the rest of
  the 100 ms itself (:data:`MIN_CONTROL_INTERVAL_S`, on the clock it is given).
* Watchdog: ``MacNetDirectModeWD`` in System.ini suspends a direct-mode channel not updated for that
  many seconds. MacNet cannot set it; tell the driver the configured value (``direct_mode_watchdog_s``)
  and it re-sends the set point at half that interval from :meth:`MaccorChannel.measure`.

Safety limits: ``configure_protection`` sends (6, 10) ``VSafeMax``/``VSafeMin``/``ISafeChg``/
``ISafeDis``/``PBatSafeChg``/``PBatSafeDis`` and checks the echoed values before any output.
Rest: a zero current is sent as ChMode ``C`` with 0 A (pymacnet's documentation records that ChMode
``R`` in JSON does not rest the channel on real testers; 0 A in charge mode does).
Current sign: (4, 7) ``Current`` is read as a magnitude signed by ``RF1`` (2 = discharge), so the
driver is right whether a tester reports it signed or unsigned; + = charging, as everywhere here.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from drivers.cycler_system import CyclerSystem, SystemChannel, WallClock
from drivers.errors import InstrumentCommandError, InstrumentError, InstrumentReplyError, SetpointOutOfRange
from drivers.roles import ProtectionLimits
from drivers.stream import ByteStream

logger = logging.getLogger(__name__)

MACNET_JSON_PORT = 57570
#: (6, 8) "There must be at least 100 ms (10 ticks) between commands".
MIN_CONTROL_INTERVAL_S = 0.1
#: "Set outside range to ignore": a power set point no channel reaches, W.
IGNORED_POWER_W = 1.0e6
#: Replies of another request (an id that is not ours) skipped before giving up.
MAX_STALE_REPLIES = 4
#: (4, 1) "Stat": the state of the channel in the software.
STAT_NAMES = {0: "Available", 1: "Selected", 2: "Active", 3: "Suspended", 4: "Completed", 5: "Problem",
              6: "Not/Avl", 7: "Reset", 8: "Start", 9: "PWR Fail", 10: "No Cntllr", 11: "ShutDown",
              12: "Starting", 13: "Blocked", 14: "Waiting", 15: "FRA", 16: "Rem Maint"}
STAT_ACTIVE, STAT_SUSPENDED, STAT_COMPLETED, STAT_PROBLEM = 2, 3, 4, 5
#: (4, 1) "RF1" codes that give the current's direction.
RF1_CHARGE, RF1_DISCHARGE = 1, 2
#: A hold set within this of the present reading continues the direction the channel was moving
#: (RF1): the hold after a CC charge to its limit charges, after a CC discharge discharges, V.
HOLD_DIRECTION_BAND_V = 0.01
#: (4, 1) "RF2" end/safety codes (a subset; the rest are reported by number).
RF2_NAMES = {189: "Safety Capacity", 190: "Safety Voltage <pk", 191: "Safety overcharge",
             192: "operator suspended", 194: "timeout fault", 196: "overcharge safety",
             197: "voltage safety <pk", 198: "slave error", 252: "slave current control error",
             253: "V safety absolute", 254: "lost current control", 255: "buffer full"}


class MaccorMacNet(CyclerSystem):
    """One Maccor tester (MacTest32) reached through MacNet JSON; :meth:`channel` hands out channels.

    ``clock`` (``now_s()``, ``sleep(s)``) times the 100 ms between control commands; the simulated
    bench passes its virtual clock. ``direct_mode_watchdog_s``: the tester's ``MacNetDirectModeWD``.
    """

    system_label = "Maccor"

    def __init__(self, stream: ByteStream, *, name: str = "Maccor", clock: Any = None,
                 direct_mode_watchdog_s: float | None = None) -> None:
        super().__init__(stream, name=name)
        self.clock = clock or WallClock()
        self.direct_mode_watchdog_s = direct_mode_watchdog_s
        self._id = 0
        info = self.request(1, 2, {})
        try:
            self.channel_count = int(info["TestChannels"])
            self.system_type = int(info["SystemType"])
            self.system_id = str(info.get("SystemID", ""))
        except (KeyError, TypeError, ValueError):
            raise InstrumentReplyError(f"{self.where}: (1, 2) general information unreadable: {info!r}") from None

    def channel(self, channel: int, *, name: str = "cycler") -> MaccorChannel:
        """The handle of test channel ``channel`` (numbered as on the tester, from 1)."""
        return MaccorChannel(self, channel, name=name)

    # -- messages --------------------------------------------------------------------------------------
    def request(self, fclass: int, fnum: int, params: dict[str, Any], *, channel: int | None = None) -> dict[str, Any]:
        """Send one MacNet function; its ``result`` object. ``channel`` (1-based) goes out as ``Chan``.

        JSON-RPC errors raise InstrumentCommandError, a reply of another function
        InstrumentReplyError; both name the system and the channel.
        """
        body: dict[str, Any] = {"FClass": fclass, "FNum": fnum}
        if channel is not None:
            body["Chan"] = channel - 1
        body.update(params)
        what = f"MacNet ({fclass}, {fnum})"
        where = self.where_channel(channel)

        def io(stream: ByteStream) -> dict[str, Any]:
            self._id = self._id % 65535 + 1
            ident = self._id
            stream.send(json.dumps({"jsonrpc": "2.0", "method": "MacNet", "params": body, "id": ident},
                                   separators=(",", ":")).encode("ascii"))
            for _ in range(1 + MAX_STALE_REPLIES):
                raw = stream.recv_until(b"\r\n")
                try:
                    reply = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, ValueError):
                    raise InstrumentReplyError(f"{where}: {what}: reply is not JSON: {raw[:80]!r}") from None
                if not isinstance(reply, dict):
                    raise InstrumentReplyError(f"{where}: {what}: reply is not a JSON object: {raw[:80]!r}")
                if reply.get("id") in (ident, None):
                    return reply
                logger.warning("%s: %s: skipped a reply to request id %r", where, what, reply.get("id"))
            raise InstrumentReplyError(f"{where}: {what}: no reply with id {ident}")

        reply = self.exchange(channel, what, io)
        if "error" in reply:
            error = reply["error"] if isinstance(reply["error"], dict) else {"message": reply["error"]}
            raise InstrumentCommandError(f"{where}: {what} refused: {error.get('message', '?')} "
                                         f"(JSON-RPC error {error.get('code', '?')})")
        result = reply.get("result")
        if not isinstance(result, dict) or result.get("FClass") != fclass or result.get("FNum") != fnum:
            raise InstrumentReplyError(f"{where}: {what}: unexpected reply {json.dumps(reply)[:120]}")
        return result

    def command(self, fclass: int, fnum: int, params: dict[str, Any], *, channel: int) -> dict[str, Any]:
        """A channel command whose ``Result`` must be ``"OK"``; InstrumentCommandError with the tester's text."""
        result = self.request(fclass, fnum, params, channel=channel)
        outcome = result.get("Result")
        if outcome != "OK":
            raise InstrumentCommandError(f"{self.where_channel(channel)}: MacNet ({fclass}, {fnum}) refused: {outcome}")
        return result

    def version(self) -> str:
        """(1, 1): ``MacTest32 major.minor.build``."""
        info = self.request(1, 1, {})
        return (f"MacTest32 {info.get('MacTest32EXEversionMajor')}.{info.get('MacTest32EXEversionMinor')}."
                f"{info.get('MacTest32EXEversionBuild')}")


class MaccorChannel(SystemChannel):
    """One Maccor test channel as a ``Cycler``: direct mode (6, 7)/(6, 8), safety (6, 10), reads (4, 7)."""

    system: MaccorMacNet
    #: (min, max) current of range 4, A, and (min, max) voltage, V: from (3, 1) when the handle is opened.
    current_range_a: tuple[float, float]
    voltage_range_v: tuple[float, float]

    def __init__(self, system: MaccorMacNet, channel: int, *, name: str = "cycler") -> None:
        super().__init__(system, channel, name=name)
        spec = system.request(3, 1, {}, channel=channel)
        try:
            self.spec = {key: float(spec[key]) for key in ("Vmax", "Vmin", "IR4Chg", "IR4Dis")}
            self.charge_ranges_a = [float(spec[f"IR{n}Chg"]) for n in (1, 2, 3, 4)]
            self.discharge_ranges_a = [float(spec[f"IR{n}Dis"]) for n in (1, 2, 3, 4)]
        except (KeyError, TypeError, ValueError):
            raise InstrumentReplyError(f"{self.where}: (3, 1) channel specification unreadable: {spec!r}") from None
        self.current_range_a = (-self.spec["IR4Dis"], self.spec["IR4Chg"])
        self.voltage_range_v = (self.spec["Vmin"], self.spec["Vmax"])
        self.floor_v = self.spec["Vmin"]
        self._direct = False
        #: The set point (6, 8) fields: Current (magnitude), Voltage, ChMode.
        self._setpoint: tuple[float, float, str] = (0.0, self.spec["Vmax"], "C")
        self._last_control_s = -math.inf
        self.last_status: dict[str, Any] = {}

    # -- Cycler role ------------------------------------------------------------------------------------
    def verify_identity(self) -> str:
        """Version and system: ``Maccor MacTest32 3.2.18, Win10, SystemType 0, channel 4 of 12``.

        InstrumentError when the system type cannot run direct mode ((6, 7): type 0 only).
        """
        version = self.system.version()
        if self.system.system_type != 0:
            raise InstrumentError(f"{self.where}: SystemType {self.system.system_type}: MacNet direct mode "
                                  "only works on SystemType 0 (lab system)")
        return (f"Maccor {version}, {self.system.system_id}, SystemType {self.system.system_type}, "
                f"channel {self.channel} of {self.system.channel_count}")

    def status(self) -> dict[str, Any]:
        """(4, 7): all status and readings of the channel."""
        self.last_status = self.system.request(4, 7, {}, channel=self.channel)
        return self.last_status

    def configure(self) -> None:
        """Take the channel for direct control: a Completed test is reset ((6, 5)); a channel that runs or
        holds another test (Active, Suspended, Problem ...) is refused, never taken over."""
        stat = int(self.status().get("Stat", -1))
        if stat == STAT_COMPLETED:
            self.system.command(6, 5, {}, channel=self.channel)
        elif stat != 0:
            raise InstrumentError(f"{self.where}: channel is {STAT_NAMES.get(stat, stat)} (not Available): "
                                  "finish or reset that test on the tester first")
        self._direct = False

    def configure_protection(self, limits: ProtectionLimits) -> None:
        """(6, 10) safety limits from the protocol's limits, checked against the channel's specification
        and against the values the tester echoes. Power limits: ``voltage_max_v * current_max_a``."""
        vmin, vmax = self.voltage_range_v
        if not vmin <= limits.voltage_min_v < limits.voltage_max_v <= vmax:
            raise SetpointOutOfRange(f"{self.where}: voltage limits {limits.voltage_min_v:g}..{limits.voltage_max_v:g} V "
                                     f"are not an increasing range within the channel's {vmin:g}..{vmax:g} V")
        charge_a = min(limits.current_max_a, self.spec["IR4Chg"])
        discharge_a = min(limits.current_max_a, self.spec["IR4Dis"])
        power_w = limits.voltage_max_v * limits.current_max_a
        wanted = {"VSafeMax": limits.voltage_max_v, "VSafeMin": limits.voltage_min_v, "ISafeChg": charge_a,
                  "ISafeDis": discharge_a, "PBatSafeChg": power_w, "PBatSafeDis": power_w}
        echo = self.system.request(6, 10, wanted, channel=self.channel)
        for key, value in wanted.items():
            got = echo.get(key)
            if not isinstance(got, (int, float)) or abs(got - value) > 1e-4 * max(1.0, abs(value)):
                raise InstrumentCommandError(f"{self.where}: (6, 10) safety {key} = {value:g} not accepted "
                                             f"(the tester holds {got!r})")
        if limits.watchdog_s is not None and self.system.direct_mode_watchdog_s is None:
            logger.warning("%s: a host watchdog of %g s was asked for; MacNet cannot set it: set "
                           "MacNetDirectModeWD in the tester's System.ini", self.where, limits.watchdog_s)
        self.floor_v = limits.voltage_min_v
        self.arm()

    def set_current(self, current_a: float, voltage_limit_v: float) -> None:
        """Force ``current_a`` A (+ charge up to ``voltage_limit_v`` V, - discharge down to the protection
        floor); applied at once while the output is on, else at :meth:`output_on`."""
        low, high = self.current_range_a
        if not low <= current_a <= high:
            raise SetpointOutOfRange(f"{self.where}: current {current_a:g} A is outside [{low:g}, {high:g}] A")
        self._check_voltage(voltage_limit_v)
        self.require_armed("set_current")
        if current_a < 0:
            self._apply((-current_a, self.floor_v, "D"))
        else:
            self._apply((current_a, voltage_limit_v, "C"))

    def set_voltage(self, voltage_v: float, current_limit_a: float) -> None:
        """Hold ``voltage_v`` V with at most ``current_limit_a`` A: charge mode when the cell is below it,
        discharge mode when above (read from (4, 7) first). Within :data:`HOLD_DIRECTION_BAND_V` of
        the reading (a hold at the voltage a CC step just reached) the channel keeps the direction
        it was moving (RF1): ChMode C only charges and D only discharges, so the hold after a charge
        to 4.2 V read as 4.2001 V must stay in C (in D it would hold nothing while the cell relaxes)."""
        self._check_voltage(voltage_v)
        if not 0 <= current_limit_a <= max(self.spec["IR4Chg"], self.spec["IR4Dis"]):
            raise SetpointOutOfRange(f"{self.where}: current limit {current_limit_a:g} A is outside the channel's range")
        self.require_armed("set_voltage")
        status = self.status()
        present_v = float(status.get("Voltage", 0.0))
        if abs(voltage_v - present_v) <= HOLD_DIRECTION_BAND_V and int(status.get("RF1", 0)) in (RF1_CHARGE, RF1_DISCHARGE):
            mode = "D" if int(status["RF1"]) == RF1_DISCHARGE else "C"
        else:
            mode = "C" if voltage_v >= present_v else "D"
        limit = min(current_limit_a, self.spec["IR4Chg"] if mode == "C" else self.spec["IR4Dis"])
        self._apply((limit, voltage_v, mode))

    def output_on(self) -> None:
        """Start direct mode ((6, 7)) with the present set point."""
        self.require_armed("output_on")
        if self._direct:
            return
        current, voltage, mode = self._setpoint
        self._wait_control_interval()
        self.system.command(6, 7, {"TestName": "Random", "Current": current, "Voltage": voltage,
                                   "Power": IGNORED_POWER_W, "Resistance": 0, "CurrentRange": self._range(current, mode),
                                   "ChMode": mode, "DataTime": 1.0, "DataV": 0, "DataI": 0}, channel=self.channel)
        self._last_control_s = self.system.clock.now_s()
        self._direct = True

    def output_off(self) -> None:
        """Reset the channel ((6, 5)): the direct-mode test ends and the output is off."""
        self._direct = False
        self.system.command(6, 5, {}, channel=self.channel)

    def is_output_on(self) -> bool:
        """True while the channel is Active ((4, 7) ``Stat`` 2)."""
        return int(self.status().get("Stat", -1)) == STAT_ACTIVE

    def measure(self) -> tuple[float, float]:
        """(voltage_v, current_a) from (4, 7); current + = charging (sign from ``RF1``)."""
        self.require_armed("measure")
        if self._direct and self.system.direct_mode_watchdog_s:
            if self.system.clock.now_s() - self._last_control_s >= self.system.direct_mode_watchdog_s / 2:
                self._send_setpoint()
        status = self.status()
        try:
            voltage = float(status["Voltage"])
            current = float(status["Current"])
            rf1 = int(status.get("RF1", 0))
        except (KeyError, TypeError, ValueError):
            raise InstrumentReplyError(f"{self.where}: (4, 7) readings unreadable: {status!r}") from None
        if not (math.isfinite(voltage) and math.isfinite(current)):
            raise InstrumentReplyError(f"{self.where}: (4, 7) reading is not a number: {status!r}")
        if rf1 == RF1_DISCHARGE:
            current = -abs(current)
        elif rf1 == RF1_CHARGE:
            current = abs(current)
        if self._direct and int(status.get("Stat", -1)) != STAT_ACTIVE:
            self._direct = False  # suspended by a safety limit or the watchdog: protection_tripped says why
        return voltage, current

    def protection_tripped(self) -> str:
        """Why the tester stopped a direct-mode channel (Suspended / Problem and the RF2 code), ``""`` if it did not."""
        status = self.last_status or self.status()
        stat = int(status.get("Stat", -1))
        if stat not in (STAT_SUSPENDED, STAT_PROBLEM):
            return ""
        rf2 = int(status.get("RF2", 0))
        return f"{STAT_NAMES[stat]}: RF2 {rf2} {RF2_NAMES.get(rf2, '')}".rstrip()

    # -- helpers ----------------------------------------------------------------------------------------
    def _check_voltage(self, voltage_v: float) -> None:
        vmin, vmax = self.voltage_range_v
        if not vmin <= voltage_v <= vmax:
            raise SetpointOutOfRange(f"{self.where}: voltage {voltage_v:g} V is outside [{vmin:g}, {vmax:g}] V")

    def _range(self, current_a: float, mode: str) -> int:
        """The smallest current range (1..4) that holds ``current_a`` (finer resolution)."""
        ranges = self.charge_ranges_a if mode == "C" else self.discharge_ranges_a
        return next((n for n, top in enumerate(ranges, 1) if current_a <= top), 4)

    def _apply(self, setpoint: tuple[float, float, str]) -> None:
        self._setpoint = setpoint
        if self._direct:
            self._send_setpoint()

    def _wait_control_interval(self) -> None:
        """Wait out the rest of the 100 ms between control commands on this channel."""
        wait = self._last_control_s + MIN_CONTROL_INTERVAL_S - self.system.clock.now_s()
        if wait > 0:
            self.system.clock.sleep(wait)

    def _send_setpoint(self) -> None:
        current, voltage, mode = self._setpoint
        self._wait_control_interval()
        self.system.command(6, 8, {"Current": current, "Voltage": voltage, "Power": IGNORED_POWER_W,
                                   "Resistance": 0, "CurrentRange": self._range(current, mode), "ChMode": mode},
                            channel=self.channel)
        self._last_control_s = self.system.clock.now_s()


#: The channel handle class (the ``Cycler`` role) of the system.
MaccorMacNet.channel_class = MaccorChannel
