"""The engine keeps no object per executed step: the Python heap does not grow with the number
of steps run (issue 18, item 9: a long run's memory is flat in its steps)."""

from __future__ import annotations

import gc
import tracemalloc

from bench.engine import core
from bench.simulated.builtin_bench import cell_datasheet
from protocols.loader import parse_protocol
from tests.simrun import run_on_sim_bench

#: Steps between the two heap measurements.
STEPS = 80
#: Allocations that come and go whatever the step count: the writer's fsync thread, tracemalloc.
TRANSIENT = [tracemalloc.Filter(False, "*threading.py"), tracemalloc.Filter(False, "*_weakrefset.py"),
             tracemalloc.Filter(False, tracemalloc.__file__),
             # the simulated instruments stand for hardware: the 2460's reading buffer (defbuffer1,
             # bounded at 100,000 readings as on the instrument) fills with the cell model's readings
             tracemalloc.Filter(False, "*/sim_instruments/*"),
             # the first uses of regular expressions and fnmatch fill the standard library's caches
             tracemalloc.Filter(False, "*/re/*"), tracemalloc.Filter(False, "*fnmatch.py")]


def test_python_heap_is_flat_in_the_steps_executed(tmp_path, monkeypatch):
    text = f"name: many\ncell: {{preset: nmc_21700}}\nsteps:\n  - repeat: {5 * STEPS // 4 + 1}\n    steps: [Rest for 1 s, Rest for 2 s]\n"
    protocol = parse_protocol(text, file="many.yaml", cell_defaults=cell_datasheet)
    heap: dict[int, tracemalloc.Snapshot] = {}
    original = core.Engine._run_step

    def counting(self, planned, restored=None):  # noqa: ANN001, ANN202 - a spy on the engine
        if self.step_count + 1 in (STEPS // 2, STEPS // 2 + STEPS, STEPS // 2 + 2 * STEPS):
            self.writer.flush()  # rows queued for the run file depend on wall-clock flushes, not on steps
            gc.collect()
            heap[self.step_count + 1] = tracemalloc.take_snapshot().filter_traces(TRANSIENT)
        return original(self, planned, restored)

    monkeypatch.setattr(core.Engine, "_run_step", counting)
    tracemalloc.start(1)  # one frame: the file that allocated
    try:
        run_on_sim_bench(protocol, tmp_path / "many.h5")
    finally:
        tracemalloc.stop()
    # a leak grows in both windows of STEPS steps; a one-off allocation (a wall-clock flush of the
    # run file on a loaded machine, another library's background thread left by an earlier test in
    # the same worker: a CI run once measured 120 B/step in one window) grows in one of them
    windows = [heap[STEPS // 2 + (k + 1) * STEPS].compare_to(heap[STEPS // 2 + k * STEPS], "lineno")
               for k in (0, 1)]
    per_step = min(sum(stat.size_diff for stat in growth) for growth in windows) / STEPS
    # a Step, StepResult or event dict kept per step costs hundreds of bytes; noise stays below
    assert per_step < 64, f"the Python heap grew {per_step:.0f} bytes per executed step"


def test_short_steps_are_written_in_batches_not_one_flush_each(tmp_path):
    """Issue 26 item 7: a flush (with its journal row) after every step cost ~14 ms and ~0.8 kB of
    HDF5 memory per step on a long loop; the engine now flushes when a batch is due (4096 rows or
    1 s of wall time), so a loop of short steps writes far fewer journal rows than steps."""
    import h5py

    steps = 600
    text = f"name: many\ncell: {{preset: nmc_21700}}\nsteps:\n  - repeat: {steps // 2}\n    steps: [Rest for 1 s, Rest for 2 s]\n"
    protocol = parse_protocol(text, file="many.yaml", cell_defaults=cell_datasheet)
    run_on_sim_bench(protocol, tmp_path / "many.h5")
    with h5py.File(tmp_path / "many.h5", "r") as handle:
        assert handle["steps"].shape[0] == steps
        assert handle["journal"].shape[0] < steps // 10, handle["journal"].shape[0]
