"""The protocol as data: steps with end conditions, loops, limits. Units in the names, SI.

Current and power are signed: positive charges the cell (Battery Data Format convention).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from protocols.claims import Claim
from protocols.expressions import Expression
from protocols.recording import RecordRule

#: Step kinds the engine executes.
STEP_KINDS = ("cc", "cv", "cp", "rest", "soak", "pulse", "eis", "replay")


@dataclass(frozen=True)
class EndCondition:
    """Ends a step when ``quantity op value`` holds (for ``hold_s`` seconds, if given).

    quantity: ``voltage_v``, ``current_a`` (magnitude), ``time_s`` (step time), ``capacity_ah``
    (charge moved in this step, magnitude), ``energy_wh`` (energy moved in this step,
    magnitude), ``soc`` (fraction), ``temperature_c`` (cell),
    ``dtdt_k_per_s`` (cell temperature rate), ``stable_within_k`` (|cell - chamber setpoint|).
    op: ``>=`` or ``<=``.
    """

    quantity: str
    op: str
    value: float
    text: str = ""
    hold_s: float = 0.0

    def describe(self) -> str:
        """Human-readable form, e.g. ``voltage_v <= 2.5``."""
        return self.text or f"{self.quantity} {self.op} {self.value:g}"


@dataclass(frozen=True)
class EisSpec:
    """An impedance sweep: from ``frequency_start_hz`` to ``frequency_stop_hz`` (Hz), logarithmic,
    ``points_per_decade``; excitation ``amplitude`` in ``amplitude_unit`` ("V": potentiostatic,
    "A": galvanostatic; RMS as the instrument defines it)."""

    frequency_start_hz: float
    frequency_stop_hz: float
    points_per_decade: int
    amplitude: float
    amplitude_unit: str

    def frequencies_hz(self) -> list[float]:
        """The sweep's frequencies, start to stop, Hz (both ends included)."""
        decades = abs(math.log10(self.frequency_stop_hz / self.frequency_start_hz))
        count = max(2, int(round(decades * self.points_per_decade)) + 1)
        ratio = (self.frequency_stop_hz / self.frequency_start_hz) ** (1.0 / (count - 1))
        return [self.frequency_start_hz * ratio ** n for n in range(count)]


@dataclass(frozen=True)
class PulseSpec:
    """``count`` pulses of ``current_a`` (A, + = charge) for ``on_s`` s, each followed by
    ``off_s`` s at ``off_current_a`` (0 = output held at zero current)."""

    current_a: float
    on_s: float
    off_s: float
    count: int
    off_current_a: float = 0.0

    @property
    def period_s(self) -> float:
        """One pulse plus its pause, s."""
        return self.on_s + self.off_s


@dataclass(frozen=True)
class ReplaySpec:
    """A current (A) or power (W) profile replayed by the cycler (+ = charge, BDF convention).

    ``source``: the profile as written (a shipped name or a file path); ``kind``: ``current`` or
    ``power``; ``scaling``: how the file's values were scaled (``peak`` with ``scale_value`` the
    target peak magnitude in A or W, or ``factor`` with ``scale_value`` the multiplier);
    ``discharge_only``: charging (regenerative) values replayed as 0; ``repeat``: the profile
    starts again at its end until an end condition holds. ``times_s``: breakpoints from 0, s;
    ``values``: the scaled setpoint held from each breakpoint to the next (zero-order hold; the
    last breakpoint ends the profile, its value is not applied). Empty until the profile is
    loaded (:func:`protocols.profiles.resolve_replay`).
    """

    source: str
    kind: str
    scaling: str = "factor"
    scale_value: float = 1.0
    discharge_only: bool = False
    repeat: bool = False
    times_s: tuple[float, ...] = ()
    values: tuple[float, ...] = ()
    path: str = ""
    #: The file's stated provenance (its ``# source:`` header line), "" when it states none.
    provenance: str = ""

    @property
    def duration_s(self) -> float:
        """One pass of the profile, s (0 before it is loaded)."""
        return self.times_s[-1] if self.times_s else 0.0

    def held(self) -> list[tuple[float, float]]:
        """(duration s, value) of each held segment."""
        t, v = self.times_s, self.values
        return [(t[i + 1] - t[i], v[i]) for i in range(len(t) - 1)]

    def integral(self) -> float:
        """The integral of one pass: As for a current profile, Ws (J) for a power profile."""
        return sum(d * v for d, v in self.held())

    def peak(self, sign: int = 0) -> float:
        """Largest magnitude (sign 0), largest charging (+1) or discharging (-1) magnitude."""
        values = self.values[:-1] if len(self.values) > 1 else self.values
        if sign > 0:
            return max([v for v in values if v > 0], default=0.0)
        if sign < 0:
            return max([-v for v in values if v < 0], default=0.0)
        return max((abs(v) for v in values), default=0.0)

    def mean(self) -> float:
        """Time-averaged value of one pass (A or W, + = charge)."""
        return self.integral() / self.duration_s if self.duration_s > 0 else 0.0

    def describe(self) -> str:
        """e.g. ``urban (current, peak 7.275 A, discharge only, repeated)``."""
        unit = "A" if self.kind == "current" else "W"
        scale = f"peak {self.scale_value:g} {unit}" if self.scaling == "peak" else f"x {self.scale_value:g}"
        extra = "".join([", discharge only" if self.discharge_only else "", ", repeated" if self.repeat else ""])
        return f"{self.source} ({self.kind}, {scale}{extra})"


