"""One scheduler for every channel engine of a multi-channel bench (issue 31 item 4).

Each channel's work (set-up, ``Engine.run()``, report) runs as a *task*: a greenlet on the
scheduler's thread. The engine is unchanged: it sleeps on its clock, and a task's clock
(:class:`TaskClock`) turns ``sleep(d)`` into "wake me at now + d" - the task parks in a heap of
deadlines and the scheduler switches to the task due first. N engines cost one thread, not N.

Time:

* virtual clock (``set_now``, no ``speed``): when no task can run, time jumps to the earliest
  deadline (ties in the order the tasks went to sleep). Instrument calls run inline (the simulated
  instruments answer at once), so a run is deterministic and each channel's samples fall at the
  instants its own protocol asks for, whatever the other channels do. A link fault that holds a
  reply back (a *delay* on the wire) sleeps on the waiting channel's clock: only that channel waits.
* real or scaled clock (``speed``): the scheduler waits on the wall clock for the earliest deadline.
  Instrument I/O is blocking (pyvisa), so every call a task makes on its cycler and thermometer
  goes to a small, bounded pool of I/O threads (:class:`Offloaded`, at most one request in flight
  per channel); the task parks until its reply is back while the other channels' deadlines proceed.
  A channel whose instrument is slow is late (its lateness is counted in :class:`TaskStats`); its
  safety is the sample watchdog's, as on a single-channel bench (one :class:`WatchdogHost` thread
  serves every channel's watchdog).

File work is second to sampling: a task about to flush its run file calls :meth:`TaskClock.defer`
and parks in a background queue that the scheduler serves only while no task is due (at most
:data:`DEFER_MAX_S` later). h5py holds the GIL through its HDF5 calls, so a flush on another thread
would stop this thread just the same (measured: docs/architecture.md); on this thread it runs in
the gaps between due samples instead. On a virtual clock deferred work runs at the present
instant, before time moves on: sample times are the same with or without it.

Ctrl-C (``KeyboardInterrupt`` in the scheduler) is thrown into every live task: each engine takes
its operator-abort path (output off, run file closed).
Times are clock seconds unless they say wall.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import greenlet

logger = logging.getLogger(__name__)

#: Default number of I/O threads on a real-time clock (a bound: a slow instrument holds one).
IO_WORKERS = 8
#: A task waking this much after its deadline (clock s) counts as late in :class:`TaskStats`.
LATE_S = 0.1
#: A deferred task (:meth:`ChannelScheduler.defer`) that has waited this long (clock s) may run
#: while other tasks are due (deferred work is never starved for good) ...
DEFER_MAX_S = 0.5
#: ... one such task every this many clock s (a backlog of deferred flushes, e.g. every channel's
#: last flush at the end of a run, takes a few percent of the thread, not all of it).
DEFER_FORCE_GAP_S = 0.1


@dataclass
class TaskStats:
    """One task's timing on a real-time clock: wake-ups, late ones (> :data:`LATE_S`), worst lateness (s)."""

    wakes: int = 0
    late: int = 0
    worst_late_s: float = 0.0


class Task:
    """One channel's work on the scheduler (see :meth:`ChannelScheduler.spawn`)."""

    def __init__(self, scheduler: ChannelScheduler, index: int, name: str, target: Callable[[], None]) -> None:
        self.scheduler = scheduler
        self.index = index
        self.name = name
        self.target = target
        self.glet: greenlet.greenlet | None = None
        self.done = False
        self.error: BaseException | None = None
        self.stats = TaskStats()
        #: Deadline (clock s) the task is parked until; None while it runs or waits for I/O.
        self.wake_s: float | None = None
        #: Sequence number of the heap entry that resumes the task (older entries are stale).
        self.ticket = -1
        #: True while the task waits for an I/O thread's reply.
        self.io_wait = False
        #: Set by an operator abort while the task waits for I/O: raised when the reply is back.
        self.aborting = False
        self.clock = TaskClock(scheduler, self)

    def _body(self, *_: Any) -> None:
        try:
            self.target()
        except BaseException as exc:  # noqa: BLE001 - recorded; one task's failure never stops the others
            self.error = exc
            if not isinstance(exc, (KeyboardInterrupt, greenlet.GreenletExit)):
                logger.exception("task %s failed", self.name)
        finally:
            self.done = True


