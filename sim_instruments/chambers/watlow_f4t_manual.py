"""The Watlow F4T's Modbus register map as the simulator serves it, after the F4T "Setup and
Operations User's Guide" (Watlow 0600-0093-0000), chapter 6 appendix, Modbus parameter tables
(page numbers of that guide; relative holding-register addresses of the default data map). The
``example`` of each row is the text a test uses to read or write that register
(``holding register N``); the meta-test looks for it in the tests.
"""

from __future__ import annotations

from sim_instruments.wire.manual_commands import ManualCommand, Status

_G = "Watlow F4T Setup and Operations User's Guide ch. 6 appendix"
_CCL = "Espec ChamberConnectLibrary watlowf4t.py"


def _row(header: str, section: str, example: str, note: str = "", status: Status = "implemented") -> ManualCommand:
    return ManualCommand(header, section, status, example, note)


MANUAL_COMMANDS: tuple[ManualCommand, ...] = (
    _row("holding registers 0, 4, 6, 8, 12, 14: hardware id, software versions, serial, date (signed 32-bit, R)",
         f"{_G} p. 225", "holding register 0", "hardware id 124"),
    _row("holding registers 16-30: F4T part number (string, R)", f"{_G} p. 225", "holding register 16"),
    _row("holding register 46: device name (string, RW)", f"{_G} p. 225", "holding register 46"),
    _row("holding register 86: restore settings from None (61) / Factory (31) (RW)", f"{_G} p. 225",
         "holding register 86", "Factory: °F, 60 Hz, alarms off"),
    _row("holding register 90: device status OK (138) / Fail (32) (R)", f"{_G} p. 225", "holding register 90"),
    _row("holding register 94: AC line frequency 50 Hz (3) / 60 Hz (4) (RW)", f"{_G} p. 225", "holding register 94"),
    _row("holding register 1328: display units F (30) / C (15) (RW)", f"{_G} p. 225 (\"Display\" class)",
         "holding register 1328",
         "the display units: every temperature register reads and writes in them; ships in °C"),
    _row("holding register 6730: units of profile values over Modbus TCP", f"{_CCL} (__profile_units); "
         "not in the guide's tables", "holding register 6730", "read-only mirror of 1328"),
    _row("holding registers 1330 + 100(n-1): alarm n type Off (62) / Process (76) / Deviation (24) (RW)",
         f"{_G} p. 225", "holding register 1330"),
    _row("holding registers 1332 + 100(n-1): alarm n sides Both (13) / High (37) / Low (53) (RW)",
         f"{_G} p. 225", "holding register 1332"),
    _row("holding registers 1334 / 1336 + 100(n-1): alarm n high / low set point (float, RW)", f"{_G} p. 225",
         "holding register 1334", "deviation alarms: offsets from the loop set point"),
    _row("holding registers 1338 + 100(n-1): alarm n hysteresis (float, RW)", f"{_G} p. 225",
         "holding register 1338"),
    _row("holding registers 1340 / 1342 + 100(n-1): alarm n silencing, latching (RW)", f"{_G} p. 225",
         "holding register 1342", "stored; latching is not modelled beyond the stored value"),
    _row("holding registers 1356 + 100(n-1): alarm n state (R)", f"{_G} alarm parameters; {_CCL}",
         "holding register 1356", "high 7, low 8, none 61"),
    _row("holding register 2730 + 160(n-1): loop user control mode Auto (10) / Manual (54) / Off (62) (RW)",
         f"{_G} control loop parameters", "holding register 2730", "Manual: exception 3 (not modelled)"),
    _row("holding registers 2774 / 2776 + 160(n-1): loop set point range low / high (float, RW)",
         f"{_G} control loop parameters; {_CCL} (set_loop_range writes them)", "holding register 2776",
         "a set point outside the range is refused with exception 3"),
    _row("holding register 2782 + 160(n-1): loop closed-loop set point (float, RW)", f"{_G} control loop parameters",
         "holding register 2782"),
    _row("holding register 2784 + 160(n-1): loop manual power (float %, RW)", f"{_G} control loop parameters; "
         f"{_CCL} (get_loop_power)", "holding register 2784", "stored; applies only in Manual mode"),
    _row("holding register 2808 + 160(n-1): loop output power (float %, R)", f"{_G} control loop parameters",
         "holding register 2808", "+ heat, - cool, from the chamber's ramp"),
    _row("holding registers 2810 / 2814 / 2820 + 160(n-1): working set point, active mode, process value (R)",
         f"{_G} control loop parameters", "holding register 2820"),
    _row("holding registers 16562 / 16564 / 16566 / 16568: profile start / resume / action requests, state",
         f"{_G} p. 223 (profile start) and profile engine parameters", "holding register 16568",
         "no profiles stored: start is exception 3"),
    _row("holding registers 16594-16600: profile event outputs 1-4 Off (62) / On (63) (RW)",
         f"{_G} profile engine parameters; {_CCL} (get_event/set_event)", "holding register 16594"),
    _row("holding registers 2846-2868 + 160(n-1): loop PID sets 3-5 (proportional bands, integral, derivative)",
         f"{_G} p. 231", "holding register 2846", "PID tuning is not modelled (the chamber has its own "
         "rate-limited response): exception 2", status="unsupported"),
    _row("holding registers 4010-4200 + 200(n-1): cascade loop parameters", f"{_G} cascade loop parameters; {_CCL}",
         "holding register 4010", "no cascade (product temperature) loop: exception 2", status="unsupported"),
)
