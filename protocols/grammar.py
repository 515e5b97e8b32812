"""Parse one step string: PyBaMM experiment strings verbatim, plus bench steps.

    Charge at 1C until 4.2 V                 Discharge at 0.5 A until 2.5 V
    Hold at 4.2 V until C/20                 Rest for 1 hour
    Discharge at 10 W for 30 minutes or until 3 V
    Charge at C/2 for 2 hours (10 second period)
    Soak at 25 °C for 2 hours
    Soak at -20 °C ramping at 1 K/min until cell within 2 K of setpoint for 30 minutes
    Soak at -20 °C until cell within 2 K of setpoint for 30 minutes (at most 24 hours)
    Charge at 4C until 20 % SOC              Rest until dT/dt < 0.5 K/min
    Discharge at 1C until 1.5 Ah             Charge at 10 W until 5 Wh
    Rest until T < 30 °C                     Discharge at 2C until T > 45 °C or until 2.5 V
    EIS from 10 kHz to 10 mHz, 10 points per decade, 10 mV        (or an amplitude in A / mA)
    Pulse discharge at 2C for 10 seconds, rest for 40 seconds, 10 times or until 2.8 V
    Replay urban current profile at 1.4C peak, discharge only, repeated until 2.5 V
    Replay drive.csv power profile scaled by 1/4416 (0.2 second period)

PyBaMM's own forms ("Discharge at C/10 for 10 hours or until 3.3 V", "Hold at 4.1 V until 50 mA",
"Charge at 1 A until 4.1 V (1 minute period)") parse verbatim. Errors are ProtocolError with a
1-based column inside the string and a suggestion.
"""

from __future__ import annotations

import difflib
import math
import re

from protocols.errors import ProtocolError
from protocols.quantities import Quantity, QuantityError, parse_quantity
from protocols.steps import EisSpec, EndCondition, PulseSpec, ReplaySpec, Step

_RAMP = re.compile(r"^(?P<temp>.+?)\s+ramping\s+at\s+(?P<rate>.+)$", re.IGNORECASE)
ACTIONS = ("charge", "discharge", "hold", "rest", "soak", "eis", "pulse", "replay")
_REPLAY = re.compile(
    r"^\s*(?P<src>\S+)\s+(?P<kind>current|power)\s+profile"
    r"(?:\s+at\s+(?P<peak>.+?)\s+peak|\s+scaled\s+by\s+(?P<factor>\S+))?"
    r"(?P<opts>(?:\s*,?\s*(?:discharge\s+only|repeated))*)\s*,?\s*$", re.IGNORECASE)
_REPLAY_EXAMPLE = "e.g. 'Replay urban current profile at 1C peak, repeated until 2.5 V'"
_PERIOD = re.compile(r"\(\s*(?P<q>[^()]*?)\s+period\s*\)", re.IGNORECASE)
_AT_MOST = re.compile(r"\(\s*at\s+most\s+(?P<q>[^()]*?)\s*\)", re.IGNORECASE)
_KEYWORD = re.compile(r"\b(for|until|or)\b", re.IGNORECASE)
_WITHIN = re.compile(
    r"^cell\s+within\s+(?P<q>.+?)\s+of\s+setpoint(?:\s+for\s+(?P<hold>.+))?$", re.IGNORECASE)
_SOC = re.compile(r"^(?P<q>.+?%)\s*soc$", re.IGNORECASE)
_DTDT = re.compile(r"^dT\s*/\s*dt\s*(?P<op>[<>]=?)\s*(?P<q>.+)$", re.IGNORECASE)
_TEMP = re.compile(r"^(?:T|temperature)\s*(?P<op>[<>]=?)\s*(?P<q>.+)$", re.IGNORECASE)


def _error(message: str, col: int, suggestion: str = "") -> ProtocolError:
    return ProtocolError(message, col=col, suggestion=suggestion)


def _quantity(text: str, col: int) -> Quantity:
    try:
        return parse_quantity(text)
    except QuantityError as exc:
        raise _error(str(exc), col, exc.suggestion) from None


