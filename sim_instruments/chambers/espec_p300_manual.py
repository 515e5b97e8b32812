"""The Espec P-300 / SCP-220 command set as the simulator answers it.

Sources: the Espec communication manual for the P-300 / SCP-220 instrumentation, ch. 3 command list
and ch. 2 "Response" (NA reasons, with the manual's own example "TENMP?" -> NA:CMD ERR). The manual
itself is not public; the command list and NA reasons are taken from a transcription of its tables
(irt calibration tools, ``SCP_220_Command`` / ``SCP_220_Error``) and the reply fields from how
Espec's own ChamberConnectLibrary (``p300.py``, ``read_*`` methods) parses each reply. Facts only.
"""

from __future__ import annotations

from sim_instruments.wire.manual_commands import ManualCommand, Status

_M = "Espec P-300/SCP-220 comm. manual ch. 3"
_CCL = "fields as ChamberConnectLibrary p300.py parses them"


def _row(header: str, section: str, example: str, note: str = "", status: Status = "implemented") -> ManualCommand:
    return ManualCommand(header, section, status, example, note)


MANUAL_COMMANDS: tuple[ManualCommand, ...] = (
    _row("TYPE?", f"{_M} TYPE; {_CCL} (read_type)", "TYPE?",
         "temperature-only chamber: three fields <sensor>,<controller>,<max °C> (a humidity chamber "
         "has four: dry bulb, wet bulb, controller, max)"),
    _row("ROM?", f"{_M} ROM", "ROM?"),
    _row("TEMP?", f"{_M} TEMP; {_CCL} (read_temp)", "TEMP?", "measured,set point,high alarm,low alarm"),
    _row("TEMP, S<sp> H<high> L<low>", f"{_M} TEMP (any combination of S, H, L)", "TEMP, S25.0 H100.0 L-45.0",
         "set point beyond the (new) alarm limits: NA:DATA OUT OF RANGE"),
    _row("TEMP, S<sp>", f"{_M} TEMP", "TEMP, S-20.0"),
    _row("HUMI? / HUMI, ...", f"{_M} ch. 2 NA:CONT NOT READY-1", "HUMI?",
         "no humidity system here: NA:CONT NOT READY-1 as the manual gives for such a chamber"),
    _row("MODE?", f"{_M} MODE; {_CCL} (read_mode)", "MODE?"),
    _row("MODE?,DETAIL", f"{_M} MODE (detail adds program states)", "MODE?,DETAIL"),
    _row("MODE, {OFF|STANDBY|CONSTANT}", f"{_M} MODE", "MODE, CONSTANT",
         "MODE, RUN<n> (programs) is not simulated: NA:PARA ERR"),
    _row("MON?[,DETAIL]", f"{_M} MON; {_CCL} (read_mon)", "MON?", "temperature,humidity (empty),mode,alarm count"),
    _row("ALARM?", f"{_M} ALARM; {_CCL} (read_alarm)", "ALARM?", "count[,codes]"),
    _row("KEYPROTECT?", f"{_M} KEYPROTECT; {_CCL} (read_keyprotect)", "KEYPROTECT?"),
    _row("KEYPROTECT, {ON|OFF}", f"{_M} KEYPROTECT; ch. 2 NA:CONT NOT READY-4 (power OFF)", "KEYPROTECT, ON"),
    _row("DATE?", f"{_M} DATE; {_CCL} (read_date)", "DATE?", "yy.mm/dd. DOW"),
    _row("DATE, yy.mm/dd. DOW", f"{_M} DATE", "DATE, 26.03/02. MON"),
    _row("TIME?", f"{_M} TIME; {_CCL} (read_time)", "TIME?", "hh:mm:ss"),
    _row("TIME, hh:mm:ss", f"{_M} TIME", "TIME, 08:30:00"),
    _row("%?", f"{_M} % (heater output); {_CCL} (read_htr)", "%?", "1,<dry-bulb heater %> (one heater)"),
    _row("CONSTANT SET?,TEMP", f"{_M} CONSTANT SET; {_CCL} (read_constant_temp)", "CONSTANT SET?,TEMP",
         "<set point>,ON"),
    _row("POWER, {ON|OFF}", f"{_M} POWER (ON starts the constant mode)", "POWER, ON"),
    _row("SRQ? / MASK? / SRQ, RESET / MASK, ...", f"{_M} SRQ, MASK", "SRQ?",
         "GPIB service requests are not simulated: NA:CMD ERR", status="unsupported"),
    _row("TIMER ON? / TIMER USE? / TIMER LIST? / TIMER, ...", f"{_M} TIMER", "TIMER USE?",
         "timers are not simulated: NA:CMD ERR", status="unsupported"),
    _row("PRGM ... / RUN PRGM ... / PRGM DATA ...", f"{_M} PRGM, RUN PRGM", "PRGM MON?",
         "programs are not simulated: NA:CMD ERR", status="unsupported"),
    _row("SET? / REF? / RELAY? / SET, ... / RELAY, ...", f"{_M} SET, REF, RELAY", "REF?",
         "refrigeration capacity and time-signal relays are not simulated: NA:CMD ERR", status="unsupported"),
)
