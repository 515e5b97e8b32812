"""The Hioki BT4560's command set as the simulator answers it, after the Hioki "BT4560 Communication
Command Instruction Manual" (BT4560A987-00, November 2014: ch. 1 message format, status byte and
event registers; ch. 2 command reference). The BT4560 has no SCPI error queue: a command error sets
the standard event status register's CME bit (32), an execution error its EXE bit (16), read by
``*ESR?``; a query in error gets no reply.
"""

from __future__ import annotations

from sim_instruments.wire.manual_commands import ManualCommand, Status

_M = "Hioki BT4560A987 ch. 2"


def _row(header: str, section: str, example: str, note: str = "", status: Status = "implemented") -> ManualCommand:
    return ManualCommand(header, section, status, example, note)


MANUAL_COMMANDS: tuple[ManualCommand, ...] = (
    _row("*IDN?", f"{_M} standard commands", "*IDN?", "HIOKI,BT4560,<serial>,<version>"),
    _row("*RST", f"{_M} standard commands; ch. 1 initialization items", "*RST",
         "1 kHz, auto-range, RV, MED, free-run, header off"),
    _row("*CLS", f"{_M} standard commands", "*CLS"),
    _row("*ESR?", f"{_M} standard commands; ch. 1 event registers", "*ESR?", "CME 32, EXE 16; read clears"),
    _row("*TRG", f"{_M} standard commands", "*TRG", "one measurement with TRIG:SOUR EXT"),
    _row("*OPC?", f"{_M} standard commands", "*OPC?"),
    _row(":SYSTem:HEADer {ON|OFF}", f"{_M} system", ":SYST:HEAD ON", "replies prefixed with the short header"),
    _row(":FUNCtion {RV|ZV|R|Z|V}", f"{_M} measurement function", ":FUNC RV"),
    _row(":FREQuency <0.1..1050>", f"{_M} measurement frequency", ":FREQ 10", "kept to 3 significant figures"),
    _row(":FREQuency?", f"{_M} measurement frequency", ":FREQ?"),
    _row(":RESistance:RANGe {3E-3|10E-3|100E-3}", f"{_M} range", ":RES:RANG 1E-02", "turns auto-range off"),
    _row(":RESistance:RANGe?", f"{_M} range", ":RES:RANG?"),
    _row(":AUTorange {ON|OFF}", f"{_M} range", ":AUT ON"),
    _row(":SAMPle:RATE {Z|V},{FAST|MED|SLOW}", f"{_M} sampling", ":SAMP:RATE Z,SLOW"),
    _row(":SAMPle:RATE? {Z|V}", f"{_M} sampling", ":SAMP:RATE? Z"),
    _row(":SAMPle:DELay:MODE {WAVE|TIME}", f"{_M} sampling", ":SAMP:DEL:MODE WAVE"),
    _row(":SAMPle:DELay:WAVE <waves>", f"{_M} sampling", ":SAMP:DEL:WAVE 1"),
    _row(":TRIGger:SOURce {IMM|EXT}", f"{_M} trigger", ":TRIG:SOUR IMM"),
    _row(":INITiate:CONTinuous {ON|OFF}", f"{_M} trigger", ":INIT:CONT ON"),
    _row(":FETCh?", f"{_M} measured values", ":FETC?", "R,X,V in NR3; +9.9999E+37 over range"),
    _row("*SRE / *STB? / *ESE / *WAI / *TST?", f"{_M} standard commands; ch. 1 status byte", "*STB?",
         "status byte and service requests are not simulated: CME bit", status="unsupported"),
)