def parse_step(text: str, *, capacity_ah: float | None = None) -> Step:
    """Parse ``text`` into a Step; C-rates need ``capacity_ah`` (Ah)."""
    if not isinstance(text, str) or not text.strip():
        raise _error("empty step", 1)
    original = text
    period_s: float | None = None
    at_most_s: float | None = None
    match = _PERIOD.search(text)
    if match:
        q = _quantity(match.group("q"), match.start("q") + 1)
        if q.dimension != "time" or q.value <= 0:
            raise _error(f"sampling period must be a positive time, got {q.text!r}", match.start("q") + 1)
        period_s = q.value
        text = text[: match.start()] + " " * (match.end() - match.start()) + text[match.end():]
    match = _AT_MOST.search(text)
    if match:
        q = _quantity(match.group("q"), match.start("q") + 1)
        if q.dimension != "time" or q.value <= 0:
            raise _error(f"'at most' needs a positive time, got {q.text!r}", match.start("q") + 1)
        at_most_s = q.value
        text = text[: match.start()] + " " * (match.end() - match.start()) + text[match.end():]
    leftover = re.search(r"[()]", text)
    if leftover:
        raise _error("unexpected parenthesis (only '(N unit period)' and '(at most T)' are allowed)",
                     leftover.start() + 1)

    stripped_start = len(text) - len(text.lstrip())
    words = text.split()
    if not words:
        raise _error("step has no action", 1, "e.g. 'Rest for 1 hour (10 second period)'")
    action = words[0].lower()
    if action not in ACTIONS:
        close = difflib.get_close_matches(action, ACTIONS, n=1)
        hint = f"did you mean '{_display(close[0])}'?" if close else \
            "steps start with Charge, Discharge, Hold, Rest, Soak, Pulse, EIS or Replay"
        raise _error(f"unknown step {words[0]!r}", stripped_start + 1, hint)
    if action == "eis":
        if at_most_s is not None or period_s is not None:
            raise _error("an EIS step takes no period or 'at most' (the sweep sets its time)", stripped_start + 1)
        return _parse_eis(text, stripped_start + 3, original)
    if action == "pulse":
        return _parse_pulse(text, stripped_start + 5, original, period_s, capacity_ah)

    # Split the rest into the setpoint and the clauses at the keywords for / until / or.
    body_start = stripped_start + len(words[0])
    body = text[body_start:]
    pieces: list[tuple[str, str, int]] = []  # (keyword, text, column)
    last_kw, last_pos = "", 0
    for kw in _KEYWORD.finditer(body):
        if kw.group(1).lower() == "for" and body[: kw.start()].rstrip().lower().endswith("setpoint"):
            continue  # "cell within 2 K of setpoint for 30 minutes" is one condition
        pieces.append((last_kw, body[last_pos: kw.start()], body_start + last_pos + 1))
        last_kw, last_pos = kw.group(1).lower(), kw.end()
    pieces.append((last_kw, body[last_pos:], body_start + last_pos + 1))

    setpoint_text, setpoint_col = pieces[0][1], pieces[0][2]
    clauses = pieces[1:]
    step_fields: dict[str, object] = {"text": original.strip(), "period_s": period_s}

    if action == "replay":
        step_fields.update(_replay_setpoint(setpoint_text, setpoint_col, capacity_ah))
    elif action in ("charge", "discharge", "hold", "soak"):
        sp = setpoint_text.strip()
        if not sp.lower().startswith("at "):
            raise _error(f"expected 'at <value>' after {words[0]!r}", setpoint_col,
                         f"e.g. '{words[0]} at 1C until 4.2 V'" if action != "soak" else "e.g. 'Soak at 25 °C for 2 hours'")
        value_text = sp[3:].strip()
        value_col = setpoint_col + setpoint_text.index(value_text) if value_text else setpoint_col
        ramp = _RAMP.match(value_text) if action == "soak" else None
        if ramp:
            rate_col = value_col + ramp.start("rate")
            rate = _quantity(ramp.group("rate"), rate_col)
            if rate.dimension != "temperature_rate" or rate.value <= 0:
                raise _error(f"a ramp needs a positive rate in K/min, got {rate.text!r}", rate_col,
                             "e.g. 'Soak at -20 °C ramping at 1 K/min for 2 hours'")
            step_fields["ramp_k_per_s"] = rate.value
            value_text = ramp.group("temp")
        q = _quantity(value_text, value_col)
        step_fields.update(_setpoint(action, q, value_col, capacity_ah))
    elif setpoint_text.strip():
        raise _error(f"unexpected {setpoint_text.strip()!r} after 'Rest'", setpoint_col, "e.g. 'Rest for 1 hour'")

    kind = str(step_fields["kind"]) if "kind" in step_fields else "rest"
    direction = _direction(step_fields) if kind != "replay" else -1  # a drive cycle discharges on net
    duration_s: float | None = None
    until: list[EndCondition] = []
    previous = ""
    for keyword, clause, col in clauses:
        clause_text = clause.strip()
        clause_col = col + (len(clause) - len(clause.lstrip()))
        if keyword == "or" and previous == "":
            raise _error("'or' must follow a 'for' or 'until' clause", clause_col)
        if not clause_text:
            if keyword == "or":
                previous = keyword
                continue
            raise _error(f"'{keyword}' needs a value", col)
        if keyword == "for" or (keyword == "or" and _is_time(clause_text)):
            q = _quantity(clause_text, clause_col)
            if q.dimension != "time" or q.value <= 0:
                raise _error(f"'for' needs a positive duration, got {clause_text!r}", clause_col)
            duration_s = q.value if duration_s is None else min(duration_s, q.value)
        else:
            condition = _condition(clause_text, clause_col, kind, direction, capacity_ah)
            if condition.quantity == "time_s":
                duration_s = condition.value if duration_s is None else min(duration_s, condition.value)
            else:
                until.append(condition)
        previous = keyword
    if at_most_s is not None:
        duration_s = at_most_s if duration_s is None else min(duration_s, at_most_s)
    replay = step_fields.get("replay")
    if isinstance(replay, ReplaySpec) and duration_s is None and not until and not replay.repeat:
        pass  # one pass of the profile: the engine ends it at the profile's end
    elif duration_s is None and not until:
        raise _error("step never ends: add 'for <time>' or 'until <condition>'", len(original.rstrip()) + 1,
                     f"e.g. '{original.strip()} for 1 hour'")
    if kind == "cv" and not until and duration_s is None:
        raise _error("a Hold needs an end condition", 1)
    step_fields["duration_s"] = duration_s
    step_fields["until"] = tuple(until)
    step_fields.setdefault("kind", "rest")
    return Step(**step_fields)  # type: ignore[arg-type]  # dict[str, object] of Step fields, each parsed above


