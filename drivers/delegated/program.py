"""The vendor-neutral form of a protocol compiled for delegated execution.

A :class:`DelegatedProgram` is what a protocol becomes when a cycler runs it on its own: a flat
list of steps with end conditions and jumps (loops become a "cycle" step that jumps back), all in
SI units (A, V, W, s, Ah, °C). Each vendor's step-file writer (Neware ``.xml`` step file, Arbin
schedule, Maccor procedure) reads this form and says which of its features it cannot express.

Signs follow the bench's convention: a positive current charges the cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DelegatedEnd:
    """One end condition of a delegated step.

    quantity: ``voltage_v``, ``current_a`` (magnitude), ``time_s`` (step time), ``capacity_ah``
    (step capacity, magnitude). op: ``>=`` or ``<=``. ``goto``: the index of the step to go to
    when it is met (None: the next step).
    """

    quantity: str
    op: str
    value: float
    goto: int | None = None


@dataclass(frozen=True)
class DelegatedStep:
    """One step of a delegated program.

    kind: ``cc`` (current_a), ``cccv`` (current_a up to voltage_v, then hold), ``cv``
    (voltage_v, current limited to |current_a|), ``cp`` (power_w), ``rest``, ``cycle`` (jump to
    ``loop_to`` until it has run ``loop_count`` times), ``end``.
    record_period_s: the cycler's own logging period in this step.
    source: ``file:line:col`` of the protocol step it came from (for errors and the run file).
    """

    kind: str
    current_a: float | None = None
    voltage_v: float | None = None
    power_w: float | None = None
    ends: tuple[DelegatedEnd, ...] = ()
    record_period_s: float = 1.0
    loop_to: int | None = None
    loop_count: int | None = None
    source: str = ""
    #: The protocol step's index (``Step.index``) it runs, for mapping samples back to the plan.
    protocol_step: int = -1
    #: A soak run as a rest: the chamber setpoint (°C) the bench sets when the cycler enters the
    #: step (the chamber is the bench's, not the cycler's); None for every other step. A step-file
    #: writer ignores it.
    chamber_setpoint_c: float | None = None


@dataclass(frozen=True)
class DelegatedLimits:
    """The cycler-side safety limits written into the step file (the cycler's own protection,
    besides the bench's supervisor): V, A, °C."""

    voltage_max_v: float
    voltage_min_v: float
    current_max_a: float
    temperature_max_c: float | None = None


@dataclass(frozen=True)
class DelegatedProgram:
    """A protocol compiled for a cycler that runs its own steps."""

    name: str
    steps: tuple[DelegatedStep, ...]
    limits: DelegatedLimits
    #: Problems found while compiling (``file:line:col: message``); a program with any is refused.
    problems: tuple[str, ...] = field(default=())
