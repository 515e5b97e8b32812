"""The final observation after a delegated test finished on the cycler.

A live run ends every completed protocol with a final observation (output off, chamber held)
until the supervisor's rest rules have judged the last cycle (:mod:`bench.engine.final_watch`,
docs/safety.md "No short goes unjudged"). A delegated run does the same once the cycler reports
its test finished: the channel's output is off (the step file ended), the bench keeps reading
the channel's voltage (a finished Neware channel still measures it) and its own thermometer
every observation period, and the same judge and rules decide. The engine's own observation
routine runs it, through :class:`ObservationServices`, the few engine services it uses; the
observation window after a trip (the channel stopped) runs the engine's the same way.

Test time continues the cycler's clock: the last record's test time plus the bench-clock time
since (the cycler's own clock stops with its test). Units: s, V, A, °C.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, cast

from bench.engine.final_watch import final_observation
from bench.engine.trips import TripHandler
from bench.safety.supervisor import Trip
from bench.sample import Sample
from drivers.delegated.channel import ChannelSample

if TYPE_CHECKING:
    from bench.delegated.tracker import StepTracker
    from bench.engine.counters import _StepState
    from bench.engine.operator_control import OperatorControl
    from bench.engine.services import EngineServices
    from bench.instruments import Bench
    from bench.runfile.writer import RunWriter
    from bench.safety.supervisor import Supervisor
    from drivers.delegated.channel import DelegatedChannel
    from protocols.steps import Protocol as ProtocolSpec
    from protocols.steps import Step


class DelegatedRun(Protocol):
    """What this module uses of :class:`bench.delegated.runner.DelegatedRunner` (which imports this module)."""

    protocol: ProtocolSpec
    supervisor: Supervisor
    writer: RunWriter
    control: OperatorControl
    bench: Bench
    observe_s: float
    tracker: StepTracker
    channel: DelegatedChannel

    def now(self) -> float:
        """Test time of the last record, s."""
        ...

    def _temperatures_c(self) -> tuple[float, float]:
        """(cell, air) from the bench thermometer, °C."""
        ...


class ObservationServices:
    """What :func:`bench.engine.final_watch.final_observation` uses of an engine, over a
    delegated runner: ``acquire`` reads the finished channel and the bench's thermometer."""

    abuse = None

    def __init__(self, runner: DelegatedRun) -> None:
        self._runner = runner
        self.protocol = runner.protocol
        self.supervisor = runner.supervisor
        self.writer = runner.writer
        self.control = runner.control
        self.bench = runner.bench
        self._t_end = runner.now()
        self._clock_end = runner.bench.clock.now_s()
        self._row: tuple = ()
        #: For the observation window after a trip (bench.engine.trips.TripHandler.observe).
        self.observe_s = runner.observe_s
        self.t0 = self._clock_end - self._t_end
        self.chamber_setpoint_c = runner.tracker.chamber_setpoint_c
        self.output_on = False

    @property
    def step_count(self) -> int:
        """Executed steps (the observation counts as one, as in a live run)."""
        return self._runner.tracker.step_count

    @step_count.setter
    def step_count(self, value: int) -> None:
        self._runner.tracker.step_count = value

    def now(self) -> float:
        """Test time now, s: the cycler's last record plus the bench-clock time since."""
        return self._t_end + (self.bench.clock.now_s() - self._clock_end)

    def stop_output(self) -> None:
        """Nothing to do: the cycler's test is over, its output off."""

    def acquire(self, index: int, step: Step, state: _StepState) -> Sample:
        """One reading of the finished channel and the thermometer, counted like a record."""
        reading = self._runner.channel.latest()
        t_cell, t_air = self._runner._temperatures_c()
        record = ChannelSample(self.now(), reading.voltage_v, reading.current_a, reading.temperature_c, index, -1)
        tracker = self._runner.tracker
        tracker.state = state
        sample, self._row = tracker._sample(record, t_cell, t_air)
        tracker.last_record = record
        return sample

    def log_latest(self) -> None:
        """Append the run-file row of the last reading."""
        self.writer.append_sample_row(self._row)


def observe_after_the_trip(runner: DelegatedRun) -> None:
    """Keep logging the stopped channel and the thermometer through the observation window after
    a trip (``bench run --observe``, default 1 h), as a live run does (bench.engine.trips)."""
    if runner.observe_s <= 0:
        return
    services: Any = ObservationServices(runner)
    TripHandler(cast("EngineServices", services)).observe()


def observe_after_the_test(runner: DelegatedRun) -> Trip | None:
    """The final observation (see the module doc); a trip if a rule trips during it."""
    services: Any = ObservationServices(runner)
    return final_observation(cast("EngineServices", services))
