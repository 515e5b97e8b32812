"""``--fault KIND@WHEN[,key=value...]`` specifications, e.g.
``internal_short@2h,resistance_ohm=0.05`` or ``comms_drop@30min,instrument=cycler,duration=20s``.

WHEN is a test time (``30min``, ``2h``, ``90`` = seconds) or, for the physical faults, a condition
on the simulated cell: ``soc>=90%`` (or ``soc>=0.9``), ``voltage_v<=3.0``, ``temperature_c>40``;
the fault starts at the first instant the condition holds.

Parsing lives here (bench-side, no simulator imports); the simulated bench applies them.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field

from protocols.quantities import QuantityError, parse_quantity

#: Faults of the simulated physics (the others act on the communication links).
PHYSICAL_FAULTS = ("internal_short", "thermocouple_open", "chamber_stuck", "chamber_cannot_cool")
_CONDITION = re.compile(r"^\s*(soc|voltage_v|temperature_c)\s*(>=|<=|>|<)\s*([-+]?[0-9.]+(?:[eE][-+]?\d+)?)\s*(%?)\s*$")
FAULT_KINDS = ("internal_short", "thermocouple_open", "chamber_stuck", "chamber_cannot_cool",
               "comms_drop", "comms_garbled", "comms_delay", "comms_disconnect")


#: Instruments a link fault can act on (``instrument=``).
LINK_INSTRUMENTS = ("cycler", "chamber", "thermometer", "impedance")
#: The options of each fault kind: name -> what its value is (``resistance``: ohm > 0,
#: ``time``: a duration > 0, ``channel``: an integer >= 0, ``instrument``: one of LINK_INSTRUMENTS).
_LINK_OPTIONS = {"instrument": "instrument", "duration": "time"}
FAULT_OPTIONS: dict[str, dict[str, str]] = {
    "internal_short": {"resistance_ohm": "resistance", "channel": "channel"},
    "thermocouple_open": {"channel": "channel"},
    "chamber_stuck": {},
    "chamber_cannot_cool": {},
    "comms_drop": dict(_LINK_OPTIONS),
    "comms_garbled": dict(_LINK_OPTIONS),
    "comms_delay": {**_LINK_OPTIONS, "delay": "time"},
    "comms_disconnect": dict(_LINK_OPTIONS),
}


class FaultSpecError(ValueError):
    """A malformed ``--fault`` value (the message quotes it)."""


@dataclass(frozen=True)
class FaultSpec:
    """A fault: ``kind`` starting at test time ``time_s`` with its options (SI values or text)."""

    kind: str
    time_s: float
    options: dict[str, float | str] = field(default_factory=dict)
    text: str = ""
    #: (quantity, operator, value) when the fault starts on a condition instead of a time.
    condition: tuple[str, str, float] | None = None

    def condition_holds(self, value: float) -> bool:
        """Whether ``value`` of the condition's quantity satisfies it."""
        assert self.condition is not None
        _quantity, op, limit = self.condition
        return {">=": value >= limit, "<=": value <= limit, ">": value > limit, "<": value < limit}[op]


def parse_fault_spec(text: str) -> FaultSpec:
    """Parse one ``--fault`` value; raises FaultSpecError naming the problem."""
    head, *options = [part.strip() for part in text.split(",")]
    kind, sep, when = head.partition("@")
    kind = kind.strip()
    if kind not in FAULT_KINDS:
        raise FaultSpecError(f"--fault {text!r}: unknown kind {kind!r}; kinds: {', '.join(FAULT_KINDS)}")
    if not sep:
        raise FaultSpecError(f"--fault {text!r}: missing '@TIME' (e.g. {kind}@2h)")
    condition = _CONDITION.match(when)
    if condition:
        if kind not in PHYSICAL_FAULTS:
            raise FaultSpecError(f"--fault {text!r}: a condition schedules only {', '.join(PHYSICAL_FAULTS)}; "
                                 f"give {kind} a time")
        quantity, op, number, percent = condition.groups()
        value = float(number) / (100.0 if percent else 1.0)
        return FaultSpec(kind, 0.0, _options(text, options, kind), text, (quantity, op, value))
    try:
        q = parse_quantity(when) if not when.strip().replace(".", "", 1).isdigit() else parse_quantity(when + " s")
    except QuantityError as exc:
        raise FaultSpecError(f"--fault {text!r}: {exc}") from None
    if q.dimension != "time" or q.value < 0:
        raise FaultSpecError(f"--fault {text!r}: time must be a duration like 30min or 2h, "
                             "or a condition like soc>=90%")
    return FaultSpec(kind, q.value, _options(text, options, kind), text)


def _options(text: str, options: list[str], kind: str) -> dict[str, float | str]:
    """The ``key=value`` options of ``kind``, each checked: an unknown key (with the closest
    known one), a value that is not a number of the right unit, or out of range, is an error."""
    allowed = FAULT_OPTIONS.get(kind, {})
    values: dict[str, float | str] = {}
    for option in options:
        key, eq, value = option.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key or not value:
            raise FaultSpecError(f"--fault {text!r}: option {option!r} must be key=value")
        if key not in allowed:
            close = difflib.get_close_matches(key, list(allowed), n=1)
            hint = f"did you mean {close[0]!r}?" if close else \
                f"{kind} takes {', '.join(allowed) if allowed else 'no options'}"
            raise FaultSpecError(f"--fault {text!r}: unknown option {key!r}; {hint}")
        if key in values:
            raise FaultSpecError(f"--fault {text!r}: option {key!r} given twice")
        values[key] = _option_value(text, key, value, allowed[key])
    return values


def _option_value(text: str, key: str, value: str, what: str) -> float | str:
    if what == "instrument":
        if value not in LINK_INSTRUMENTS:
            raise FaultSpecError(f"--fault {text!r}: instrument={value!r}; choose one of {', '.join(LINK_INSTRUMENTS)}")
        return value
    if what == "channel":
        if not value.isdigit():
            raise FaultSpecError(f"--fault {text!r}: {key}={value!r} must be a channel number (0, 1, ...)")
        return float(int(value))
    try:
        number = float(value)
    except ValueError:
        try:
            quantity = parse_quantity(value)
        except QuantityError:
            unit = "ohm" if what == "resistance" else "s"
            raise FaultSpecError(f"--fault {text!r}: {key}={value!r} is not a number "
                                 f"(e.g. {key}=0.05 or 0.05 {unit})") from None
        if quantity.dimension != what:
            raise FaultSpecError(f"--fault {text!r}: {key}={value!r} must be a {what}") from None
        number = quantity.value
    if not math.isfinite(number) or number <= 0:
        raise FaultSpecError(f"--fault {text!r}: {key}={value!r} must be greater than zero")
    return number
