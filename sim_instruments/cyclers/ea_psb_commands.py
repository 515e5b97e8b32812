"""The EA PSB 10000's SCPI command set as EA's programming guide states it, subsystem by subsystem,
and what the simulator (:mod:`sim_instruments.cyclers.ea_psb`) does with each.

Manual: EA Elektro-Automatik "Programming Guide ModBus & SCPI" for the 10000 series, section
"SCPI commands" (SOURce / SINK set values, protections, adjustment limits, OUTPut, MEASure,
SYSTem, STATus), and the PSB 10000 user manual, sections 3.3 (operating modes) and 3.5.3
(interface monitoring). Settings need remote control (``SYSTem:LOCK ON``), else -203 "Command
protected". ``example`` is a line a test sends (tests/sim_instruments/test_ea_psb_manual.py);
unsupported rows answer -113 and are listed in docs/simulators.md.
"""

from __future__ import annotations

from sim_instruments.wire.manual_commands import ManualCommand

GUIDE = "EA Programming Guide ModBus & SCPI (10000 series), SCPI commands"


def _i(header: str, subsystem: str, example: str, note: str = "") -> ManualCommand:
    return ManualCommand(header, f"{GUIDE}: {subsystem}", "implemented", example, note)


def _u(header: str, subsystem: str, example: str, note: str) -> ManualCommand:
    return ManualCommand(header, f"{GUIDE}: {subsystem}", "unsupported", example, note)


MANUAL_COMMANDS: tuple[ManualCommand, ...] = (
    # -- common ------------------------------------------------------------------------------------
    _i("*IDN?", "common commands", "*IDN?"),
    _i("*RST", "common commands", "*RST", "output off, set values 0, protections and limits to nominal"),
    _i("*CLS", "common commands", "*CLS", "also clears latched alarms"),
    _i("*OPC?", "common commands", "*OPC?"),
    # -- SYSTem ------------------------------------------------------------------------------------
    _i("SYSTem:LOCK[:STATe] ON|OFF", "SYSTem", "SYST:LOCK ON", "remote control; settings are refused without it"),
    _i("SYSTem:LOCK:OWNer?", "SYSTem", "SYST:LOCK:OWN?", "REMOTE, LOCAL or NONE"),
    _i("SYSTem:ERRor? / SYSTem:ERRor:ALL?", "SYSTem", "SYST:ERR:ALL?"),
    _i("SYSTem:NOMinal:VOLTage|CURRent|POWer?", "SYSTem", "SYST:NOM:VOLT?"),
    _i("SYSTem:CONFig:MODE UIP|UIR", "SYSTem", "SYST:CONF:MODE UIP", "UIR (resistance) is accepted, regulated as UIP"),
    _i("SYSTem:COMMunicate:MONitor:ACTive ON|OFF", "SYSTem", "SYST:COMM:MON:ACT ON", "interface monitoring"),
    _i("SYSTem:COMMunicate:MONitor:TIMe <s>", "SYSTem", "SYST:COMM:MON:TIME 5"),
    _i("POWer:STAGe:AFTer:REMote OFF|AUTO", "POWer", "POW:STAG:AFT:REM OFF"),
    _u("SYSTem:LOCK:... (front-panel lock) / SYSTem:CONFig:USER:TEXT", "SYSTem", "SYST:CONF:USER:TEXT 'cell'",
       "front panel settings are not simulated"),
    # -- SOURce / SINK set values -----------------------------------------------------------------
    _i("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]", "SOURce", "SOUR:VOLT 4.1", "0..102 % of nominal"),
    _i("[SOURce:]CURRent[:LEVel][:IMMediate][:AMPLitude]", "SOURce", "SOUR:CURR 10"),
    _i("[SOURce:]POWer[:LEVel][:IMMediate][:AMPLitude]", "SOURce", "SOUR:POW 1000"),
    _i("SINK:CURRent[:LEVel][:IMMediate][:AMPLitude]", "SINK", "SINK:CURR 5"),
    _i("SINK:POWer[:LEVel][:IMMediate][:AMPLitude]", "SINK", "SINK:POW 500"),
    _u("[SOURce:]RESistance / SINK:RESistance", "SOURce", "SOUR:RES 1", "the UIR resistance set value is not simulated"),
    # -- protections -------------------------------------------------------------------------------
    _i("[SOURce:]VOLTage:PROTection[:LEVel]", "SOURce", "SOUR:VOLT:PROT 4.3", "OVP, 0..110 % of nominal"),
    _i("[SOURce:]CURRent:PROTection[:LEVel]", "SOURce", "SOUR:CURR:PROT 20", "source OCP"),
    _i("[SOURce:]POWer:PROTection[:LEVel]", "SOURce", "SOUR:POW:PROT 1200", "source OPP"),
    _i("SINK:CURRent:PROTection[:LEVel]", "SINK", "SINK:CURR:PROT 20", "sink OCP"),
    _i("SINK:POWer:PROTection[:LEVel]", "SINK", "SINK:POW:PROT 1200", "sink OPP"),
    # -- adjustment limits -------------------------------------------------------------------------
    _i("[SOURce:]VOLTage:LIMit:LOW|HIGH", "SOURce", "SOUR:VOLT:LIM:HIGH 4.25",
       "set values outside are -222; a limit excluding the present set value -221"),
    _i("[SOURce:]CURRent:LIMit:LOW|HIGH", "SOURce", "SOUR:CURR:LIM:HIGH 20"),
    _i("SINK:CURRent:LIMit:LOW|HIGH", "SINK", "SINK:CURR:LIM:HIGH 20"),
    _i("[SOURce:]POWer:LIMit:HIGH / SINK:POWer:LIMit:HIGH", "SOURce, SINK", "SOUR:POW:LIM:HIGH 1400"),
    # -- OUTPut, MEASure, STATus -------------------------------------------------------------------
    _i("OUTPut[:STATe] ON|OFF", "OUTPut", "OUTP ON", "also acknowledges latched alarms"),
    _i("MEASure[:SCALar]:VOLTage[:DC]?", "MEASure", "MEAS:VOLT?"),
    _i("MEASure[:SCALar]:CURRent[:DC]?", "MEASure", "MEAS:CURR?", "+ = sourcing (charging)"),
    _i("MEASure[:SCALar]:POWer[:DC]?", "MEASure", "MEAS:POW?"),
    _i("MEASure[:SCALar]:ARRay?", "MEASure", "MEAS:ARR?", "voltage, current, power with units"),
    _i("STATus:QUEStionable:CONDition? / [:EVENt]?", "STATus", "STAT:QUES:COND?", "bits 0 OV, 1 OC, 2 OP, 3 OT, 13 PF"),
    _u("SYSTem:CONFig:OUTPut:RESTore / FUNCtion generator (FUNC:...)", "SYSTem, FUNCtion", "FUNC:GEN:SEL ARB",
       "the function generator is not simulated"),
    _u("[SOURce:]VOLTage:PROTection:... (UVD/OVD supervision) / SYSTem:CONFig:UVD", "SYSTem", "SYST:CONF:UVD 3",
       "the voltage and current supervision thresholds are not simulated"),
)
