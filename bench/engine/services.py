"""What the engine's collaborators (step kinds, trip handler, journal) may use of the engine.

A structural interface: :class:`bench.engine.core.Engine` satisfies it, and the collaborators
depend on this module, never on the engine's, so the engine is composed of parts that do not
import it back. Times are test time in seconds unless a name says ``clock``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bench.engine.counters import _Counters, _StepState
    from bench.engine.operator_control import OperatorControl
    from bench.engine.run_phase import RunStateMachine
    from bench.instruments import Bench
    from bench.runfile.writer import RunWriter
    from bench.safety.abuse import AbuseTest
    from bench.safety.supervisor import Supervisor
    from bench.sample import Sample
    from protocols.plan import PlanContext, PlannedStep, StepResult
    from protocols.steps import Protocol as ProtocolSpec
    from protocols.steps import Step


class EngineServices(Protocol):
    """The engine's state and per-sample operations shared with its collaborators."""

    protocol: ProtocolSpec
    bench: Bench
    writer: RunWriter
    supervisor: Supervisor
    control: OperatorControl
    abuse: AbuseTest | None
    observe_s: float
    run_state: RunStateMachine
    counters: _Counters
    step_count: int
    steps_done: int
    spectra: int
    #: Clock time (s) of test time 0, and the Unix time (s) of test time 0.
    t0: float
    unix0: float
    output_on: bool
    chamber_setpoint_c: float | None
    last: Sample | None
    active: tuple[PlannedStep, _StepState] | None
    plan_ctx: PlanContext | None

    def now(self) -> float:
        """Test time now (s)."""
        ...

    def acquire(self, index: int, step: Step, state: _StepState) -> Sample:
        """Read the instruments once; leaves the sample's run-file row for :meth:`log_latest`."""
        ...

    def log_latest(self) -> None:
        """Append the run-file row of the latest sample."""
        ...

    def apply(self, step: Step) -> None:
        """Apply a step's setpoints (cycler, chamber)."""
        ...

    def stop_output(self) -> None:
        """Cycler output off (if on)."""
        ...

    def end_step(self, planned: PlannedStep, state: _StepState, sample: Sample, reason: str,
                 extra: dict[str, float] | None = None) -> StepResult:
        """Record a finished step."""
        ...
