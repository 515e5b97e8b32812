"""The sample watchdog: a thread with its own wall-clock deadline, fed by every fresh sample.

If no sample reaches the supervisor for ``timeout_s`` wall seconds (a query hung on a dead link,
a stuck driver, a frozen engine), the watchdog turns the cycler output off itself, without
waiting for the stuck call, and hands a ``watchdog`` trip to the supervisor. The engine, when
(if) the stuck call returns, runs the full safe-state sequence and records the event.

The output-off path does not depend on the hung query: it *writes* ``output off`` on the
cycler's link from the watchdog thread. A write does not wait for the reply the stuck query is
waiting for, and the links in use are full duplex (TCP socket, USB-TMC bulk-out vs bulk-in,
RS-232 TX vs RX), so the command reaches the instrument even while the other thread blocks in
a read. Instrument-side protection (tier 1) still covers a dead PC.

Time is injectable (``monotonic``) so tests drive the watchdog's logic without sleeping:
:meth:`Watchdog.poll` is the whole decision, the thread only calls it at the deadline.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.safety.checks import LINK_GIVE_UP_S
from bench.safety.rules import Trip

logger = logging.getLogger(__name__)

#: Shortest automatic watchdog timeout, wall seconds.
WATCHDOG_MIN_S = 2.0
#: Automatic timeout on a virtual clock (no pacing: only a real hang stalls that long), s.
WATCHDOG_VIRTUAL_S = 10.0
#: The wall clock the run's watchdog reads (tests replace it with a hand-driven one).
MONOTONIC: Callable[[], float] = time.monotonic


def watchdog_timeout_s(period_s: float, clock: Any, configured_s: float = 0.0) -> float:
    """Wall seconds without a sample before the watchdog trips.

    ``configured_s`` > 0 wins; else three sampling periods in wall time (``period_s / speed``
    for a real or scaled clock), at least :data:`WATCHDOG_MIN_S`, and at least the time a driver
    takes to give up on a dropped link plus a period, in wall time, plus :data:`WATCHDOG_MIN_S`
    (so a link fault ends a run as an instrument failure, exit 4, not a watchdog trip); on a
    virtual clock :data:`WATCHDOG_VIRTUAL_S`.
    """
    if configured_s > 0:
        return configured_s
    speed = getattr(clock, "speed", None)
    if not speed:
        return WATCHDOG_VIRTUAL_S
    # a driver riding through a link fault (drivers.link_policy) holds a sample back that long:
    # the watchdog waits for it to give up (exit 4) rather than firing first (exit 3)
    ride_through_s = (LINK_GIVE_UP_S + period_s) / float(speed) + WATCHDOG_MIN_S
    return max(WATCHDOG_MIN_S, 3.0 * period_s / float(speed), ride_through_s)


@dataclass
class WatchdogFiring:
    """What the watchdog did when it fired: wall times (monotonic s) and the output-off result."""

    expired_at_s: float
    silence_s: float
    output_off_at_s: float = 0.0
    output_off_ok: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def latency_s(self) -> float:
        """Wall seconds from the deadline passing to the output-off command completing."""
        return max(0.0, self.output_off_at_s - self.expired_at_s)


class Watchdog:
    """Trips when :meth:`feed` has not been called for ``timeout_s`` (wall seconds).

    ``output_off``: called from the watchdog thread on expiry (must not wait on the hung link);
    ``on_trip``: receives the :class:`Trip` (e.g. ``Supervisor.external_trip``);
    ``test_time_s``: gives the run's test time for the trip record.
    """

    def __init__(
        self,
        timeout_s: float,
        *,
        output_off: Callable[[], None],
        on_trip: Callable[[Trip], None],
        test_time_s: Callable[[], float] = lambda: 0.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"watchdog timeout must be > 0 s, got {timeout_s}")
        self.timeout_s = float(timeout_s)
        self._output_off = output_off
        self._on_trip = on_trip
        self._test_time_s = test_time_s
        self._monotonic = monotonic
        self._last_feed = monotonic()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._poll_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.firing: WatchdogFiring | None = None
        #: Set once the watchdog has fired (after the output-off attempt and the trip hand-in).
        self.fired = threading.Event()
        #: Maps a sampling period (s) to a timeout (s); used by :meth:`set_period`.
        self.timeout_for: Callable[[float], float] | None = None

    def set_period(self, period_s: float) -> None:
        """A step with sampling period ``period_s`` starts: recompute the timeout (if automatic)."""
        if self.timeout_for is not None:
            self.timeout_s = self.timeout_for(period_s)

    # -- feeding (engine thread, every sample: must be cheap) --------------------------------------
    def feed(self) -> None:
        """A fresh sample arrived."""
        self._last_feed = self._monotonic()

    # -- decision ------------------------------------------------------------------------------------
    def remaining_s(self) -> float:
        """Wall seconds until the deadline (<= 0: expired)."""
        return self._last_feed + self.timeout_s - self._monotonic()

    def poll(self) -> bool:
        """Fire if the deadline has passed (once); returns True when it fired on this call."""
        if self.firing is not None:
            return False
        with self._poll_lock:
            now = self._monotonic()
            silence = now - self._last_feed
            if self.firing is not None or silence < self.timeout_s:
                return False
            self._fire(now, silence)
        return True

    def _fire(self, now: float, silence: float) -> None:
        firing = WatchdogFiring(expired_at_s=self._last_feed + self.timeout_s, silence_s=silence)
        self.firing = firing
        logger.error("WATCHDOG: no fresh sample for %.2f s (limit %.2f s): output off", silence, self.timeout_s)
        try:
            self._output_off()
            firing.output_off_ok = True
        except Exception as exc:  # noqa: BLE001 - report and still hand the trip in
            firing.errors.append(f"output off: {exc}")
            logger.error("watchdog: output off failed: %s", exc)
        firing.output_off_at_s = self._monotonic()
        try:
            test_time = self._test_time_s()
        except Exception:  # noqa: BLE001
            test_time = 0.0
        self._on_trip(Trip(
            "watchdog", test_time,
            f"no fresh sample for {silence:.2f} s (watchdog {self.timeout_s:g} s): output turned off by the watchdog",
            {"silence_s": silence, "timeout_s": self.timeout_s, "output_off_ok": float(firing.output_off_ok),
             "latency_wall_s": firing.latency_s}))
        self.fired.set()

    # -- thread ------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the watchdog thread (daemon); the deadline starts now."""
        if self._thread is not None:
            return
        self.feed()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="cellbench-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (returns when it has ended)."""
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)

    def wake(self) -> None:
        """Make the thread re-check the deadline now (tests with an injected clock use this)."""
        self._wake.set()

    @property
    def stopped(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stop.is_set()

    @property
    def running(self) -> bool:
        """True while the thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.poll() or self.firing is not None:
                return
            remaining = self.remaining_s()
            self._wake.wait(timeout=max(remaining, 0.001))
            self._wake.clear()


def start_watchdog(supervisor: Any, bench: Any, protocol: Any, test_time_s: Callable[[], float]) -> Watchdog:
    """Arm and start the run's watchdog: fed by ``supervisor.check``, trips into the supervisor.

    The timeout follows the step's sampling period (``Supervisor.begin_step`` updates it) unless
    ``limits.watchdog_s`` fixes it. The output-off path is a bare write on the cycler's link.
    A bench with a ``watchdog_host`` (:class:`bench.multichannel.scheduler.WatchdogHost`: one
    thread for every channel of a multi-channel bench) polls the watchdog there instead of a thread of its own.
    """
    from bench.safety.safe_state import emergency_output_off

    configured = float(getattr(protocol.limits, "watchdog_s", 0.0) or 0.0)
    clock = bench.clock

    def timeout_for(period_s: float) -> float:
        return watchdog_timeout_s(period_s, clock, configured)

    watchdog = Watchdog(timeout_for(protocol.period_s), output_off=lambda: emergency_output_off(bench),
                        on_trip=supervisor.external_trip, test_time_s=test_time_s, monotonic=MONOTONIC)
    watchdog.timeout_for = timeout_for
    supervisor.watchdog = watchdog
    host = getattr(bench, "watchdog_host", None)
    if host is not None:
        host.add(watchdog)
    else:
        watchdog.start()
    return watchdog