def _replay_setpoint(text: str, col: int, capacity_ah: float | None) -> dict[str, object]:
    """``<profile> current|power profile [at <peak> peak | scaled by <factor>] [, discharge only]
    [, repeated]``: the ReplaySpec (its profile is loaded by :func:`protocols.profiles.resolve_replay`)."""
    match = _REPLAY.match(text)
    if not match:
        raise _error("expected '<profile> current profile' or '<profile> power profile', then optionally "
                     "'at <peak> peak' or 'scaled by <factor>', 'discharge only', 'repeated'", col, _REPLAY_EXAMPLE)
    kind = match.group("kind").lower()
    scaling, value = "factor", 1.0
    if match.group("peak"):
        peak_col = col + match.start("peak")
        q = _quantity(match.group("peak"), peak_col)
        if q.value <= 0:
            raise _error(f"the peak must be positive, got {q.text!r}", peak_col)
        if kind == "current" and q.dimension == "c_rate":
            if capacity_ah is None:
                raise _error("a C-rate needs the cell capacity (cell: capacity_ah)", peak_col)
            value = q.value * capacity_ah
        elif kind == "current" and q.dimension == "current":
            value = q.value
        elif kind == "power" and q.dimension == "power":
            value = q.value
        else:
            want = "a current (A) or a C-rate" if kind == "current" else "a power (W)"
            raise _error(f"a {kind} profile's peak is {want}, got {q.text!r}", peak_col)
        scaling = "peak"
    elif match.group("factor"):
        factor_col = col + match.start("factor")
        factor_text = match.group("factor")
        try:
            numerator, _, denominator = factor_text.partition("/")
            value = float(numerator) / (float(denominator) if denominator else 1.0)
        except (ValueError, ZeroDivisionError):
            raise _error(f"the scale factor must be a number or '1/N' (pack to cell), got {factor_text!r}",
                         factor_col) from None
        if not (value > 0 and math.isfinite(value)):
            raise _error(f"the scale factor must be positive, got {factor_text!r}", factor_col)
    options = match.group("opts").lower()
    spec = ReplaySpec(source=match.group("src"), kind=kind, scaling=scaling, scale_value=value,
                      discharge_only="discharge" in options, repeat="repeated" in options)
    return {"kind": "replay", "replay": spec}


