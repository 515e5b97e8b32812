"""The protocol as data: steps with end conditions, loops, limits. Units in the names, SI.

Current and power are signed: positive charges the cell (Battery Data Format convention).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

#: Step kinds the engine executes.
STEP_KINDS = ("cc", "cv", "cp", "rest", "soak")


@dataclass(frozen=True)
class EndCondition:
    """Ends a step when ``quantity op value`` holds (for ``hold_s`` seconds, if given).

    quantity: ``voltage_v``, ``current_a`` (magnitude), ``time_s`` (step time), ``capacity_ah``
    (charge moved in this step, magnitude), ``soc`` (fraction), ``temperature_c`` (cell),
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
class Step:
    """One protocol step.

    kind: ``cc`` (constant current ``current_a``), ``cv`` (hold ``voltage_v``), ``cp`` (constant
    power ``power_w``), ``rest`` (output off), ``soak`` (output off, chamber to ``temperature_c``).
    ``duration_s`` ends the step after that many seconds ("for ..." or "(at most ...)");
    ``until`` ends it when any condition holds. ``period_s`` overrides the sampling period.
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
    """``steps`` repeated ``count`` times; each repetition is a new cycle."""

    count: int
    steps: tuple["Node", ...]
    line: int = 0


Node = Union[Step, Loop]


@dataclass(frozen=True)
class Limits:
    """Global safety limits of a protocol (the supervisor and the instruments enforce them)."""

    voltage_max_v: float
    voltage_min_v: float
    current_max_a: float
    temperature_max_c: float = 60.0
    temperature_min_c: float = -40.0


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
    temperature_min_charge_c: float = 0.0
    temperature_max_c: float = 60.0

    @property
    def charge_current_max_a(self) -> float:
        """Largest charging current the cell allows, A."""
        return self.current_max_charge_a or self.current_max_a


@dataclass(frozen=True)
class PassCriterion:
    """``metric op value``, e.g. ``discharge_capacity_ah >= 4.5``."""

    metric: str
    op: str
    value: float
    text: str = ""

    def holds(self, metrics: dict[str, float]) -> bool | None:
        """True/False, or None when the metric was not measured."""
        if self.metric not in metrics or metrics[self.metric] is None:
            return None
        observed = metrics[self.metric]
        return observed >= self.value if self.op == ">=" else observed <= self.value


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
    pass_criteria: tuple[PassCriterion, ...] = ()
    analysis: str = ""
    source_text: str = ""
    source_path: str = ""

    def flat_steps(self) -> list[tuple[Step, int]]:
        """Every step in execution order with its cycle number, loops unrolled.

        The cycle count starts at 1 and goes up at the start of a loop repetition whenever the
        current cycle already holds a step (so a preconditioning block is cycle 1 and each
        repetition of the loop after it is a cycle of its own).
        """
        out: list[tuple[Step, int]] = []
        state = {"cycle": 1, "steps_in_cycle": 0}

        def walk(nodes: tuple[Node, ...]) -> None:
            for node in nodes:
                if isinstance(node, Step):
                    out.append((node, state["cycle"]))
                    state["steps_in_cycle"] += 1
                    continue
                for _ in range(node.count):
                    if state["steps_in_cycle"]:
                        state["cycle"] += 1
                        state["steps_in_cycle"] = 0
                    walk(node.steps)

        walk(self.steps)
        return out
