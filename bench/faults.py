"""``--fault KIND@TIME[,key=value...]`` specifications, e.g.
``internal_short@2h,resistance_ohm=0.05`` or ``comms_drop@30min,instrument=cycler,duration=20s``.

Parsing lives here (bench-side, no simulator imports); the simulated bench applies them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from protocols.quantities import QuantityError, parse_quantity

FAULT_KINDS = ("internal_short", "thermocouple_open", "chamber_stuck", "chamber_cannot_cool",
               "comms_drop", "comms_garbled", "comms_delay", "comms_disconnect")


class FaultSpecError(ValueError):
    """A malformed ``--fault`` value (the message quotes it)."""


@dataclass(frozen=True)
class FaultSpec:
    """A fault: ``kind`` starting at test time ``time_s`` with its options (SI values or text)."""

    kind: str
    time_s: float
    options: dict[str, float | str] = field(default_factory=dict)
    text: str = ""


def parse_fault_spec(text: str) -> FaultSpec:
    """Parse one ``--fault`` value; raises FaultSpecError naming the problem."""
    head, *options = [part.strip() for part in text.split(",")]
    kind, sep, when = head.partition("@")
    kind = kind.strip()
    if kind not in FAULT_KINDS:
        raise FaultSpecError(f"--fault {text!r}: unknown kind {kind!r}; kinds: {', '.join(FAULT_KINDS)}")
    if not sep:
        raise FaultSpecError(f"--fault {text!r}: missing '@TIME' (e.g. {kind}@2h)")
    try:
        q = parse_quantity(when) if not when.strip().replace(".", "", 1).isdigit() else parse_quantity(when + " s")
    except QuantityError as exc:
        raise FaultSpecError(f"--fault {text!r}: {exc}") from None
    if q.dimension != "time" or q.value < 0:
        raise FaultSpecError(f"--fault {text!r}: time must be a duration like 30min or 2h")
    values: dict[str, float | str] = {}
    for option in options:
        key, eq, value = option.partition("=")
        if not eq or not key.strip():
            raise FaultSpecError(f"--fault {text!r}: option {option!r} must be key=value")
        value = value.strip()
        try:
            values[key.strip()] = float(value)
        except ValueError:
            try:
                values[key.strip()] = parse_quantity(value).value
            except QuantityError:
                values[key.strip()] = value
    return FaultSpec(kind, q.value, values, text)