@dataclass(frozen=True)
class StepLimits:
    """Safety limits tighter than the protocol's, for one step (None = the protocol's limit).

    Exceeding one trips the supervisor like a global limit (rule ``step_limit``).
    """

    voltage_max_v: float | None = None
    voltage_min_v: float | None = None
    current_max_a: float | None = None
    temperature_max_c: float | None = None
    temperature_min_c: float | None = None

    def checks(self) -> tuple[tuple[str, str, float | None, float | None], ...]:
        """``(limit name, Sample attribute, low, high)`` for each bound given."""
        out = []
        if self.voltage_max_v is not None or self.voltage_min_v is not None:
            out.append(("voltage", "voltage_v", self.voltage_min_v, self.voltage_max_v))
        if self.current_max_a is not None:
            out.append(("current", "current_a", -self.current_max_a, self.current_max_a))
        if self.temperature_max_c is not None or self.temperature_min_c is not None:
            out.append(("temperature", "temperature_cell_c", self.temperature_min_c, self.temperature_max_c))
        return tuple(out)


@dataclass(frozen=True)
class Step:
    """One protocol step.

    kind: ``cc`` (constant current ``current_a``), ``cv`` (hold ``voltage_v``), ``cp`` (constant
    power ``power_w``), ``rest`` (output off), ``soak`` (output off, chamber to ``temperature_c``),
    ``pulse`` (a pulse train, ``pulse``), ``eis`` (an impedance sweep, ``eis``), ``replay`` (a
    current or power profile, ``replay``).
    ``duration_s`` ends the step after that many seconds ("for ..." or "(at most ...)");
    ``until`` ends it when any condition holds. ``period_s`` overrides the sampling period.
    ``limits``: tighter safety limits during this step. ``record``: ``(name, expression)`` pairs
    evaluated on the step's result when it ends (e.g. ``reference_ah = discharge_ah``).
    ``index``: the step's stable depth-first number in its protocol (-1 until numbered).
    """

    kind: str
    text: str
    current_a: float | None = None
    voltage_v: float | None = None
    power_w: float | None = None
    temperature_c: float | None = None
    duration_s: float | None = None
    until: tuple[EndCondition, ...] = ()
    period_s: float | None = None
    line: int = 0
    col: int = 0
    eis: EisSpec | None = None
    pulse: PulseSpec | None = None
    replay: ReplaySpec | None = None
    limits: StepLimits | None = None
    record: tuple[tuple[str, Expression], ...] = ()
    index: int = -1
    #: Soak only: move the chamber setpoint to ``temperature_c`` at this rate, K/s (None = at once).
    ramp_k_per_s: float | None = None

    @property
    def is_charge(self) -> bool:
        """True when the step pushes charge into the cell."""
        return (self.current_a or 0.0) > 0 or (self.power_w or 0.0) > 0

    @property
    def label(self) -> str:
        """The step as written."""
        return self.text


@dataclass(frozen=True)
class Loop:
    """``steps`` repeated up to ``count`` times; each repetition is a new cycle (see
    :meth:`Protocol.flat_steps` for the counting rule). ``until``: a condition evaluated after
    each repetition; the loop ends early when it holds. ``index``: depth-first loop number."""

    count: int
    steps: tuple[Node, ...]
    line: int = 0
    until: Expression | None = None
    index: int = -1


Node = Step | Loop


