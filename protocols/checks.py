"""Range checks of one step against the cell, the protocol's limits and the bound instruments.

Each check returns a :class:`Problem` (message + suggestion) or None; the caller places it in
its file (YAML node, Python ``yield`` line). ``InstrumentLimits`` describes what the bench can
do without talking to it (class attributes of the drivers, or the open bench's roles).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from protocols.steps import CellSpec, Limits, Loop, Node, Protocol, Step, StepLimits


@dataclass(frozen=True)
class InstrumentLimits:
    """What the bench's instruments can do. ``None`` = not known (not checked).

    ``current_max_a``: largest current magnitude the cycler can force, A; ``voltage_max_v``:
    largest voltage it can force or measure, V; ``chamber_range_c``: setpoints the chamber
    accepts (None with ``has_chamber`` False = no chamber); ``has_impedance``: an impedance
    analyzer is bound; ``has_thermometer``: a cell temperature sensor is bound.
    """

    description: str = "this bench"
    current_max_a: float | None = None
    voltage_max_v: float | None = None
    has_chamber: bool = True
    chamber_range_c: tuple[float, float] | None = None
    has_impedance: bool = True
    has_thermometer: bool = True
    impedance_frequency_range_hz: tuple[float, float] | None = None
    #: Time the cycler needs to settle on a new current setpoint, s (a driver's
    #: ``setpoint_settle_s``; None = not declared: :data:`DEFAULT_SETTLE_S` is assumed).
    setpoint_settle_s: float | None = None


#: Settling time assumed for a cycler that declares none, s: source-measure units settle a
#: current step in well under 1 ms (e.g. Keithley 2450 source settling, its datasheet's
#: "source settling" table), so a profile holding each value for 1 ms or longer can be followed.
DEFAULT_SETTLE_S = 0.001


@dataclass(frozen=True)
class Problem:
    """Why a step is invalid and what to do about it."""

    message: str
    suggestion: str = ""


def check_step(step: Step, cell: CellSpec, limits: Limits, instrument: InstrumentLimits | None = None) -> Problem | None:
    """The first range problem of ``step``, or None."""
    where = f"'{step.text}'"
    if step.current_a is not None:
        charging = step.current_a > 0
        allowed = cell.charge_current_max_a if charging else cell.current_max_a
        allowed = min(allowed, limits.current_max_a)
        if abs(step.current_a) > allowed + 1e-9:
            what = "charge" if charging else "discharge"
            return Problem(f"{where}: {abs(step.current_a):g} A exceeds the cell's maximum {what} current {allowed:g} A",
                           f"at most {allowed / cell.capacity_ah:.3g}C for this {cell.capacity_ah:g} Ah cell")
    if step.power_w is not None:
        allowed_w = cell.current_max_a * cell.voltage_max_v
        if abs(step.power_w) > allowed_w + 1e-9:
            return Problem(f"{where}: {abs(step.power_w):g} W exceeds what the cell's current limit allows "
                           f"({allowed_w:g} W at {cell.voltage_max_v:g} V)")
    if step.voltage_v is not None and not (cell.voltage_min_v - 1e-9 <= step.voltage_v <= cell.voltage_max_v + 1e-9):
        return Problem(f"{where}: {step.voltage_v:g} V is outside the cell's {cell.voltage_min_v:g}-{cell.voltage_max_v:g} V")
    for condition in step.until:
        if condition.quantity == "voltage_v" and not (limits.voltage_min_v <= condition.value <= limits.voltage_max_v):
            return Problem(f"{where}: end voltage {condition.value:g} V is outside the limits "
                           f"{limits.voltage_min_v:g}-{limits.voltage_max_v:g} V")
        if condition.quantity == "capacity_ah" and condition.value > 2 * cell.capacity_ah:
            return Problem(f"{where}: {condition.value:g} Ah is more than twice the cell's {cell.capacity_ah:g} Ah")
    if step.replay is not None and step.replay.times_s:
        problem = _check_replay(where, step, cell, limits, instrument)
        if problem:
            return problem
    if step.temperature_c is not None and not (limits.temperature_min_c <= step.temperature_c <= limits.temperature_max_c):
        return Problem(f"{where}: {step.temperature_c:g} °C is outside the protocol's temperature limits "
                       f"{limits.temperature_min_c:g}-{limits.temperature_max_c:g} °C")
    if step.limits is not None:
        problem = _check_step_limits(where, step.limits, limits)
        if problem:
            return problem
    if instrument is not None:
        return _check_instrument(where, step, instrument)
    return None


def replay_peaks_a(step: Step, cell: CellSpec) -> tuple[float, float]:
    """(largest charging, largest discharging) current magnitude a Replay step asks for, A; a
    power profile at the cell's minimum voltage (the worst case: I = P / V)."""
    spec = step.replay
    if spec is None:
        return 0.0, 0.0
    per_unit = 1.0 if spec.kind == "current" else 1.0 / max(cell.voltage_min_v, 0.1)
    return spec.peak(1) * per_unit, spec.peak(-1) * per_unit