def _display(action: str) -> str:
    return "EIS" if action == "eis" else action.capitalize()


def _parse_eis(text: str, start: int, original: str) -> Step:
    """``EIS from <f> to <f>, <n> points per decade, <amplitude V|A>``; ``start`` = index after 'EIS'."""
    example = "e.g. 'EIS from 10 kHz to 10 mHz, 10 points per decade, 10 mV'"
    parts = _split_commas(text, start)
    if len(parts) != 3:
        raise _error("EIS needs three parts: 'from <f> to <f>', '<n> points per decade', '<amplitude>'",
                     start + 1, example)
    (span, span_col), (points, points_col), (amplitude, amplitude_col) = parts
    match = re.fullmatch(r"from\s+(?P<a>.+?)\s+to\s+(?P<b>.+)", span, re.IGNORECASE)
    if not match:
        raise _error("expected 'from <frequency> to <frequency>'", span_col, example)
    freqs = []
    for group in ("a", "b"):
        col = span_col + match.start(group)
        q = _quantity(match.group(group), col)
        if q.dimension != "frequency" or not 1e-6 <= q.value <= 1e7:
            raise _error(f"expected a frequency between 1 µHz and 10 MHz (Hz, kHz, mHz), got {q.text!r}", col)
        freqs.append(q.value)
    if freqs[0] == freqs[1]:
        raise _error("the sweep's start and stop frequencies are equal", span_col)
    match = re.fullmatch(r"(?P<n>\d+)\s+points?\s+per\s+decade", points, re.IGNORECASE)
    if not match:
        raise _error(f"expected '<n> points per decade', got {points!r}", points_col, "e.g. '10 points per decade'")
    per_decade = int(match.group("n"))
    if not 1 <= per_decade <= 100:
        raise _error(f"points per decade must be 1-100, got {per_decade}", points_col)
    q = _quantity(amplitude, amplitude_col)
    if q.dimension not in ("voltage", "current") or q.value <= 0:
        raise _error(f"the EIS amplitude must be a positive voltage (mV) or current (mA), got {q.text!r}",
                     amplitude_col, "e.g. '10 mV' (potentiostatic) or '100 mA' (galvanostatic)")
    unit = "V" if q.dimension == "voltage" else "A"
    spec = EisSpec(freqs[0], freqs[1], per_decade, q.value, unit)
    return Step(kind="eis", text=original.strip(), eis=spec)


def _split_commas(text: str, start: int) -> list[tuple[str, int]]:
    """Comma-separated parts of ``text[start:]`` with their 1-based columns (stripped)."""
    parts = []
    pos = start
    for piece in text[start:].split(","):
        lead = len(piece) - len(piece.lstrip())
        parts.append((piece.strip(), pos + lead + 1))
        pos += len(piece) + 1
    return parts


