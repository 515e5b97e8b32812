"""The N6700-series mainframe's SCPI command set for N6781A channels, as the Keysight N6700 Series
Programmer's Reference states it, subsystem by subsystem, and what the simulator
(:mod:`sim_instruments.cyclers.keysight_n6700`) does with each.

Manual: Keysight N6700 Series Programmer's Reference (SCPI command reference chapter; the
VOLTage:PROTection entries around p. 304 of the edition hosted at easymanua.ls/keysight/n6702c),
and the N6700 User's Guide, appendix D (error messages, p. 188) and appendix E (N678xA operating
quadrants). Rows whose note says "refused" are commands the manual excludes for the N6781A: the
simulator answers them -113 on an N6781A channel, as ``drivers.keysight_n6700.EXCLUDED_COMMANDS``
records for the driver. ``example`` is a line a test sends
(tests/sim_instruments/test_keysight_n6700_manual.py); unsupported rows answer -113 and are
listed in docs/simulators.md.
"""

from __future__ import annotations

from sim_instruments.wire.manual_commands import ManualCommand

REF = "N6700 Programmer's Reference"
P304 = f"{REF}, SOURce subsystem, VOLTage:PROTection (p. 304)"
EXCLUDED = "refused with -113 on an N6781A channel: the manual excludes it for this model"


def _i(header: str, section: str, example: str, note: str = "") -> ManualCommand:
    return ManualCommand(header, section, "implemented", example, note)


def _u(header: str, section: str, example: str, note: str) -> ManualCommand:
    return ManualCommand(header, section, "unsupported", example, note)