def _check_replay(where: str, step: Step, cell: CellSpec, limits: Limits,
                  instrument: InstrumentLimits | None) -> Problem | None:
    """A profile beyond the cell's currents, the protocol's limit, the cycler's range, or faster
    than the cycler settles."""
    spec = step.replay
    assert spec is not None
    charge_a, discharge_a = replay_peaks_a(step, cell)
    how = "" if spec.kind == "current" else f" (power / {cell.voltage_min_v:g} V, the cell's minimum)"
    if charge_a > min(cell.charge_current_max_a, limits.current_max_a) + 1e-9:
        return Problem(f"{where}: the profile charges at up to {charge_a:.4g} A{how}, above the cell's maximum "
                       f"charge current {min(cell.charge_current_max_a, limits.current_max_a):g} A",
                       "scale it down, or replay it 'discharge only'")
    if discharge_a > min(cell.current_max_a, limits.current_max_a) + 1e-9:
        return Problem(f"{where}: the profile discharges at up to {discharge_a:.4g} A{how}, above the cell's "
                       f"maximum discharge current {min(cell.current_max_a, limits.current_max_a):g} A",
                       f"scale it to at most {cell.current_max_a / cell.capacity_ah:.3g}C peak")
    if instrument is not None:
        peak = max(charge_a, discharge_a)
        if instrument.current_max_a is not None and peak > instrument.current_max_a + 1e-9:
            return Problem(f"{where}: the profile needs {peak:.4g} A{how}, beyond the cycler's range "
                           f"±{instrument.current_max_a:g} A ({instrument.description})")
        settle = instrument.setpoint_settle_s or DEFAULT_SETTLE_S
        shortest = min(b - a for a, b in zip(spec.times_s, spec.times_s[1:], strict=False))
        if shortest < settle - 1e-12:
            return Problem(f"{where}: the profile changes its setpoint after {shortest * 1000:g} ms, faster than "
                           f"the cycler settles ({settle * 1000:g} ms, {instrument.description})",
                           "resample the profile to steps of at least the settling time")
    return None


def check_window(step: Step, cell: CellSpec, chamber_c: float | None) -> Problem | None:
    """A charge or discharge at a chamber setpoint outside the cell's operating window.

    ``chamber_c``: the setpoint the step runs at (the last Soak's; None = not set, not checked).
    A Hold counts as charging. The supervisor enforces the same window on the measured cell
    temperature during the run (``bench.safety.window``)."""
    if chamber_c is None or step.kind not in ("cc", "cv", "cp", "pulse", "replay"):
        return None
    if step.replay is not None and step.replay.peak(1) > 0:  # a profile that also charges (regeneration)
        problem = _window_problem(step, cell, chamber_c, True)
        if problem is not None:
            return Problem(problem.message + " (the profile charges: regeneration)",
                           "replay it 'discharge only', or " + problem.suggestion)
    return _window_problem(step, cell, chamber_c, step.kind == "cv" or step.is_charge)


def _window_problem(step: Step, cell: CellSpec, chamber_c: float, charging: bool) -> Problem | None:
    low, high = cell.window_c(charging)
    what = "charge" if charging else "discharge"
    if low is not None and chamber_c < low - 1e-9:
        return Problem(f"'{step.text}': runs at {chamber_c:g} °C, below the cell's minimum {what} temperature "
                       f"{low:g} °C", f"soak at {low:g} °C or warmer before it, or test a cell rated for it")
    if high is not None and chamber_c > high + 1e-9:
        return Problem(f"'{step.text}': runs at {chamber_c:g} °C, above the cell's maximum {what} temperature "
                       f"{high:g} °C", f"soak at {high:g} °C or cooler before it")
    return None


