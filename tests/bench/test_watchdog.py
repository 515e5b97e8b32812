"""The sample watchdog: its decision with a hand-driven clock, its thread, and a hung query on the
simulated bench (the production Keithley driver over the in-process VISA library)."""

from __future__ import annotations

import threading

import pytest

import bench.safety.watchdog as watchdog_module
from bench.engine.core import Engine, RunStatus
from bench.engine.runner import run_attributes
from bench.runfile.reader import RunFile
from bench.runfile.writer import RunWriter
from bench.safety.checks import LINK_GIVE_UP_S
from bench.safety.rules import Trip
from bench.safety.watchdog import Watchdog, watchdog_timeout_s
from bench.simulated.builtin_bench import build_sim_bench, cell_datasheet
from drivers.errors import InstrumentTimeout
from protocols.loader import parse_protocol

WAIT_S = 10.0  # bound on waiting for another thread (never reached when things work)


class HandClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(timeout_s: float = 2.0, *, fail_off: bool = False):
    clock = HandClock()
    offs: list[float] = []
    trips: list[Trip] = []

    def output_off() -> None:
        offs.append(clock.now)
        if fail_off:
            raise OSError("link down")

    dog = Watchdog(timeout_s, output_off=output_off, on_trip=trips.append, test_time_s=lambda: 42.0,
                   monotonic=clock)
    return dog, clock, offs, trips


def test_fires_once_after_the_timeout_without_a_feed():
    dog, clock, offs, trips = make(2.0)
    clock.now += 1.9
    assert not dog.poll() and not offs
    dog.feed()
    clock.now += 1.9
    assert not dog.poll()  # fed in time: the deadline moved
    clock.now += 0.2
    assert dog.poll()
    assert offs == [clock.now] and len(trips) == 1
    trip = trips[0]
    assert trip.rule == "watchdog" and trip.time_s == 42.0 and trip.values["silence_s"] == pytest.approx(2.1)
    clock.now += 10
    assert not dog.poll() and len(trips) == 1  # latched: once


def test_a_failed_output_off_is_reported_and_still_trips():
    dog, clock, offs, trips = make(1.0, fail_off=True)
    clock.now += 1.5
    assert dog.poll()
    assert dog.firing.errors and not dog.firing.output_off_ok
    assert trips[0].values["output_off_ok"] == 0.0


def test_thread_fires_on_its_own_deadline():
    dog, clock, offs, trips = make(5.0)
    dog.start()
    try:
        assert dog.running
        clock.now += 4.0
        dog.wake()  # early: the thread checks and goes back to waiting
        assert not dog.poll() and not offs
        clock.now += 1.5
        dog.wake()
        assert dog.fired.wait(WAIT_S)
        assert len(offs) == 1 and trips[0].rule == "watchdog"
    finally:
        dog.stop()
    assert not dog.running


def test_automatic_timeouts():
    class Scaled:
        speed = 10.0

    class Virtual:
        pass

    # at least the time a driver takes to give up on a dropped link (+ a period), in wall time,
    # plus the minimum: a link fault ends a run as an instrument failure, not a watchdog trip
    give_up_s = LINK_GIVE_UP_S
    assert watchdog_timeout_s(0.1, Scaled()) == pytest.approx((give_up_s + 0.1) / 10.0 + watchdog_module.WATCHDOG_MIN_S)
    assert watchdog_timeout_s(60.0, Scaled()) == 18.0
    for speed in (1.0, 10.0, 100.0):
        for period in (0.01, 0.1, 1.0, 10.0):
            class Clock:
                pass
            Clock.speed = speed
            assert watchdog_timeout_s(period, Clock()) > (give_up_s + period) / speed
    assert watchdog_timeout_s(1.0, Virtual()) == watchdog_module.WATCHDOG_VIRTUAL_S
    assert watchdog_timeout_s(1.0, Virtual(), configured_s=0.5) == 0.5


class HangingTransport:
    """Wraps the cycler's real transport: the chosen query reaches the instrument, then its reply
    never comes back until the test lets go (then it times out, as a real link would)."""

    def __init__(self, inner, hang_on: str, after: int) -> None:
        self.inner = inner
        self.resource = inner.resource
        self.hang_on = hang_on
        self.after = after
        self.hung = threading.Event()
        self.release = threading.Event()

    def write(self, message: str) -> None:
        self.inner.write(message)

    def query(self, message: str) -> str:
        if message.startswith(self.hang_on):
            self.after -= 1
            if self.after < 0:
                self.inner.write(message)  # the instrument gets it; its reply is lost
                self.hung.set()
                self.release.wait(WAIT_S)
                raise InstrumentTimeout(f"{self.resource}: no reply to {message!r} (timeout)")
        return self.inner.query(message)

    def clear(self) -> None:
        self.inner.clear()

    def close(self) -> None:
        self.inner.close()


def test_a_hung_query_does_not_disable_safety(tmp_path, monkeypatch):
    clock = HandClock()
    monkeypatch.setattr(watchdog_module, "MONOTONIC", clock)
    protocol = parse_protocol("name: hang\ncell: {preset: nmc_21700}\nlimits: {watchdog_s: 3}\n"
                              "steps: [Discharge at 1C for 10 minutes]\n", cell_defaults=cell_datasheet)
    bench = build_sim_bench("nmc_21700", soc=0.8)
    source = bench.simulation.world.channels[0].source
    hanging = HangingTransport(bench.cycler.transport, ":READ?", after=30)
    bench.cycler.transport = hanging
    writer = RunWriter(tmp_path / "hang.h5", run_attributes(protocol, bench, {}))
    engine = Engine(protocol, bench, writer, observe_s=0.0)
    result: list = []
    worker = threading.Thread(target=lambda: result.append(engine.run()), daemon=True)
    try:
        worker.start()
        assert hanging.hung.wait(WAIT_S), "the query never hung"
        assert source.output_on  # discharging, and the engine is stuck in :READ?
        dog = engine.supervisor.watchdog
        clock.now += 3.5  # three and a half wall seconds without a sample
        dog.wake()
        assert dog.fired.wait(WAIT_S)
        assert not source.output_on  # turned off by the watchdog while the engine still hangs
        assert worker.is_alive()
        hanging.release.set()
        worker.join(WAIT_S)
    finally:
        hanging.release.set()
        writer.close()
        bench.close()
    (outcome,) = result
    assert outcome.status is RunStatus.SAFETY_TRIP and outcome.trip.rule == "watchdog"
    with RunFile(tmp_path / "hang.h5") as run:
        trips = [e for e in run.events if e["kind"] == "safety_trip"]
    assert len(trips) == 1 and trips[0]["data"]["rule"] == "watchdog"
    assert trips[0]["data"]["values"]["output_off_ok"] == 1.0
    assert trips[0]["data"]["values"]["silence_s"] >= 3.0