MANUAL_COMMANDS: tuple[ManualCommand, ...] = (
    # -- common and SYSTem ------------------------------------------------------------------------
    _i("*IDN?", f"{REF}, common commands", "*IDN?"),
    _i("*RST", f"{REF}, common commands", "*RST", "outputs off, voltage priority at 0 V, remote OVP at MAX"),
    _i("*CLS / *ESR? / *ESE / *SRE / *STB? / *OPC / *OPC? / *WAI", f"{REF}, common commands", "*STB?"),
    _u("*RDT?", f"{REF}, common commands", "*RDT?", "the resource description block is not simulated"),
    _u("*SAV / *RCL", f"{REF}, common commands", "*SAV 1", "saved states are not simulated"),
    _i("SYSTem:CHANnel[:COUNt]?", f"{REF}, SYSTem subsystem", "SYST:CHAN:COUN?"),
    _i("SYSTem:CHANnel:MODel? (@<chanlist>)", f"{REF}, SYSTem subsystem", "SYST:CHAN:MOD? (@1:2)"),
    _i("SYSTem:ERRor?", f"{REF}, SYSTem subsystem", "SYST:ERR?"),
    # -- SOURce -----------------------------------------------------------------------------------
    _i("[SOURce:]FUNCtion CURRent|VOLTage, (@<chanlist>)", f"{REF}, SOURce subsystem", "FUNC CURR,(@1)",
       "N678xA priority mode"),
    _i("[SOURce:]CURRent[:LEVel][:IMMediate][:AMPLitude] <value>|MIN|MAX, (@<chanlist>)",
       f"{REF}, SOURce subsystem", "CURR 1.5,(@1)", "-3.06..3.06 A; the query takes MIN|MAX"),
    _i("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]", f"{REF}, SOURce subsystem", "VOLT 4.1,(@1)", "0..20.4 V"),
    _i("[SOURce:]VOLTage:LIMit[:POSitive][:IMMediate][:AMPLitude]", f"{REF}, SOURce subsystem", "VOLT:LIM 4.2,(@1)",
       "current priority; 0..20.4 V"),
    _i("[SOURce:]CURRent:LIMit[:POSitive][:IMMediate][:AMPLitude]", f"{REF}, SOURce subsystem",
       "CURR:LIM? MAX,(@1)", "voltage priority; 0..3.06 A, the negative limit tracks it"),
    _i("[SOURce:]VOLTage:PROTection:REMote[:POSitive][:LEVel]", P304, "VOLT:PROT:REM 4.3,(@1)",
       "0..22 V, *RST MAX; trips the output off (Questionable OV bit)"),
    _i("[SOURce:]VOLTage:PROTection:REMote:NEGative[:LEVel]", P304, "VOLT:PROT:REM:NEG -1,(@1)",
       "-22..0 V, *RST MAX (0 V, the least negative); the cell never drives the output negative"),
    _i("[SOURce:]VOLTage:PROTection[:LEVel]", f"{REF}, SOURce subsystem", "VOLT:PROT 4.3,(@1)",
       f"{EXCLUDED} (\"does NOT apply to models N678xA SMU\")"),
    _i("[SOURce:]VOLTage:PROTection:TRACking[:STATe] / :OFFSet", P304, "VOLT:PROT:TRAC ON,(@1)",
       f"{EXCLUDED} (N6752A, N6754A, N6762A only)"),
    _u("[SOURce:]CURRent:PROTection:STATe / :DELay", f"{REF}, SOURce subsystem", "CURR:PROT:STAT ON,(@1)",
       "over-current protection is not simulated"),
    _u("[SOURce:]VOLTage:RANGe / CURRent:RANGe", f"{REF}, SOURce subsystem", "VOLT:RANG 6,(@1)",
       "output ranges are not simulated (one range, the full ratings)"),
    _u("[SOURce:]LIST:... / ARB:...", f"{REF}, LIST and ARB subsystems", "LIST:COUN 2,(@1)",
       "lists and arbitrary waveforms are not simulated"),
    # -- OUTPut -----------------------------------------------------------------------------------
    _i("OUTPut[:STATe] ON|OFF, (@<chanlist>)", f"{REF}, OUTPut subsystem", "OUTP ON,(@1)"),
    _i("OUTPut:PROTection:CLEar (@<chanlist>)", f"{REF}, OUTPut subsystem", "OUTP:PROT:CLE (@1)"),
    _i("OUTPut:PMODe CURRent|VOLTage, (@<chanlist>)", f"{REF}, OUTPut subsystem", "OUTP:PMOD VOLT,(@1)",
       f"{EXCLUDED} (N6761A, N6762A only)"),
    _u("OUTPut:DELay:RISE|FALL", f"{REF}, OUTPut subsystem", "OUTP:DEL:RISE 0.1,(@1)",
       "output sequencing delays are not simulated"),
    # -- MEASure, STATus --------------------------------------------------------------------------
    _i("MEASure[:SCALar]:VOLTage[:DC]? (@<chanlist>)", f"{REF}, MEASure subsystem", "MEAS:VOLT? (@1)"),
    _i("MEASure[:SCALar]:CURRent[:DC]? (@<chanlist>)", f"{REF}, MEASure subsystem", "MEAS:CURR? (@1)"),
    _i("MEASure[:SCALar]:POWer[:DC]? (@<chanlist>)", f"{REF}, MEASure subsystem", "MEAS:POW? (@1)",
       "voltage x current of the same instant"),
    _u("MEASure:ARRay:... / FETCh:... / SENSe:SWEep:... / INITiate / TRIGger", f"{REF}, MEASure, FETCh, SENSe",
       "MEAS:ARR:VOLT? (@1)", "the digitizer and triggered acquisition are not simulated"),
    _i("STATus:QUEStionable:CONDition? (@<chanlist>)", f"{REF}, STATus subsystem", "STAT:QUES:COND? (@1)",
       "bit 0 OV, 1 OC, 4 OT"),
    _u("SENSe:DLOG:... / FORMat:...", f"{REF}, SENSe and FORMat subsystems", "SENS:DLOG:TIME 10",
       "the data logger is not simulated"),
)
