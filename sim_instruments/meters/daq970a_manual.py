"""The DAQ970A's command set as the simulator answers it, after the Keysight DAQ970A/DAQ973A
Programming Guide (cited "PG p. N") and, where the guide's excerpts leave a fact open, the 34970A
User's Guide chapter 5 (cited "34970A UG p. N"; the DAQ970A keeps its scan model and tree).
"""

from __future__ import annotations

from sim_instruments.wire.manual_commands import ManualCommand, Status

_PG = "Keysight DAQ970A/DAQ973A Programming Guide"
_UG = "34970A User's Guide ch. 5"


def _row(header: str, section: str, example: str, note: str = "", status: Status = "implemented") -> ManualCommand:
    return ManualCommand(header, section, status, example, note)


MANUAL_COMMANDS: tuple[ManualCommand, ...] = (
    # -- common and system ---------------------------------------------------------------------
    _row("*IDN?", f"{_PG} p. 149", "*IDN?"),
    _row("*RST", f"{_PG} p. 109, 139 (memory cleared, channel numbers off)", "*RST"),
    _row("*CLS", f"{_PG} IEEE 488.2 common commands", "*CLS"),
    _row("*TRG", f"{_PG} p. 342 (BUS source, only while waiting for a trigger; else -211)", "*TRG"),
    _row("SYSTem:ERRor?", f"{_PG} SYSTem subsystem", "SYST:ERR?"),
    _row("*ESR? / *ESE / *SRE / *STB?", f"{_PG} IEEE 488.2 common commands; STATus subsystem", "*ESR?",
         "CME/EXE/DDE/QYE bits from the error numbers; EAV, ESB, MSS in the status byte"),
    _row("*OPC / *OPC? / *WAI", f"{_PG} IEEE 488.2 common commands", "*OPC?",
         "every operation is complete when its reply is sent"),
    _row("STATus:PRESet", f"{_PG} STATus subsystem", "STAT:PRES"),
    # -- measurement configuration ---------------------------------------------------------------
    _row("CONFigure:TEMPerature {TC|DEF},{<type>|DEF}[,1[,<res>]],(@<scan_list>)",
         f"{_PG} CONFigure subsystem; {_UG} p. 200 (DEF type = J)", "CONF:TEMP TC,K,(@101,102)",
         "only TC probes: the channels are wired to thermocouples (-224 for RTD/thermistor)"),
    _row("CONFigure:VOLTage[:DC] [{<range>|AUTO|DEF}[,<res>]],(@<scan_list>)", f"{_PG} CONFigure subsystem",
         "CONF:VOLT:DC AUTO,(@101)", "reads the thermocouple's EMF against the terminal block, V (autorange)"),
    _row("MEASure:TEMPerature? ...,(@<scan_list>)", f"{_PG} MEASure subsystem", "MEAS:TEMP? TC,K,(@101)"),
    _row("MEASure:VOLTage[:DC]? ...,(@<scan_list>)", f"{_PG} MEASure subsystem", "MEAS:VOLT:DC? AUTO,(@101)"),
    _row("MEASure?", f"{_PG} MEASure subsystem (no bare MEASure? is listed)", "MEAS?",
         "-113: the guide has only MEASure:<function>?", status="unsupported"),
    _row("[SENSe:]FUNCtion \"<function>\",(@<ch_list>)", f"{_PG} SENSe subsystem", 'FUNC "TEMP",(@101)',
         "TEMP and VOLT[:DC] only (thermocouple wiring); -224 otherwise"),
    _row("[SENSe:]FUNCtion? (@<ch_list>)", f"{_PG} SENSe subsystem", "FUNC? (@101,102)",
         'quoted, one per channel: "TEMP","TEMP"'),
    _row("[SENSe:]TEMPerature:NPLC {<PLCs>|MIN|MAX},(@<ch_list>)", f"{_PG} SENSe subsystem; {_UG} p. 216",
         "TEMP:NPLC 10,(@101)", "0.02..200 PLC; a value between two steps takes the next larger"),
    _row("[SENSe:]TEMPerature:NPLC? (@<ch_list>)", f"{_PG} SENSe subsystem", "TEMP:NPLC? (@101)"),
    _row("[SENSe:]VOLTage[:DC]:NPLC {<PLCs>|MIN|MAX},(@<ch_list>)", f"{_PG} SENSe subsystem",
         "VOLT:DC:NPLC 1.0,(@101)"),
    _row("[SENSe:]TEMPerature:TRANsducer:TCouple:TYPE {B|E|J|K|N|R|S|T},(@<ch_list>)",
         f"{_PG} SENSe subsystem", "TEMP:TRAN:TC:TYPE K,(@101)",
         "stored and read back; readings use the type-K function (the wired thermocouples are type K)"),
    _row("[SENSe:]TEMPerature:TRANsducer:TCouple:TYPE? (@<ch_list>)", f"{_PG} SENSe subsystem",
         "TEMP:TRAN:TC:TYPE? (@101)"),
    _row("[SENSe:]TEMPerature:TRANsducer:TCouple:RJUNction:TYPE {INTernal|EXTernal|FIXed},(@<ch_list>)",
         f"{_PG} SENSe subsystem", "TEMP:TRAN:TC:RJUN:TYPE FIX,(@101)",
         "INT: terminal block at lab temperature; FIX: the programmed value (a wrong one reads wrong); "
         "EXT: no reference channel wired, +9.9E+37"),
    _row("[SENSe:]TEMPerature:TRANsducer:TCouple:RJUNction:TYPE? (@<ch_list>)", f"{_PG} SENSe subsystem",
         "TEMP:TRAN:TC:RJUN:TYPE? (@101)"),
    _row("[SENSe:]TEMPerature:TRANsducer:TCouple:RJUNction {<temp>|MIN|MAX},(@<ch_list>)",
         f"{_PG} SENSe subsystem", "TEMP:TRAN:TC:RJUN 30,(@101)", "-20..+80 °C, always °C"),
    _row("[SENSe:]TEMPerature:TRANsducer:TCouple:RJUNction? (@<ch_list>)", f"{_PG} SENSe subsystem",
         "TEMP:TRAN:TC:RJUN? (@101)"),
    _row("[SENSe:]TEMPerature:TRANsducer:TCouple:CHECk {OFF|ON},(@<ch_list>)", f"{_PG} SENSe subsystem",
         "TEMP:TRAN:TC:CHEC ON,(@101)", "open-T/C detection: an open thermocouple reads +9.9E+37 either way"),
    _row("UNIT:TEMPerature {C|F|K}", f"{_PG} UNIT subsystem", "UNIT:TEMP K"),
    _row("UNIT:TEMPerature?", f"{_PG} UNIT subsystem", "UNIT:TEMP?"),
    # -- scanning and triggering -------------------------------------------------------------------
    _row("ROUTe:SCAN (@<scan_list>)", f"{_PG} p. 214", "ROUT:SCAN (@101,105)"),
    _row("ROUTe:SCAN?", f"{_PG} p. 214", "ROUT:SCAN?"),
    _row("ROUTe:SCAN:SIZE?", f"{_PG} p. 215", "ROUT:SCAN:SIZE?"),
    _row("ROUTe:CLOSe / ROUTe:OPEN (@<ch_list>)", f"{_PG} ROUTe subsystem", "ROUT:CLOS (@103)",
         "relay state only (a scan opens the relays it does not use; no signal path is simulated)"),
    _row("ROUTe:CLOSe? / ROUTe:OPEN? (@<ch_list>)", f"{_PG} ROUTe subsystem", "ROUT:CLOS? (@103,104)"),
    _row("ROUTe:CHANnel:DELay <seconds>,(@<ch_list>)", f"{_UG} p. 229", "ROUT:CHAN:DEL 0.5,(@101)",
         "0..60 s, 1 ms steps; automatic (0.002 s, 34970A UG p. 89) until set"),
    _row("ROUTe:CHANnel:DELay? (@<ch_list>)", f"{_UG} p. 229", "ROUT:CHAN:DEL? (@101,102)"),
    _row("TRIGger:SOURce {IMMediate|EXTernal|INTernal|BUS|TIMer|ALARm<n>}", f"{_PG} p. 342", "TRIG:SOUR TIM",
         "EXT, INT and ALARm are accepted; no such signal reaches the simulator, so they never trigger"),
    _row("TRIGger:SOURce?", f"{_PG} p. 342", "TRIG:SOUR?"),
    _row("TRIGger:COUNt {<count>|MIN|MAX|INFinity}", f"{_PG} p. 341; {_UG} p. 229", "TRIG:COUN 3",
         "1..100,000 sweeps or INF"),
    _row("TRIGger:COUNt?", f"{_PG} p. 341; {_UG} p. 229", "TRIG:COUN?", "INF reads +9.90000000E+37"),
    _row("TRIGger:TIMer {<seconds>|MIN|MAX}", f"{_PG} p. 343; {_UG} p. 229", "TRIG:TIM 5",
         "0..359,999 s, 1 ms; 10 s after *RST (34970A factory reset state)"),
    _row("TRIGger:TIMer?", f"{_PG} p. 343", "TRIG:TIM?"),
    _row("INITiate[:IMMediate]", f"{_PG} p. 215; {_UG} p. 204", "INIT", "clears reading memory; -221 with an empty scan list"),
    _row("ABORt", f"{_PG} p. 215", "ABOR", "stops the scan; readings stay in memory"),
    _row("FETCh?", f"{_UG} p. 204", "FETC?", "all readings in memory, not erased; -230 when memory is empty"),
    _row("READ?", f"{_UG} p. 204; {_PG} p. 342 (BUS source: trigger deadlock -214)", "READ?",
         "INIT + FETCh? without storing; takes no parameter: READ? (@101) gets -108 and no reading"),
    _row("DATA:POINts? [(@<ch_list>)]", f"{_PG} p. 109", "DATA:POIN?"),
    _row("DATA:REMove? <num_rdgs>[,WAIT]", f"{_PG} p. 110", "DATA:REM? 2",
         "fewer readings stored than asked: -222 (WAIT cannot block here)"),
    _row("R? [<max_rdgs>]", f"{_PG} p. 29", "R? 2", "definite-length block; #10 when memory is empty"),
    _row("FORMat:READing:CHANnel {OFF|ON}", f"{_PG} p. 139", "FORM:READ:CHAN ON",
         "each reading followed by its channel number; CONFigure and MEASure? turn it off"),
    _row("FORMat:READing:CHANnel?", f"{_PG} p. 139", "FORM:READ:CHAN?"),
    _row("FORMat:READing:TIME {OFF|ON}", f"{_PG} p. 139-141", "FORM:READ:TIME ON",
         "-113: time stamps are not formatted here", status="unsupported"),
    _row("FORMat:READing:UNIT {OFF|ON}", f"{_PG} p. 139-141", "FORM:READ:UNIT ON",
         "-113: units are not formatted here", status="unsupported"),
    _row("FORMat:READing:ALARm {OFF|ON}", f"{_PG} p. 139-141", "FORM:READ:ALAR ON",
         "-113: no alarm limits here", status="unsupported"),
)