class TaskClock:
    """The ``Clock`` a channel's engine gets: the scheduler's time; ``sleep`` parks the task.

    Called from another thread (an I/O thread where a driver rides through a link fault, the
    watchdog), ``sleep`` sleeps on the underlying clock: it only delays that call."""

    def __init__(self, scheduler: ChannelScheduler, task: Task) -> None:
        self.scheduler = scheduler
        self.task = task
        self.base = scheduler.base
        speed = getattr(scheduler.base, "speed", None)
        if speed is not None:
            self.speed = speed

    def now_s(self) -> float:
        """The bench clock's seconds."""
        return self.base.now_s()

    def sleep(self, duration_s: float) -> None:
        """Park this task until ``now + duration_s`` (other tasks run meanwhile)."""
        if greenlet.getcurrent() is self.task.glet:
            self.scheduler._park(self.task, self.base.now_s() + max(0.0, duration_s))
        else:
            self.base.sleep(duration_s)

    def defer(self, last: bool = False) -> None:
        """Let every due task run first (see :meth:`ChannelScheduler.defer`); a no-op outside the task."""
        if greenlet.getcurrent() is self.task.glet:
            self.scheduler.defer(self.task, last)

    def leave(self) -> None:
        """Nothing to do: a finished task leaves the heap by itself."""