@dataclass(frozen=True)
class Limits:
    """Global safety limits of a protocol (the supervisor and the instruments enforce them)."""

    voltage_max_v: float
    voltage_min_v: float
    current_max_a: float
    temperature_max_c: float = 60.0
    temperature_min_c: float = -40.0
    # -- software supervisor (bench/safety/rules.py, docs/safety.md); 0 disables a rule --------
    #: The hard V / I / T limits must be exceeded this long before they trip, s (0 = at once).
    persistence_s: float = 0.0
    #: Largest cell temperature rise rate over a 10 s window, K/s.
    dtdt_max_k_per_s: float = 0.25
    #: GB 38031-2025 C.5.3.7 runaway confirmation: dT/dt (K/s) held longer than ``runaway_hold_s``
    #: with a voltage drop above ``runaway_voltage_drop`` (fraction of the step's initial voltage)
    #: or the cell at its maximum operating temperature.
    runaway_dtdt_k_per_s: float = 1.0
    runaway_hold_s: float = 3.0
    runaway_voltage_drop: float = 0.25
    #: Internal-short signatures: voltage step between two samples with the setpoint unchanged (V);
    #: voltage fall rate at rest after settling (V/s); CV current rise above its minimum (C-rate);
    #: voltage fall below the step's maximum during a constant-current charge (V); cell warmer
    #: than the chamber air and warming at rest (K).
    short_collapse_v: float = 0.05
    short_rest_dvdt_v_per_s: float = 0.0005
    short_cv_rise_c: float = 0.02
    short_charge_fall_v: float = 0.03
    short_rest_heating_k: float = 2.0
    #: Soft shorts (bench/safety/soft_shorts.py): charge to refill an empty cell above the
    #: previous full-to-empty discharge, or a cycle's coulombic efficiency below 1, by more than
    #: this fraction. Healthy Li-ion cells keep CE >= 0.99 (typically > 0.999).
    short_charge_balance: float = 0.02
    #: Longest final observation after a completed protocol, s (bench/engine/final_watch.py): the
    #: output off while the rest rules judge the last cycle; it ends as soon as the cell is judged
    #: (cooled to within ``short_rest_heating_k`` of the air and not warming). 2 h: twice the
    #: slowest thermal time constant of a cell in a chamber (soft_shorts.TAU_MAX_S / 2 x 2).
    #: 0: no final observation (the last stretch is then reported not tested).
    final_observation_s: float = 7200.0
    #: Cell minus chamber air temperature, K, at any time (0 = off).
    cell_chamber_delta_max_k: float = 0.0
    #: Charge moved in one step above this multiple of the rated capacity trips (Ah overrun).
    ah_overrun_factor: float = 1.2
    #: Steps ended only by conditions time out at this multiple of their expected duration;
    #: ``step_timeout_s`` (> 0) replaces the estimate with a fixed ceiling, s.
    step_timeout_factor: float = 1.5
    step_timeout_s: float = 0.0
    #: Longest gap between two samples, s (0 = three sampling periods, at least 10 s).
    stale_data_s: float = 0.0
    #: Every reading (V, I, both temperatures) bit-identical under load this long, s: frozen data.
    stale_frozen_s: float = 120.0
    #: Watchdog: wall-clock seconds without a fresh sample before output off (0 = automatic).
    watchdog_s: float = 0.0
    #: Cell reading colder than the steady chamber air by more than this, K: a sensor is wrong.
    sensor_disagreement_k: float = 5.0
    #: The cell's charge / discharge temperature windows are widened by this much (sensor
    #: accuracy), K, before the supervisor trips (rule ``operating_window``).
    window_tolerance_k: float = 1.0


@dataclass(frozen=True)
class CellSpec:
    """The cell under test as the protocol describes it."""

    capacity_ah: float
    voltage_max_v: float
    voltage_min_v: float
    current_max_a: float
    current_max_charge_a: float = 0.0  # 0 = same as current_max_a
    preset: str = "nmc_21700"
    cell_id: str = ""
    chemistry: str = ""
    #: Operating windows (datasheet): cell temperature while charging / discharging, °C; None =
    #: not stated (not enforced). ``temperature_max_c`` is the maximum operating temperature.
    temperature_min_charge_c: float | None = None
    temperature_max_c: float = 60.0
    #: State of charge when the run starts (0..1), if known; NaN = unknown until the first full
    #: charge (a Hold at voltage_max_v ended by current) or full discharge (to voltage_min_v).
    initial_soc: float = math.nan
    temperature_max_charge_c: float | None = None
    temperature_min_discharge_c: float | None = None
    temperature_max_discharge_c: float | None = None
    #: Mass, kg, and volume, L, for specific energy (Wh/kg) and energy density (Wh/L); NaN = unknown.
    mass_kg: float = math.nan
    volume_l: float = math.nan
    #: Electrode (separator-facing) area, m², for area-specific resistance (Ω·cm²); NaN = not stated.
    electrode_area_m2: float = math.nan
    #: The datasheet the numbers come from (its name or file), "" when only the protocol states them.
    datasheet: str = ""

    @property
    def charge_current_max_a(self) -> float:
        """Largest charging current the cell allows, A."""
        return self.current_max_charge_a or self.current_max_a

    def window_c(self, charging: bool) -> tuple[float | None, float | None]:
        """(min, max) cell temperature allowed while charging (``charging``) or discharging, °C.

        The maximum falls back to ``temperature_max_c``; None = not stated."""
        high = self.temperature_max_charge_c if charging else self.temperature_max_discharge_c
        low = self.temperature_min_charge_c if charging else self.temperature_min_discharge_c
        if high is None or high != high:
            high = self.temperature_max_c if self.temperature_max_c == self.temperature_max_c else None
        return (None if low is None or low != low else low), high


