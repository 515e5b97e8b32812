"""Multi-channel benches: one engine per cycler channel (each a task of one scheduler,
:mod:`bench.multichannel.scheduler`), sharing the clock, the chamber and the thermocouple meter(s).

The pieces each engine sees are ordinary roles, so :class:`bench.engine.core.Engine` runs unchanged:

* :class:`BarrierClock` / :class:`ChannelClock` - virtual time shared by N engines each in a
  thread of its own (``bench run`` now runs them on the scheduler, whose task clocks keep the same
  rule without a barrier: time jumps to the earliest deadline once no task can run). An engine's
  ``sleep()`` returns only when *every* live channel sleeps and time has reached its wake-up;
  time then jumps to the earliest wake-up. So no channel's time runs ahead of another's: all
  channels take their samples at the same virtual instants, and physics shared through the
  chamber sees the same time from every channel. (A real or scaled clock needs no barrier: each
  engine sleeps on the wall clock; :func:`channel_clocks` hands the shared clock out unchanged.)
* :class:`ChamberBarrier` / :class:`ChamberProxy` - the shared chamber. A soak step is a barrier:
  the engine's ``set_setpoint_c`` only records the request; its ``start()`` waits (sleeping on
  its channel clock, so time keeps moving for the others) until every live channel has reached
  the same soak step, then the last one to arrive sets the real chamber and all go on together.
* :class:`SharedThermometer` / :class:`ThermometerView` - one DAQ scan per sampling instant
  serves every channel wired to that meter; each channel's view returns (its cell surface,
  chamber air), as a single-channel thermometer does.

Chamber policy on a trip (``chamber_policy``):

* ``"when_all_tripped"`` (default): a tripped channel's own safe state turns its output off; it
  is released from every later chamber barrier and does not touch the shared chamber, so the
  other cells keep their test conditions. When every channel has tripped or failed, the chamber
  goes to the safe setpoint (the lower of its setpoint and 25 °C, as on a single-channel bench).
* ``"on_any_trip"``: the first trip sends the chamber to the safe setpoint for everyone (for
  benches where one cell's runaway risk outweighs the others' test conditions); the other
  channels keep running and their soak steps no longer change the chamber.

A channel whose engine ends (completed, failed, aborted) leaves the clock and the barriers.
Times are seconds (clock seconds), temperatures °C.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

CHAMBER_POLICIES = ("when_all_tripped", "on_any_trip")
#: Safe chamber setpoint, °C (as bench.safety.safe_state: never heats the cells).
SAFE_SETPOINT_C = 25.0
#: Wall seconds a waiting thread blocks before it re-checks (a bound, not a pacing sleep).
_WAIT_S = 0.5


class BarrierClock:
    """Virtual time for several engines: advances only when every participant sleeps.

    ``base`` is the underlying virtual clock (``now_s()``, ``set_now(t)``), shared with the
    simulated world. Participants are added with :meth:`join` (one :class:`ChannelClock` each)
    and removed with :meth:`ChannelClock.leave`.
    """

    def __init__(self, base: Any) -> None:
        self.base = base
        self._cond = threading.Condition()
        #: participant id -> wake-up time while it sleeps, None while it runs.
        self._wake: dict[int, float | None] = {}
        self._next_id = 0

    def now_s(self) -> float:
        """Virtual seconds (the base clock's)."""
        return self.base.now_s()

    def join(self) -> ChannelClock:
        """A new participant, running (time cannot pass it until it sleeps or leaves)."""
        with self._cond:
            pid = self._next_id
            self._next_id += 1
            self._wake[pid] = None
            return ChannelClock(self, pid)

    @property
    def participants(self) -> int:
        """Number of channels still on the clock."""
        with self._cond:
            return len(self._wake)

    def _sleep(self, pid: int, duration_s: float) -> None:
        cond = self._cond
        with cond:
            target = self.base.now_s() + duration_s
            self._wake[pid] = target
            self._advance()
            while self.base.now_s() < target and pid in self._wake:
                cond.wait(_WAIT_S)
            if pid in self._wake:
                self._wake[pid] = None

    def _leave(self, pid: int) -> None:
        with self._cond:
            self._wake.pop(pid, None)
            self._advance()

    def _advance(self) -> None:
        """With the lock held: if everyone sleeps, jump to the earliest wake-up and wake them."""
        if not self._wake:
            return
        earliest = math.inf
        for wake in self._wake.values():
            if wake is None:
                return  # someone is still working at the present instant
            earliest = min(earliest, wake)
        if earliest > self.base.now_s():
            self.base.set_now(earliest)
        self._cond.notify_all()


class ChannelClock:
    """One engine's view of a :class:`BarrierClock` (the ``Clock`` interface of the engine)."""

    def __init__(self, barrier: BarrierClock, pid: int) -> None:
        self.barrier = barrier
        self.pid = pid
        self.left = False

    def now_s(self) -> float:
        """Virtual seconds, the same for every channel."""
        return self.barrier.base.now_s()

    def sleep(self, duration_s: float) -> None:
        """Wait until every channel has reached ``now + duration_s`` (a zero or negative wait
        still lets the others catch up to the present instant)."""
        if self.left:
            raise RuntimeError("channel clock used after leave()")
        self.barrier._sleep(self.pid, max(0.0, duration_s))

    def leave(self) -> None:
        """This channel is done: time no longer waits for it."""
        if not self.left:
            self.left = True
            self.barrier._leave(self.pid)


def channel_clocks(clock: Any, channels: int) -> list[Any]:
    """Per-channel clocks: a :class:`BarrierClock` on a virtual clock (one with ``set_now`` and
    no ``speed``), else the shared real or scaled clock itself."""
    if hasattr(clock, "set_now") and not hasattr(clock, "speed"):
        barrier = BarrierClock(clock)
        return [barrier.join() for _ in range(channels)]
    return [clock] * channels


class PhaseGate:
    """Holds channel threads at a phase boundary until every channel has arrived or left.

    On a real-time bench the channels' set-up (identify, run file) and wrap-up (report) are
    CPU work that would otherwise overlap other channels' sampling and make their samples late;
    with a gate before sampling and one after it, every channel samples while no channel does
    either. Each party calls :meth:`arrive` or :meth:`leave` exactly once (``leave`` on failure).
    """

    def __init__(self, parties: int, timeout_s: float | None = None) -> None:
        self.parties = parties
        self.pending = parties
        self.timeout_s = timeout_s
        self._cond = threading.Condition()

    def arrive(self) -> bool:
        """Wait for the others (up to ``timeout_s``); False if it timed out."""
        with self._cond:
            self.pending -= 1
            self._cond.notify_all()
            return self._cond.wait_for(lambda: self.pending <= 0, self.timeout_s)

    def leave(self) -> None:
        """This channel will not arrive (it failed): nobody waits for it."""
        with self._cond:
            self.pending -= 1
            self._cond.notify_all()


class ChamberBarrier:
    """The shared chamber and its soak barriers. Thread-safe; every chamber call holds the lock."""

    def __init__(self, chamber: Any, channels: int, *, policy: str = "when_all_tripped",
                 safe_setpoint_c: float = SAFE_SETPOINT_C) -> None:
        if policy not in CHAMBER_POLICIES:
            raise ValueError(f"chamber policy {policy!r}: choose one of {', '.join(CHAMBER_POLICIES)}")
        self.chamber = chamber
        self.policy = policy
        self.safe_setpoint_c = safe_setpoint_c
        self.lock = threading.RLock()
        self._cond = threading.Condition(self.lock)
        self.channels = channels
        self.live = set(range(channels))
        self.tripped: set[int] = set()
        self.arrived: dict[int, int] = {n: 0 for n in range(channels)}
        self.requested: dict[int, float] = {}
        self.setpoint_c: float | None = None
        #: Barrier generations already applied to the real chamber.
        self.applied = 0
        self.safed = False
        self.log: list[tuple[str, int, float | None]] = []

    def proxy(self, channel: int, *, clock: Any, poll_s: float, tripped: Callable[[], bool],
              keepalive: Callable[[], None] | None = None) -> ChamberProxy:
        """The ThermalChamber role for ``channel``."""
        return ChamberProxy(self, channel, clock=clock, poll_s=poll_s, tripped=tripped, keepalive=keepalive)

    # -- called by proxies -------------------------------------------------------------------
    def request(self, channel: int, temperature_c: float) -> None:
        with self.lock:
            self.requested[channel] = float(temperature_c)

    def arrive(self, channel: int) -> int:
        """Channel reached its next soak start; returns the barrier generation it waits for."""
        with self.lock:
            self.arrived[channel] += 1
            generation = self.arrived[channel]
            self._maybe_apply()
            return generation

    def released(self, generation: int) -> bool:
        with self.lock:
            return self.applied >= generation or self.safed

    def release(self, channel: int, *, tripped: bool) -> None:
        """``channel`` leaves the barriers (its run ended, or it tripped)."""
        with self.lock:
            if channel not in self.live:
                return
            self.live.discard(channel)
            if tripped:
                self.tripped.add(channel)
            self.log.append(("tripped" if tripped else "ended", channel, None))
            if tripped and self.policy == "on_any_trip":
                self._safe(f"channel {channel} tripped (policy on_any_trip)")
            elif tripped and len(self.tripped) == self.channels:
                self._safe("every channel tripped or failed")
            else:
                self._maybe_apply()
            self._cond.notify_all()

    def safe_request(self, channel: int) -> float | None:
        """A tripped channel's safe-state sequence asked for the safe setpoint."""
        with self.lock:
            if channel in self.live:
                self.release(channel, tripped=True)
            return self.setpoint_c

    # -- internals ---------------------------------------------------------------------------
    def _maybe_apply(self) -> None:
        """With the lock held: if every live channel arrived at the next barrier, set the chamber."""
        if self.safed:
            return
        generation = self.applied + 1
        if not self.live or any(self.arrived[n] < generation for n in self.live):
            return
        wanted = {self.requested[n] for n in self.live if n in self.requested}
        if not wanted:
            self.applied = generation
            return
        target = min(wanted)
        if len(wanted) > 1:
            logger.warning("chamber barrier %d: channels asked for %s °C; using the lowest, %.1f °C",
                           generation, sorted(wanted), target)
        self.chamber.set_setpoint_c(target)
        self.chamber.start()
        self.setpoint_c = target
        self.applied = generation
        self.log.append(("soak", generation, target))
        logger.info("chamber barrier %d released: %d channels, setpoint %.1f °C", generation, len(self.live), target)
        self._cond.notify_all()

    def _safe(self, why: str) -> None:
        if self.safed:
            return
        target = self.safe_setpoint_c if self.setpoint_c is None else min(self.setpoint_c, self.safe_setpoint_c)
        try:
            self.chamber.set_setpoint_c(target)
        except Exception:  # noqa: BLE001 - report, the channels are already safed
            logger.exception("shared chamber: safe setpoint failed")
        self.setpoint_c = target
        self.safed = True
        self.log.append(("safe", -1, target))
        logger.warning("shared chamber to the safe setpoint %.1f °C: %s", target, why)
        self._cond.notify_all()


class ChamberProxy:
    """The ThermalChamber role one engine gets on a multi-channel bench (see the module doc)."""

    def __init__(self, barrier: ChamberBarrier, channel: int, *, clock: Any, poll_s: float,
                 tripped: Callable[[], bool], keepalive: Callable[[], None] | None = None) -> None:
        self.barrier = barrier
        self.channel = channel
        self.clock = clock
        self.poll_s = poll_s
        self.tripped = tripped
        self.keepalive = keepalive
        self.name = getattr(barrier.chamber, "name", "chamber")
        self.setpoint_range_c = getattr(barrier.chamber, "setpoint_range_c", (-70.0, 180.0))

    def verify_identity(self) -> str:
        """The shared chamber's identity."""
        with self.barrier.lock:
            return self.barrier.chamber.verify_identity()

    def set_setpoint_c(self, temperature_c: float) -> None:
        """Soak request (applied at the barrier in :meth:`start`), or, once this channel has
        tripped, its safe-state request (handled by the chamber policy)."""
        if self.tripped():
            self.barrier.safe_request(self.channel)
            return
        self.barrier.request(self.channel, temperature_c)

    def start(self) -> None:
        """Wait at the soak barrier until every live channel has arrived; time goes on meanwhile."""
        generation = self.barrier.arrive(self.channel)
        while True:  # every channel (the releasing one too) goes on at the same next tick
            if self.keepalive is not None:
                self.keepalive()
            self.clock.sleep(self.poll_s)
            if self.barrier.released(generation):
                return

    def stop(self) -> None:
        """Channels never stop the shared chamber (standby is the operator's decision)."""
        logger.info("channel %d: chamber stop request ignored (shared chamber)", self.channel)

    def read_air_c(self) -> float:
        """Chamber air temperature, °C."""
        with self.barrier.lock:
            return self.barrier.chamber.read_air_c()

    def alarm(self) -> str:
        """The shared chamber's alarm text."""
        with self.barrier.lock:
            return self.barrier.chamber.alarm()

    def __getattr__(self, name: str) -> Any:
        # Driver extras (e.g. setpoint read-back) pass through to the real chamber.
        return getattr(self.barrier.chamber, name)


class SharedThermometer:
    """One thermocouple meter scanned once per sampling instant for every channel wired to it.

    ``air_channel``: the meter channel on the chamber air. ``max_age_s``: a scan younger than this
    (clock seconds) is reused; channels sampling at the same instant share one scan.
    """

    def __init__(self, meter: Any, clock: Any, *, air_channel: int | None, max_age_s: float) -> None:
        self.meter = meter
        self.clock = clock
        self.air_channel = air_channel
        self.max_age_s = max_age_s
        self.lock = threading.Lock()
        self.scan: tuple[int, ...] = ()
        self._index: dict[int, int] = {}
        self._values: list[float] = []
        self._scan_time_s = -math.inf
        self.scans = 0

    def configure(self, channels: tuple[int, ...]) -> None:
        """Make sure ``channels`` are in the scan list (reconfigures the meter only if needed)."""
        with self.lock:
            missing = [c for c in channels if c not in self._index]
            if not missing and self.scan:
                return
            scan = tuple(self.scan) + tuple(c for c in dict.fromkeys(missing) if c not in self.scan)
            self.meter.configure(scan)
            self.scan = scan
            self._index = {c: i for i, c in enumerate(scan)}
            self._scan_time_s = -math.inf

    def read(self, channels: tuple[int, ...]) -> list[float]:
        """Temperatures of ``channels``, °C, from a fresh or shared scan."""
        with self.lock:
            now = self.clock.now_s()
            if now - self._scan_time_s > self.max_age_s:
                self._values = self.meter.read_c()
                self._scan_time_s = now
                self.scans += 1
            values = self._values
            return [values[self._index[c]] for c in channels]

    def view(self, channels: tuple[int, ...]) -> ThermometerView:
        """The TemperatureMeter role of one channel."""
        return ThermometerView(self, channels)


class ThermometerView:
    """The TemperatureMeter role one engine gets: its own channels out of a shared scan."""

    def __init__(self, shared: SharedThermometer, channels: tuple[int, ...]) -> None:
        self.shared = shared
        self.channels = tuple(channels)
        self.name = getattr(shared.meter, "name", "thermometer")

    def verify_identity(self) -> str:
        """The shared meter's identity."""
        with self.shared.lock:
            return self.shared.meter.verify_identity()

    def configure(self, channels: tuple[int, ...]) -> None:
        """Read ``channels`` (added to the shared scan if new)."""
        self.channels = tuple(channels)
        self.shared.configure(self.channels)

    def read_c(self) -> list[float]:
        """One reading per channel of this view, °C (``nan`` for an open thermocouple)."""
        return self.shared.read(self.channels)