class ChannelScheduler:
    """Runs tasks on one thread from a heap of deadlines; blocking I/O goes to ``io_workers`` threads.

    ``clock``: the bench clock (virtual: ``now_s``/``set_now``; real or scaled: ``now_s``/``sleep``
    and ``speed``). ``io_workers``: None = :data:`IO_WORKERS` on a real-time clock, 0 on a virtual one.
    """

    def __init__(self, clock: Any, *, io_workers: int | None = None) -> None:
        self.base = clock
        self.virtual = hasattr(clock, "set_now") and not hasattr(clock, "speed")
        self.speed = float(getattr(clock, "speed", 1.0) or 1.0)
        workers = (0 if self.virtual else IO_WORKERS) if io_workers is None else io_workers
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="channel-io") if workers > 0 else None
        self.tasks: list[Task] = []
        self._heap: list[tuple[float, int, Task]] = []
        #: Deferred tasks (:meth:`defer`), oldest first: (parked at, clock s; ticket; task); those
        #: deferred with ``last`` (work after a channel's sampling) wait in the second queue.
        self._idle: deque[tuple[float, int, Task]] = deque()
        self._idle_last: deque[tuple[float, int, Task]] = deque()
        #: Number of :meth:`defer` calls (deferred file work), and how many ran because they had
        #: waited :data:`DEFER_MAX_S` while tasks were due.
        self.deferred = 0
        self.deferred_forced = 0
        self._forced_s = -float("inf")
        self._seq = itertools.count()
        self._hub: greenlet.greenlet | None = None
        self._done: queue.SimpleQueue[tuple[Task, Future[Any]]] = queue.SimpleQueue()
        self.in_flight = 0
        #: greenlet -> its task, while :meth:`run` runs.
        self._by_glet: dict[greenlet.greenlet, Task] = {}

    @property
    def offloads(self) -> bool:
        """True when tasks' instrument calls go to I/O threads (a real-time clock)."""
        return self._pool is not None

    # -- tasks ---------------------------------------------------------------------------------
    def spawn(self, target: Callable[[], None], name: str = "") -> Task:
        """A task running ``target()`` (it starts when :meth:`run` runs, in spawn order)."""
        task = Task(self, len(self.tasks), name or f"task-{len(self.tasks)}", target)
        self.tasks.append(task)
        return task

    def current(self) -> Task | None:
        """The task running now (None outside the tasks, e.g. on an I/O thread)."""
        return self._by_glet.get(greenlet.getcurrent())

    def _push(self, task: Task, wake_s: float) -> None:
        task.ticket = seq = next(self._seq)
        heapq.heappush(self._heap, (wake_s, seq, task))

    def _park(self, task: Task, wake_s: float) -> None:
        task.wake_s = wake_s
        self._push(task, wake_s)
        assert self._hub is not None
        self._hub.switch()

    def defer(self, task: Task, last: bool = False) -> None:
        """Park ``task`` (the running one) until no task is due: low-priority work such as a run
        file flush then runs in the gaps between other channels' samples (after waiting
        :data:`DEFER_MAX_S`, one every :data:`DEFER_FORCE_GAP_S` even while tasks are due). On a
        virtual clock it runs at the present instant, after the tasks due at it. ``last``: work
        after the channel has stopped sampling (its final flush): it waits for every other
        deferred task too (a still-sampling channel's flush is not queued behind hundreds of those)."""
        task.wake_s = None
        task.ticket = seq = next(self._seq)
        (self._idle_last if last else self._idle).append((self.base.now_s(), seq, task))
        self.deferred += 1
        assert self._hub is not None
        self._hub.switch()

    def wait_on(self, task: Task) -> None:
        """Park ``task`` (the running one) with no deadline, until :meth:`wake` is called for it."""
        task.wake_s = None
        task.ticket = -1
        assert self._hub is not None
        self._hub.switch()

    def wake(self, task: Task) -> None:
        """Make a task parked by :meth:`wait_on` runnable at the present instant."""
        self._push(task, self.base.now_s())

    # -- blocking I/O ----------------------------------------------------------------------------
    def call_io(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)``: on an I/O thread when called from a task and the scheduler has
        I/O threads (the task parks until the reply is back), else inline."""
        pool = self._pool
        if pool is None:
            return fn(*args, **kwargs)
        task = self._by_glet.get(greenlet.getcurrent())
        if task is None:
            return fn(*args, **kwargs)
        future = pool.submit(fn, *args, **kwargs)
        self.in_flight += 1
        done = self._done
        future.add_done_callback(lambda f: done.put((task, f)))
        task.wake_s = None
        task.ticket = -1
        task.io_wait = True
        assert self._hub is not None
        try:
            self._hub.switch()
        finally:
            task.io_wait = False
        if task.aborting:
            task.aborting = False
            raise KeyboardInterrupt
        return future.result()

    # -- the loop --------------------------------------------------------------------------------
    def run(self) -> None:
        """Run every task to its end (returns when all are done)."""
        self._hub = greenlet.getcurrent()
        now = self.base.now_s()
        for task in self.tasks:
            task.glet = greenlet.greenlet(task._body, parent=self._hub)
            self._by_glet[task.glet] = task
            self._push(task, now)
        _RUNNING.append(self)
        try:
            self._loop()
        except KeyboardInterrupt:
            logger.warning("operator abort: every channel aborts")
            self._abort_all()
            self._loop()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
            _RUNNING.remove(self)
            self._by_glet.clear()
            self._hub = None

    def _abort_all(self) -> None:
        for task in [t for t in self.tasks if not t.done and t.glet is not None]:
            glet = task.glet
            assert glet is not None
            if task.io_wait:  # raised when its reply is back
                task.aborting = True
                continue
            task.ticket, task.wake_s = -1, None
            if not glet:  # never started: nothing to abort, nothing to report
                task.done = True
                glet.throw(greenlet.GreenletExit)
                continue
            glet.throw(KeyboardInterrupt)

    def _loop(self) -> None:
        heap, done, base, idle_first, idle_last = self._heap, self._done, self.base, self._idle, self._idle_last
        while heap or self.in_flight or idle_first or idle_last:
            while self.in_flight:  # replies first: those tasks have waited longest
                try:
                    task, future = done.get_nowait()
                except queue.Empty:
                    break
                self.in_flight -= 1
                self._switch(task, future)
            for queued in (idle_first, idle_last):
                while queued and (queued[0][2].done or queued[0][1] != queued[0][2].ticket):
                    queued.popleft()  # stale: the task was aborted
            idle = idle_first or idle_last
            now = base.now_s()
            if idle and (not heap or heap[0][0] > now or (
                    now - idle[0][0] >= DEFER_MAX_S and now - self._forced_s >= DEFER_FORCE_GAP_S)):
                # deferred work: nothing is due (or it has waited long enough, and its turn has come)
                if heap and heap[0][0] <= now:
                    self.deferred_forced += 1
                    self._forced_s = now
                self._switch(idle.popleft()[2], None)
                continue
            if not heap:
                if self.in_flight:
                    task, future = done.get()
                    self.in_flight -= 1
                    self._switch(task, future)
                continue
            wake_s = heap[0][0]
            if wake_s > now:
                if self.virtual:
                    base.set_now(wake_s)
                elif self.in_flight:
                    try:
                        task, future = done.get(timeout=(wake_s - now) / self.speed)
                    except queue.Empty:
                        continue
                    self.in_flight -= 1
                    self._switch(task, future)
                    continue
                else:
                    time.sleep((wake_s - now) / self.speed)
                    continue
            _, seq, task = heapq.heappop(heap)
            if task.done or seq != task.ticket:
                continue  # a stale entry (the task was aborted or re-parked)
            if not self.virtual and task.wake_s is not None:
                late = base.now_s() - task.wake_s
                stats = task.stats
                stats.wakes += 1
                if late > LATE_S:
                    stats.late += 1
                if late > stats.worst_late_s:
                    stats.worst_late_s = late
            self._switch(task, None)

    def _switch(self, task: Task, value: Any) -> None:
        task.wake_s, task.ticket = None, -1
        glet = task.glet
        assert glet is not None
        if not glet.dead:
            glet.switch(value)


#: Schedulers whose :meth:`ChannelScheduler.run` is running (on any thread).
_RUNNING: list[ChannelScheduler] = []


def task_sleep(duration_s: float, fallback: Callable[[float], None] | None = None) -> None:
    """Sleep ``duration_s`` on the clock of the task calling (only that channel waits); outside a
    task, ``fallback(duration_s)`` (nothing when None). For waits deep in an instrument link, e.g.
    the simulated VISA library waiting for a held-back reply (``SimVisaLibrary.wait``)."""
    for scheduler in _RUNNING:
        task = scheduler.current()
        if task is not None:
            task.clock.sleep(duration_s)
            return
    if fallback is not None:
        fallback(duration_s)


class Offloaded:
    """An instrument role whose method calls go through :meth:`ChannelScheduler.call_io`
    (attributes that are not methods pass through)."""

    def __init__(self, target: Any, scheduler: ChannelScheduler) -> None:
        self._target = target
        self._scheduler = scheduler

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr
        call_io = self._scheduler.call_io

        def call(*args: Any, **kwargs: Any) -> Any:
            return call_io(attr, *args, **kwargs)

        call.__name__ = name
        self.__dict__[name] = call  # bound once per role and method
        return call


class WatchdogHost:
    """One thread polling every channel's sample watchdog (instead of a thread per channel).

    :func:`bench.safety.watchdog.start_watchdog` hands a watchdog here when the bench has a
    ``watchdog_host``; a watchdog leaves when it is stopped or has fired. ``poll_s``: wall seconds
    between polls (the trip comes at most that late after the watchdog's timeout, >= 2 s)."""

    def __init__(self, poll_s: float = 0.25) -> None:
        self.poll_s = poll_s
        self._lock = threading.Lock()
        self._dogs: list[Any] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, watchdog: Any) -> None:
        """Poll ``watchdog`` from now on (its deadline starts now)."""
        watchdog.feed()
        with self._lock:
            self._dogs.append(watchdog)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="cellbench-watchdogs", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        """Stop the polling thread."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(5.0)

    @property
    def watched(self) -> int:
        """Number of watchdogs polled."""
        with self._lock:
            return len(self._dogs)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            with self._lock:
                dogs = list(self._dogs)
            gone = [dog for dog in dogs if dog.stopped or dog.poll() or dog.firing is not None]
            if gone:
                with self._lock:
                    self._dogs = [dog for dog in self._dogs if dog not in gone]


class TaskGate:
    """:class:`bench.multichannel.sharing.PhaseGate` for tasks: ``arrive`` parks the task until
    every party has arrived or left (the last to arrive wakes the others)."""

    def __init__(self, scheduler: ChannelScheduler, parties: int, label: str = "") -> None:
        self.scheduler = scheduler
        self.parties = parties
        self.label = label
        self.pending = parties
        self._waiting: list[Task] = []

    def arrive(self) -> bool:
        """Wait for the others; always True (every party arrives or leaves on the one thread)."""
        self.pending -= 1
        if self.pending > 0:
            task = self.scheduler.current()
            if task is not None:
                self._waiting.append(task)
                self.scheduler.wait_on(task)
                return True
        self._release()
        return True

    def leave(self) -> None:
        """This party will not arrive (it failed): nobody waits for it."""
        self.pending -= 1
        if self.pending <= 0:
            self._release()

    def _release(self) -> None:
        waiting, self._waiting = self._waiting, []
        for task in waiting:
            self.scheduler.wake(task)
