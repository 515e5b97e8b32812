"""The Keithley 2460's SCPI command set as its reference manual states it, subsystem by subsystem,
and what the simulator (:mod:`sim_instruments.cyclers.keithley2460`) does with each command.

Manual: Keithley Model 2460 Reference Manual, 2460-901-01, section 6 "SCPI command reference"
(the 2450, 2450-901-01, and 2461 share the tree); section 5 "Common commands" for the IEEE 488.2
ones. ``example`` is a line a test sends (tests/sim_instruments/test_keithley2460_manual.py);
unsupported rows are answered -113 "Undefined header" and listed in docs/simulators.md.
"""

from __future__ import annotations

from sim_instruments.wire.manual_commands import ManualCommand

S6 = "2460-901-01 section 6"
COMMON = "2460-901-01 section 5 (common commands)"


def _i(header: str, section: str, example: str, note: str = "") -> ManualCommand:
    return ManualCommand(header, section, "implemented", example, note)


def _u(header: str, section: str, example: str, note: str) -> ManualCommand:
    return ManualCommand(header, section, "unsupported", example, note)


MANUAL_COMMANDS: tuple[ManualCommand, ...] = (
    # -- IEEE 488.2 common commands --------------------------------------------------------------
    _i("*IDN?", COMMON, "*IDN?"),
    _i("*RST", COMMON, "*RST", "settings to their *RST values, buffers emptied, sweep model unloaded"),
    _i("*CLS", COMMON, "*CLS"),
    _i("*ESE <mask> / *ESE?", COMMON, "*ESE 32"),
    _i("*ESR?", COMMON, "*ESR?"),
    _i("*SRE <mask> / *SRE?", COMMON, "*SRE 4"),
    _i("*STB?", COMMON, "*STB?"),
    _i("*OPC / *OPC?", COMMON, "*OPC?", "every operation completes before the reply"),
    _i("*WAI", COMMON, "*WAI"),
    _i("*TRG", COMMON, "*TRG", "no trigger model waits for a bus trigger"),
    _i("*LANG <SCPI|TSP|SCPI2400> / *LANG?", COMMON, "*LANG?", "answers SCPI; a change waits for a power cycle"),
    _u("*SAV / *RCL", COMMON, "*SAV 1", "saved setups are not simulated"),
    # -- :SOURce ---------------------------------------------------------------------------------
    _i(":SOURce[1]:FUNCtion[:MODE] <CURRent|VOLTage>", f"{S6} :SOURce", ":SOUR:FUNC CURR"),
    _i(":SOURce[1]:CURRent[:LEVel][:IMMediate][:AMPLitude]", f"{S6} :SOURce", ":SOUR:CURR 0.5", "-7.35..7.35 A"),
    _i(":SOURce[1]:VOLTage[:LEVel][:IMMediate][:AMPLitude]", f"{S6} :SOURce", ":SOUR:VOLT 3.9", "-105..105 V"),
    _i(":SOURce[1]:CURRent:VLIMit[:LEVel]", f"{S6} :SOURce", ":SOUR:CURR:VLIM 4.2", "0.02..105 V, *RST 21 V"),
    _i(":SOURce[1]:CURRent:VLIMit[:LEVel]:TRIPped?", f"{S6} :SOURce", ":SOUR:CURR:VLIM:TRIP?"),
    _i(":SOURce[1]:VOLTage:ILIMit[:LEVel]", f"{S6} :SOURce", ":SOUR:VOLT:ILIM 1"),
    _i(":SOURce[1]:VOLTage:ILIMit[:LEVel]:TRIPped?", f"{S6} :SOURce", ":SOUR:VOLT:ILIM:TRIP?"),
    _i(":SOURce[1]:VOLTage:PROTection[:LEVel] <PROT2..PROT100|NONE>", f"{S6} :SOURce", ":SOUR:VOLT:PROT PROT5"),
    _i(":SOURce[1]:VOLTage:PROTection:TRIPped?", f"{S6} :SOURce", ":SOUR:VOLT:PROT:TRIP?"),
    _i(":SOURce[1]:<function>:READ:BACK", f"{S6} :SOURce", ":SOUR:CURR:READ:BACK ON"),
    _i(":SOURce[1]:<function>:RANGe / :RANGe:AUTO", f"{S6} :SOURce", ":SOUR:CURR:RANG 1"),
    _i(":SOURce[1]:<function>:DELay / :DELay:AUTO", f"{S6} :SOURce", ":SOUR:CURR:DEL 0.01"),
    _i(":SOURce[1]:<function>:DELay:USER<n>", f"{S6} :SOURce", ":SOUR:CURR:DEL:USER1 0.5", "n 1..5, 0..10 000 s"),
    _i(":SOURce[1]:SWEep:<function>:LINear", f"{S6} :SOURce", ":SOUR:SWE:CURR:LIN 0, 1, 5",
       "readings at one instant of the virtual clock; delay checked, not waited"),
    _u(":SOURce[1]:SWEep:<function>:LOG / :LINear:STEP / :LIST", f"{S6} :SOURce", ":SOUR:SWE:CURR:LOG 0.001, 1, 5",
       "logarithmic, step and list sweeps are not simulated"),
    _u(":SOURce[1]:LIST:<function>[:VALues]", f"{S6} :SOURce", ":SOUR:LIST:CURR 0.1, 0.2",
       "source configuration lists are not simulated"),
    # -- :SENSe ----------------------------------------------------------------------------------
    _i(":SENSe[1]:FUNCtion[:ON]", f"{S6} :SENSe", ':SENS:FUNC "VOLT"'),
    _i(":SENSe[1]:<function>:NPLCycles", f"{S6} :SENSe", ":SENS:VOLT:NPLC 0.1", "0.01..10 PLC"),
    _i(":SENSe[1]:<function>:RANGe[:UPPer] / :RANGe:AUTO", f"{S6} :SENSe", ":SENS:VOLT:RANG 5"),
    _i(":SENSe[1]:<function>:AVERage[:STATe] / :COUNt / :TCONtrol", f"{S6} :SENSe", ":SENS:VOLT:AVER:COUN 5"),
    _i(":SENSe[1]:<function>:RSENse", f"{S6} :SENSe", ":SENS:VOLT:RSEN ON"),
    _i(":SENSe[1]:<function>:AZERo[:STATe]", f"{S6} :SENSe", ":SENS:VOLT:AZER OFF", "*RST ON"),
    _i(":SENSe[1]:AZERo:ONCE", f"{S6} :SENSe", ":SENS:AZER:ONCE", "readings carry no drift to refresh"),
    _i(":SENSe[1]:<function>:DELay:USER<n>", f"{S6} :SENSe", ":SENS:VOLT:DEL:USER2 0.25", "n 1..5, 0..10 000 s"),
    _i(":SENSe[1]:COUNt", f"{S6} :SENSe", ":SENS:COUN 3", "readings per :INITiate of the default trigger model"),
    _u(":SENSe[1]:<function>:UNIT / :OCOMpensated / :RELative", f"{S6} :SENSe", ":SENS:VOLT:REL:STAT ON",
       "units, offset compensation and relative offsets are not simulated"),
    # -- :OUTPut ---------------------------------------------------------------------------------
    _i(":OUTPut[1][:STATe]", f"{S6} :OUTPut", ":OUTP ON"),
    _i(":OUTPut[1][:<function>]:SMODe", f"{S6} :OUTPut (p. 6-31)", ":OUTP:CURR:SMOD HIMP"),
    _u(":OUTPut[1]:INTerlock:STATe?", f"{S6} :OUTPut", ":OUTP:INT:STAT?", "the interlock is not simulated"),
    # -- measurements ----------------------------------------------------------------------------
    _i(':READ? ["<buffer>"[, <elements>]]', f"{S6} :READ", ':READ? "defbuffer1", READ, SOUR'),
    _i(':MEASure[:<function>]? ["<buffer>"[, <elements>]]', f"{S6} :MEASure", ':MEAS? "defbuffer1"'),
    _i(':FETCh? ["<buffer>"[, <elements>]]', f"{S6} :FETCh", ':FETC? "defbuffer1"', "READ element only"),
    _i(":INITiate[:IMMediate]", f"{S6} :INITiate", ":INIT"),
    _i(":ABORt", f"{S6} :ABORt", ":ABOR", "nothing runs in the background to abort"),
    # -- :TRACe ----------------------------------------------------------------------------------
    _i(':TRACe:POINts <size>[, "<buffer>"]', f"{S6} :TRACe", ':TRAC:POIN 50, "defbuffer2"'),
    _i(':TRACe:ACTual? ["<buffer>"]', f"{S6} :TRACe", ':TRAC:ACT? "defbuffer1"'),
    _i(':TRACe:CLEar ["<buffer>"]', f"{S6} :TRACe", ':TRAC:CLE "defbuffer1"'),
    _i(':TRACe:DATA? <start>, <end>[, "<buffer>"[, <elements>]]', f"{S6} :TRACe", ':TRAC:DATA? 1, 3, "defbuffer1"',
       "READ element only"),
    _i(":TRACe:STATistics:AVERage|MAXimum|MINimum|PK2Pk|STDDev?", f"{S6} :TRACe", ':TRAC:STAT:AVER? "defbuffer1"'),
    _i(':TRACe:MAKE "<name>", <size>[, <style>]', f"{S6} :TRACe", ':TRAC:MAKE "mybuf", 100'),
    _i(':TRACe:DELete "<name>"', f"{S6} :TRACe", ':TRAC:DEL "mybuf"'),
    _i(':TRACe:TRIGger ["<buffer>"]', f"{S6} :TRACe", ':TRAC:TRIG "defbuffer1"'),
    _u(":TRACe:SAVE / :TRACe:WRITe:FORMat / :TRACe:FILL:MODE", f"{S6} :TRACe", ':TRAC:SAVE "/usb1/a.csv"',
       "USB files and writable buffers are not simulated"),
    # -- :SYSTem, :STATus, :ROUTe, :FORMat -------------------------------------------------------
    _i(":SYSTem:ERRor[:NEXT]? / :SYSTem:ERRor:COUNt?", f"{S6} :SYSTem", ":SYST:ERR:COUN?"),
    _i(":SYSTem:BEEPer[:IMMediate] <Hz>, <s>", f"{S6} :SYSTem", ":SYST:BEEP 440, 0.1"),
    _i(":SYSTem:LFRequency?", f"{S6} :SYSTem", ":SYST:LFR?", "60 Hz mains"),
    _i(":SYSTem:CLEar", f"{S6} :SYSTem", ":SYST:CLE", "clears the event log (the error queue)"),
    _i(":STATus:PRESet", f"{S6} :STATus", ":STAT:PRES"),
    _i(":STATus:CLEar", f"{S6} :STATus", ":STAT:CLE"),
    _i(":ROUTe:TERMinals FRONt|REAR", f"{S6} :ROUTe", ":ROUT:TERM REAR"),
    _i(":FORMat[:DATA] ASCii", f"{S6} :FORMat", ":FORM:DATA ASC", "REAL/SREal answer -224"),
    _u(":TRIGger:... (trigger model blocks, :TRIGger:LOAD)", f"{S6} :TRIGger", ':TRIG:LOAD "Empty"',
       "only the default model and linear sweeps are simulated"),
    _u(":DIGital:LINE<n>:...", f"{S6} :DIGital", ":DIG:LINE1:MODE DIG, OUT", "digital I/O is not simulated"),
    _u(":CALCulate[1]:<function>:MATH / :LIMit<Y>", f"{S6} :CALCulate", ":CALC:VOLT:MATH:STAT ON",
       "math and limit tests are not simulated"),
    _u(":DISPlay:...", f"{S6} :DISPlay", ":DISP:LIGH:STAT ON100", "the front panel is not simulated"),
    _u(":SCRipt:RUN", f"{S6} :SCRipt", ':SCR:RUN "setup"', "scripts are not simulated"),
)