def _parse_pulse(text: str, start: int, original: str, period_s: float | None, capacity_ah: float | None) -> Step:
    """``Pulse charge|discharge at <I> for <t>, rest for <t>, <N> times [or until <cond>]``."""
    example = "e.g. 'Pulse discharge at 2C for 10 seconds, rest for 40 seconds, 10 times'"
    parts = _split_commas(text, start)
    if len(parts) != 3:
        raise _error("a Pulse needs three parts: '<charge|discharge> at <I> for <t>', 'rest for <t>', "
                     "'<N> times'", start + 1, example)
    (pulse, pulse_col), (rest, rest_col), (times, times_col) = parts
    match = re.fullmatch(r"(?P<dir>\w+)\s+at\s+(?P<i>.+?)\s+for\s+(?P<t>.+)", pulse, re.IGNORECASE)
    if not match or match.group("dir").lower() not in ("charge", "discharge"):
        raise _error("expected 'charge at <current> for <time>' or 'discharge at ...'", pulse_col, example)
    direction = match.group("dir").lower()
    setpoint = _setpoint(direction, _quantity(match.group("i"), pulse_col + match.start("i")),
                         pulse_col + match.start("i"), capacity_ah)
    if setpoint["kind"] != "cc":
        raise _error("a pulse needs a current (A, mA) or a C-rate", pulse_col + match.start("i"))
    on_s = _positive_time(match.group("t"), pulse_col + match.start("t"))
    match = re.fullmatch(r"rest(?:\s+for)?\s+(?P<t>.+)", rest, re.IGNORECASE)
    if not match:
        raise _error("expected 'rest for <time>' after the pulse", rest_col, example)
    off_s = _positive_time(match.group("t"), rest_col + match.start("t"))
    match = re.fullmatch(r"(?P<n>\d+)\s+times?(?:\s+(?:or\s+)?until\s+(?P<until>.+))?", times, re.IGNORECASE)
    if not match:
        raise _error(f"expected '<N> times', got {times!r}", times_col, example)
    count = int(match.group("n"))
    if not 1 <= count <= 100_000:
        raise _error(f"pulse count must be 1-100000, got {count}", times_col)
    until: tuple[EndCondition, ...] = ()
    if match.group("until"):
        col = times_col + match.start("until")
        direction_sign = 1 if float(setpoint["current_a"]) > 0 else -1
        condition = _condition(match.group("until").strip(), col, "cc", direction_sign, capacity_ah)
        if condition.quantity == "time_s":
            raise _error("a pulse train's time is set by its count; end it on a voltage or temperature", col)
        until = (condition,)
    spec = PulseSpec(float(setpoint["current_a"]), on_s, off_s, count)
    if period_s is not None and period_s > min(on_s, off_s):
        raise _error(f"the sampling period {period_s:g} s is longer than a {min(on_s, off_s):g} s pulse phase",
                     1, "shorten the period, e.g. '(0.1 second period)'")
    return Step(kind="pulse", text=original.strip(), current_a=spec.current_a, pulse=spec,
                duration_s=count * spec.period_s, until=until, period_s=period_s)


def _positive_time(text: str, col: int) -> float:
    q = _quantity(text, col)
    if q.dimension != "time" or q.value <= 0:
        raise _error(f"expected a positive time, got {q.text!r}", col)
    return q.value


def _is_time(text: str) -> bool:
    try:
        return parse_quantity(text).dimension == "time"
    except QuantityError:
        return False


def _setpoint(action: str, q: Quantity, col: int, capacity_ah: float | None) -> dict[str, float | str]:
    if action == "soak":
        if q.dimension != "temperature":
            raise _error(f"Soak needs a temperature in °C, got {q.text!r}", col, "e.g. 'Soak at -20 °C ...'")
        return {"kind": "soak", "temperature_c": q.value}
    if action == "hold":
        if q.dimension != "voltage":
            raise _error(f"Hold needs a voltage, got {q.text!r}", col, "e.g. 'Hold at 4.2 V until C/20'")
        return {"kind": "cv", "voltage_v": q.value}
    sign = 1.0 if action == "charge" else -1.0
    if q.value < 0:
        raise _error(f"{action} rate must be positive (the verb sets the sign), got {q.text!r}", col)
    if q.dimension == "c_rate":
        if capacity_ah is None:
            raise _error("a C-rate needs the cell capacity (cell: capacity_ah)", col)
        return {"kind": "cc", "current_a": sign * q.value * capacity_ah}
    if q.dimension == "current":
        return {"kind": "cc", "current_a": sign * q.value}
    if q.dimension == "power":
        return {"kind": "cp", "power_w": sign * q.value}
    raise _error(f"{action.capitalize()} needs a current (A, mA), a C-rate or a power (W), got {q.text!r}", col)


def _direction(fields: dict[str, object]) -> int:
    current = fields.get("current_a") or fields.get("power_w") or 0.0
    return 1 if float(current) > 0 else (-1 if float(current) < 0 else 0)  # type: ignore[arg-type]  # a number field