def _check_step_limits(where: str, own: StepLimits, limits: Limits) -> Problem | None:
    pairs = (("voltage_max_v", limits.voltage_max_v, 1), ("voltage_min_v", limits.voltage_min_v, -1),
             ("current_max_a", limits.current_max_a, 1), ("temperature_max_c", limits.temperature_max_c, 1),
             ("temperature_min_c", limits.temperature_min_c, -1))
    for name, global_value, sign in pairs:
        value = getattr(own, name)
        if value is not None and (value - global_value) * sign > 1e-9:
            return Problem(f"{where}: step limit {name} = {value:g} is looser than the protocol's {global_value:g}",
                           "step limits may only tighten the protocol's limits")
    if own.voltage_max_v is not None and own.voltage_min_v is not None and own.voltage_min_v >= own.voltage_max_v:
        return Problem(f"{where}: step limit voltage_min_v must be below voltage_max_v")
    if own.current_max_a is not None and own.current_max_a <= 0:
        return Problem(f"{where}: step limit current_max_a must be positive")
    return None


def _check_instrument(where: str, step: Step, inst: InstrumentLimits) -> Problem | None:
    bench = inst.description
    if step.current_a is not None and inst.current_max_a is not None and abs(step.current_a) > inst.current_max_a + 1e-9:
        return Problem(f"{where}: {abs(step.current_a):g} A is beyond the cycler's range ±{inst.current_max_a:g} A "
                       f"({bench})")
    if step.voltage_v is not None and inst.voltage_max_v is not None and abs(step.voltage_v) > inst.voltage_max_v:
        return Problem(f"{where}: {step.voltage_v:g} V is beyond the cycler's range ±{inst.voltage_max_v:g} V ({bench})")
    if step.kind == "soak":
        if not inst.has_chamber:
            return Problem(f"{where}: {bench} has no thermal chamber", "bind a [chamber] in the bench config")
        low, high = inst.chamber_range_c or (-math.inf, math.inf)
        if step.temperature_c is not None and not low <= step.temperature_c <= high:
            return Problem(f"{where}: {step.temperature_c:g} °C is outside the chamber's {low:g}-{high:g} °C ({bench})")
    if step.kind == "eis":
        if not inst.has_impedance:
            return Problem(f"{where}: {bench} has no impedance analyzer", "bind an [impedance] instrument")
        spec = step.eis
        if spec is not None and inst.impedance_frequency_range_hz is not None:
            low, high = inst.impedance_frequency_range_hz
            for freq in (spec.frequency_start_hz, spec.frequency_stop_hz):
                if not low <= freq <= high:
                    return Problem(f"{where}: {freq:g} Hz is outside the analyzer's {low:g}-{high:g} Hz ({bench})")
    needs_sensor = any(c.quantity in ("temperature_c", "dtdt_k_per_s", "stable_within_k") for c in step.until)
    if needs_sensor and not inst.has_thermometer:
        return Problem(f"{where}: ends on the cell temperature, but {bench} has no temperature meter",
                       "bind a [thermometer] in the bench config")
    return None


def is_soc_anchor(step: Step, cell: CellSpec) -> bool:
    """True when the step ends at a known SOC: a Hold at voltage_max_v ended by current, or a
    discharge to voltage_min_v (the engine resets its SOC estimate to 1 or 0 there)."""
    if step.kind == "cv" and (step.voltage_v or 0.0) >= cell.voltage_max_v - 0.01:
        return any(c.quantity == "current_a" for c in step.until)
    if step.kind == "cc" and (step.current_a or 0.0) < 0:
        return any(c.quantity == "voltage_v" and c.value <= cell.voltage_min_v + 0.01 for c in step.until)
    return False


def soc_unknown_steps(protocol: Protocol) -> list[Step]:
    """Steps ending on SOC that may run before the SOC is known (no initial_soc, no anchor yet)."""
    if not math.isnan(protocol.cell.initial_soc):
        return []
    out: list[Step] = []
    anchored = [False]

    def walk(nodes: tuple[Node, ...]) -> None:
        for node in nodes:
            if isinstance(node, Loop):
                walk(node.steps)
                continue
            if not anchored[0] and any(c.quantity == "soc" for c in node.until):
                out.append(node)
            if is_soc_anchor(node, protocol.cell):
                anchored[0] = True

    walk(protocol.steps)
    return out
