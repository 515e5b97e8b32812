"""Deferred file work on the multi-channel scheduler (issue 31 item 4, missed samples at 1,024 channels).

Claims under test (a virtual clock, or a hand-stepped clock that the scheduler takes for a real one;
no wall-clock sleep, no timing assertion):
* a task that defers (a run-file flush) runs only after every task due at that instant has run,
  and before the clock moves on (virtual time: sample times are unchanged by deferral);
* on a real-time clock deferred work is never starved: it runs at most ``DEFER_MAX_S`` after it
  parked even while other tasks are due all the time;
* work deferred after a channel's sampling (its final flush) runs after every other deferred work;
* an operator abort reaches a deferred task (it takes its abort path; it does not hang);
* a run writer calls ``before_flush`` before a flush that has rows to write, and only then;
  ``next_flush_in`` moves the next periodic flush.
"""

from __future__ import annotations

from bench.multichannel import scheduler as scheduler_module
from bench.multichannel.scheduler import ChannelScheduler
from bench.runfile.writer import RunWriter
from sim_instruments.world.clock import VirtualClock


def test_deferred_work_runs_after_the_due_tasks_and_before_time_moves_on():
    clock = VirtualClock()
    scheduler = ChannelScheduler(clock)
    order: list[tuple[str, float]] = []

    def flusher() -> None:
        task_clock = scheduler.tasks[0].clock
        task_clock.sleep(1.0)
        order.append(("flush asked", task_clock.now_s()))
        task_clock.defer()
        order.append(("flush ran", task_clock.now_s()))

    def sampler(k: int) -> None:
        task_clock = scheduler.tasks[k].clock
        for _ in range(3):
            task_clock.sleep(1.0)
            order.append((f"sample {k}", task_clock.now_s()))

    scheduler.spawn(flusher)
    scheduler.spawn(lambda: sampler(1))
    scheduler.spawn(lambda: sampler(2))
    scheduler.run()
    at_1 = [what for what, t in order if t == 1.0]
    # the flusher asked first (it parked first), but both samples due at t = 1 s ran before it
    assert at_1 == ["flush asked", "sample 1", "sample 2", "flush ran"]
    assert ("flush ran", 1.0) in order  # at the same instant: no virtual time passed
    assert scheduler.deferred == 1 and scheduler.deferred_forced == 0


def test_work_after_sampling_waits_for_the_other_deferred_work():
    scheduler = ChannelScheduler(VirtualClock())
    order: list[str] = []

    def deferring(k: int, last: bool) -> None:
        scheduler.tasks[k].clock.defer(last)
        order.append(f"{k} {'last' if last else 'first'}")

    scheduler.spawn(lambda: deferring(0, True))  # a channel's final flush, deferred first
    scheduler.spawn(lambda: deferring(1, False))  # a still-sampling channel's periodic flush
    scheduler.spawn(lambda: deferring(2, True))
    scheduler.run()
    assert order == ["1 first", "0 last", "2 last"]


class _SteppedClock:
    """A clock the scheduler treats as real time (it has ``speed``); it moves only when stepped."""

    speed = 1.0

    def __init__(self) -> None:
        self.t = 0.0

    def now_s(self) -> float:
        return self.t

    def sleep(self, duration_s: float) -> None:  # pragma: no cover - not used by tasks on the hub
        self.t += duration_s


def test_deferred_work_is_not_starved_by_tasks_that_are_always_due():
    clock = _SteppedClock()
    scheduler = ChannelScheduler(clock, io_workers=0)
    ran_at: list[float] = []

    def busy() -> None:  # always due: each turn costs 0.1 s of the clock and asks to run again at once
        task_clock = scheduler.tasks[0].clock
        while clock.t < 3.0:
            clock.t += 0.1
            task_clock.sleep(0.0)

    def flusher(k: int) -> None:
        task_clock = scheduler.tasks[k].clock
        task_clock.defer()
        ran_at.append(clock.t)

    scheduler.spawn(busy)
    scheduler.spawn(lambda: flusher(1))
    scheduler.spawn(lambda: flusher(2))
    scheduler.run()
    # both parked at t = 0; the first runs once it has waited DEFER_MAX_S, the second one
    # DEFER_FORCE_GAP_S later (a backlog of deferred work gets a trickle of the thread, not all of it)
    assert len(ran_at) == 2
    assert scheduler_module.DEFER_MAX_S <= ran_at[0] < scheduler_module.DEFER_MAX_S + 0.1 + 1e-9
    assert ran_at[1] - ran_at[0] >= scheduler_module.DEFER_FORCE_GAP_S - 1e-9
    assert ran_at[1] < 3.0  # while the busy task was still due
    assert scheduler.deferred_forced == 2


def test_an_abort_reaches_a_deferred_task():
    scheduler = ChannelScheduler(VirtualClock())
    seen: list[str] = []

    def flusher() -> None:
        try:
            scheduler.tasks[0].clock.defer()
            seen.append("flushed")
        except KeyboardInterrupt:  # the engine's operator-abort path
            seen.append("aborted")

    def ctrl_c() -> None:
        scheduler._hub.throw(KeyboardInterrupt)  # what Ctrl-C in the scheduler's loop amounts to

    scheduler.spawn(flusher)  # runs first and defers
    scheduler.spawn(ctrl_c)
    scheduler.run()
    assert seen == ["aborted"]
    assert all(task.done for task in scheduler.tasks)


def test_the_writer_asks_before_a_flush_with_rows_and_moves_its_next_flush(tmp_path):
    asked: list[int] = []
    writer = RunWriter(tmp_path / "r.h5", {"protocol": "x"}, flush_interval_s=1e9)
    writer.before_flush = lambda: asked.append(writer._queued)
    writer.flush()  # nothing queued: no deferral
    assert asked == []
    row = (0.0,) * 15
    writer.append_sample_row(row)
    writer.append_sample_row(row)
    writer.flush()
    assert asked == [2] and writer.rows_written == 2
    writer.next_flush_in(0.0)  # due now: the next row flushes
    writer.append_sample_row(row)
    assert asked == [2, 1] and writer.rows_written == 3
    writer.next_flush_in(3600.0)
    writer.append_sample_row(row)
    assert asked == [2, 1] and writer._queued == 1
    writer.close()
    assert asked == [2, 1, 1] and writer.rows_written == 4
