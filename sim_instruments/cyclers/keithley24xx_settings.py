"""The Keithley 2460's SCPI settings that hold a value, declared once: header, kind, limits, *RST value.

Read from the Model 2460 Reference Manual (2460-901-01) section 6 "SCPI command reference" (the
2450, 2450-901-01, and 2461, 2461-901-01, share the tree), subsystems :SENSe (``<function>:NPLCycles``
0.01..10 PLC, ``<function>:RANGe[:UPPer]`` / ``:RANGe:AUTO``, ``<function>:AVERage[:STATe]`` /
``:COUNt`` 1..100 / ``:TCONtrol`` REPeat|MOVing, ``<function>:RSENse``, ``:COUNt``), :SOURce
(``<function>:RANGe`` / ``:RANGe:AUTO``, ``<function>:DELay`` / ``:DELay:AUTO``),
:ROUTe:TERMinals FRONt|REAR, :FORMat[:DATA]. Ranges after the 2460 datasheet and the 2461
reference manual's ``smu.measure.range`` (section 8, "any real number: the instrument selects the
closest fixed range that is large enough"): current 1 µA .. 7 A, voltage 0.2 V .. 100 V; each range
reaches 105 % of its name (7.35 A, 105 V). Reading a range gives its full-scale name.
Automatic zero ``:SENSe[1]:<function>:AZERo[:STATe]`` (*RST ON) and the trigger model's user
delays ``:SENSe[1]:<function>:DELay:USER<n>`` / ``:SOURce[1]:<function>:DELay:USER<n>`` (n = 1..5,
0..10 000 s, *RST 0) are held values too (2460-901-01 section 6, :SENSe and :SOURce subsystems).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sim_instruments.wire.scpi_frontend import ScpiError, parse_bool, parse_number

CURRENT_RANGES_A = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0, 4.0, 5.0, 7.0)
VOLTAGE_RANGES_V = (0.2, 2.0, 7.0, 10.0, 20.0, 100.0)
RESISTANCE_RANGES_OHM = (2.0, 20.0, 200.0, 2e3, 2e4, 2e5, 2e6, 2e7, 2e8)
OVERRANGE = 1.05
RANGES = {"CURR": CURRENT_RANGES_A, "VOLT": VOLTAGE_RANGES_V, "RES": RESISTANCE_RANGES_OHM}
#: The trigger model's user delays ``:DELay:USER<n>``: n = 1..5, 0..10 000 s.
USER_DELAYS = range(1, 6)
USER_DELAY_MAX_S = 10000.0
#: Manual-notation node of each function.
FUNCTION_NODES = {"CURR": "CURRent[:DC]", "VOLT": "VOLTage[:DC]", "RES": "RESistance"}
SOURCE_NODES = {"CURR": "CURRent", "VOLT": "VOLTage"}


@dataclass(frozen=True)
class Setting:
    """One settable value: ``header`` in manual notation (the query is ``header?``)."""

    header: str
    key: str
    kind: str  # "number" | "int" | "bool" | "word" | "range"
    rst: Any
    low: float = 0.0
    high: float = 0.0
    words: tuple[str, ...] = ()
    ranges: tuple[float, ...] = ()


def pick_range(ranges: tuple[float, ...], value: float) -> float:
    """The smallest range whose full scale (105 %) holds ``|value|``; -222 beyond the largest."""
    magnitude = abs(value)
    for full_scale in ranges:
        if magnitude <= full_scale * OVERRANGE:
            return full_scale
    raise ScpiError(-222, f"{value:g}")


def match_word(words: tuple[str, ...], text: str) -> str:
    """A word given short (``FRON``) or long (``FRONT``) -> its short form."""
    given = text.strip().strip("'\"").upper()
    for word in words:
        short = "".join(ch for ch in word if not ch.islower())
        if given in (short.upper(), word.upper()):
            return short.upper()
    raise ScpiError(-224, text)


def parse_setting(setting: Setting, args: str) -> Any:
    """The value ``args`` sets, checked as the manual allows."""
    kind = setting.kind
    if kind == "bool":
        return parse_bool(args)
    if kind == "word":
        return match_word(setting.words, args)
    if kind == "range":
        return pick_range(setting.ranges, parse_number(args, low=-setting.ranges[-1] * OVERRANGE,
                                                       high=setting.ranges[-1] * OVERRANGE))
    value = parse_number(args, low=setting.low, high=setting.high, default=setting.rst)
    return int(value) if kind == "int" else value


def format_setting(setting: Setting, value: Any) -> str:
    """Reply text of a setting's query (booleans 1/0, numbers ``+1.000000E+00``)."""
    if setting.kind == "bool":
        return "1" if value else "0"
    if setting.kind == "word":
        return str(value)
    if setting.kind == "int":
        return str(int(value))
    return f"{float(value):+.6E}"


def settings_table() -> tuple[Setting, ...]:
    """Every value-holding setting of the 2460 simulator."""
    table: list[Setting] = []
    for function, node in FUNCTION_NODES.items():
        sense = f":SENSe[1]:{node}"
        table += [
            Setting(f"{sense}:NPLCycles", f"sense.{function}.nplc", "number", 1.0, 0.01, 10.0),
            Setting(f"{sense}:RANGe[:UPPer]", f"sense.{function}.range", "range",
                    {"CURR": 1e-4, "VOLT": 0.2, "RES": 2e5}[function], ranges=RANGES[function]),
            Setting(f"{sense}:RANGe:AUTO", f"sense.{function}.auto", "bool", True),
            Setting(f"{sense}:AVERage[:STATe]", f"sense.{function}.average", "bool", False),
            Setting(f"{sense}:AVERage:COUNt", f"sense.{function}.average_count", "int", 10, 1, 100),
            Setting(f"{sense}:AVERage:TCONtrol", f"sense.{function}.average_type", "word", "REP",
                    words=("REPeat", "MOVing")),
            Setting(f"{sense}:RSENse", f"sense.{function}.rsense", "bool", False),
            Setting(f"{sense}:AZERo[:STATe]", f"sense.{function}.azero", "bool", True),
        ]
        table += [Setting(f"{sense}:DELay:USER{n}", f"sense.{function}.user_delay{n}", "number", 0.0, 0.0,
                          USER_DELAY_MAX_S) for n in USER_DELAYS]
    for function, node in SOURCE_NODES.items():
        source = f":SOURce[1]:{node}"
        table += [
            Setting(f"{source}:RANGe", f"source.{function}.range", "range",
                    {"CURR": 1e-6, "VOLT": 0.2}[function], ranges=RANGES[function]),
            Setting(f"{source}:RANGe:AUTO", f"source.{function}.auto", "bool", True),
            Setting(f"{source}:DELay", f"source.{function}.delay", "number", 0.0, 0.0, 10000.0),
            Setting(f"{source}:DELay:AUTO", f"source.{function}.delay_auto", "bool", True),
        ]
        table += [Setting(f"{source}:DELay:USER{n}", f"source.{function}.user_delay{n}", "number", 0.0, 0.0,
                          USER_DELAY_MAX_S) for n in USER_DELAYS]
    table += [
        Setting(":SENSe[1]:COUNt", "sense.count", "int", 1, 1, 300000),
        Setting(":ROUTe:TERMinals", "route.terminals", "word", "FRON", words=("FRONt", "REAR")),
        # ASCII only: the binary REAL / SREal formats are not simulated (-224 for them).
        Setting(":FORMat[:DATA]", "format", "word", "ASC", words=("ASCii",)),
    ]
    return tuple(table)