def _condition(text: str, col: int, kind: str, direction: int, capacity_ah: float | None) -> EndCondition:
    match = _WITHIN.match(text)
    if match:
        if kind != "soak":
            raise _error("'cell within ... of setpoint' only ends a Soak step", col)
        q = _quantity(match.group("q"), col)
        if q.value <= 0:
            raise _error(f"the band must be positive, got {q.text!r}", col)
        if q.dimension != "temperature_difference":
            raise _error(f"expected a temperature difference in K, got {q.text!r}", col)
        hold_s = 0.0
        if match.group("hold"):
            hq = _quantity(match.group("hold"), col)
            if hq.dimension != "time":
                raise _error(f"expected a time after 'for', got {hq.text!r}", col)
            hold_s = hq.value
        return EndCondition("stable_within_k", "<=", q.value, text, hold_s)
    match = _SOC.match(text)
    if match:
        q = _quantity(match.group("q"), col)
        if q.dimension != "fraction" or not 0.0 <= q.value <= 1.0:
            raise _error(f"SOC must be within 0-100 %, got {q.text!r}", col)
        if kind in ("rest", "soak"):
            raise _error("SOC does not change during a rest; end it on time", col)
        return EndCondition("soc", "<=" if direction < 0 else ">=", q.value, text)
    match = _DTDT.match(text)
    if match:
        q = _quantity(match.group("q"), col)
        if q.dimension != "temperature_rate":
            raise _error(f"dT/dt needs K/min or K/s, got {q.text!r}", col)
        return EndCondition("dtdt_k_per_s", ">=" if ">" in match.group("op") else "<=", q.value, text)
    match = _TEMP.match(text)
    if match:
        q = _quantity(match.group("q"), col)
        if q.dimension != "temperature":
            raise _error(f"temperature needs °C, got {q.text!r}", col)
        return EndCondition("temperature_c", ">=" if ">" in match.group("op") else "<=", q.value, text)

    q = _quantity(text, col)
    if q.dimension == "voltage":
        if kind in ("rest", "soak"):
            raise _error("a voltage end condition on a rest is ambiguous; use a time", col)
        if kind == "cv":
            raise _error("a Hold ends on current or time, not voltage", col, "e.g. 'until C/20'")
        return EndCondition("voltage_v", ">=" if direction > 0 else "<=", q.value, text)
    if q.dimension in ("current", "c_rate"):
        if kind != "cv":
            raise _error("a current end condition only ends a Hold (constant voltage) step", col)
        value = q.value
        if q.dimension == "c_rate":
            if capacity_ah is None:
                raise _error("a C-rate needs the cell capacity (cell: capacity_ah)", col)
            value = q.value * capacity_ah
        return EndCondition("current_a", "<=", abs(value), text)
    if q.dimension == "charge":
        if q.value <= 0:
            raise _error(f"a charge end condition must be positive, got {q.text!r}", col)
        if kind in ("rest", "soak"):
            raise _error("a rest moves no charge; end it on time", col)
        return EndCondition("capacity_ah", ">=", abs(q.value), text)
    if q.dimension == "energy":
        if q.value <= 0:
            raise _error(f"an energy end condition must be positive, got {q.text!r}", col)
        if kind in ("rest", "soak"):
            raise _error("a rest moves no energy; end it on time", col)
        return EndCondition("energy_wh", ">=", abs(q.value), text)
    if q.dimension == "time":
        return EndCondition("time_s", ">=", q.value, text)
    if q.dimension == "temperature":
        if kind in ("rest", "soak"):
            raise _error(f"say which way: 'until T < {q.text}' (cooling) or 'until T > {q.text}' (warming)", col)
        return EndCondition("temperature_c", ">=", q.value, text)
    if q.dimension == "fraction":
        raise _error(f"{q.text!r}: a percentage ends a step only as SOC", col, f"e.g. 'until {q.text} SOC'")
    raise _error(f"cannot end a step on {q.text!r}", col,
                 "end conditions: voltage, current (Hold), Ah, Wh, time, % SOC, T, dT/dt")