#: The pass criteria are claims (declared measurements with validators): see protocols.claims.
PassCriterion = Claim


@dataclass(frozen=True)
class Protocol:
    """A parsed, validated protocol, ready for the engine."""

    name: str
    steps: tuple[Node, ...]
    cell: CellSpec
    limits: Limits
    description: str = ""
    period_s: float = 1.0
    parameters: dict[str, str] = field(default_factory=dict)
    pass_criteria: tuple[Claim, ...] = ()
    analysis: str = ""
    source_text: str = ""
    source_path: str = ""
    #: A Python protocol: ``generator(ctx)`` yields steps (``steps`` is then empty).
    generator: Callable[[Any], Any] | None = None
    #: An abuse test (``abuse:`` in the file, e.g. nail penetration): ``test``, ``step`` (text of
    #: the rest step it starts), ``prompt``, ``prompt_timeout_s``, ``simulate`` (fault options).
    abuse: dict[str, Any] = field(default_factory=dict)
    #: Where each value of ``cell`` came from (datasheet page, bench file, protocol line, --set).
    cell_sources: dict[str, str] = field(default_factory=dict)
    #: Record by change (``sampling: record_when:``): which acquired samples become run-file rows;
    #: None: every sample (every ``period_s``) is recorded.
    record_when: RecordRule | None = None

    def step_total(self) -> int:
        """Steps executed with every loop run to its count (an upper bound); 0 for a generator."""
        def count(nodes: tuple[Node, ...]) -> int:
            return sum(1 if isinstance(n, Step) else n.count * count(n.steps) for n in nodes)
        return count(self.steps)

    def walk_nodes(self) -> list[tuple[Node, int]]:
        """Every node of the step tree, depth-first, with its nesting depth."""
        out: list[tuple[Node, int]] = []

        def walk(nodes: tuple[Node, ...], depth: int) -> None:
            for node in nodes:
                out.append((node, depth))
                if isinstance(node, Loop):
                    walk(node.steps, depth + 1)

        walk(self.steps, 0)
        return out

    def flat_steps(self) -> list[tuple[Step, int]]:
        """Every step in execution order with its cycle number, loops unrolled.

        The cycle rule is :mod:`protocols.plan`'s: the count starts at 1 and goes up, when the
        present cycle already holds a step, at the start of a loop repetition, at the first
        step after a loop and at a charge once the cycle holds a charge and a discharge after it (so a preconditioning block is cycle 1, each repetition of the loop
        after it a cycle of its own, the steps after the loop the next one). Loops with an
        ``until`` are unrolled to their maximum count here; the engine walks the tree
        (:func:`protocols.plan.walk_tree`) and stops them early.
        """
        out: list[tuple[Step, int]] = []
        state = {"cycle": 1, "steps_in_cycle": 0, "after_loop": 0, "charged": 0, "discharged": 0}

        def new_cycle() -> None:
            state["after_loop"] = 0
            if state["steps_in_cycle"]:
                state["cycle"] += 1
                state["steps_in_cycle"] = 0
                state["charged"] = state["discharged"] = 0

        def walk(nodes: tuple[Node, ...]) -> None:
            for node in nodes:
                if isinstance(node, Step):
                    if state["after_loop"] or (state["discharged"] and node.is_charge):
                        new_cycle()
                    out.append((node, state["cycle"]))
                    state["steps_in_cycle"] += 1
                    if node.is_charge:
                        state["charged"] = 1
                    elif state["charged"] and node.kind in ("cc", "cp", "pulse", "replay") and (
                            (node.current_a or 0.0) < 0 or (node.power_w or 0.0) < 0
                            or (node.replay is not None and node.replay.mean() < 0)):
                        state["discharged"] = 1
                    continue
                for _ in range(node.count):
                    new_cycle()
                    walk(node.steps)
                state["after_loop"] = 1

        walk(self.steps)
        return out
