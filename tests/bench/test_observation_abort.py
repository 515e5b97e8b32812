"""SIGTERM / SIGINT during the post-trip observation window end it at once: output confirmed off,
an ``observation_aborted`` event, the file closed, and the run still exits 3 (a safety trip).

The signals are real (``os.kill`` to this process) and arrive from a hook of the simulated world
at a chosen virtual time, so nothing sleeps on the wall clock.
"""

from __future__ import annotations

import os
import signal

import pytest

from bench.cli import main
from bench.runfile.reader import RunFile
from bench.simulated import builtin_bench

PROTOCOL = """name: observe_abort
cell: {preset: nmc_21700}
steps:
  - Discharge at 1 A for 1 hour
"""
ONSET_S = 120.0
SIGNAL_AT_S = ONSET_S + 25.0


@pytest.fixture
def signal_during_observation(monkeypatch):
    """Schedule ``signum`` to this process at test time SIGNAL_AT_S (a world hook, virtual time)."""
    wanted: list[int] = []
    original = builtin_bench.inject_faults

    def inject(bench, faults):
        original(bench, faults)
        world = bench.simulation.world
        t0 = world.clock.now_s()
        sent = [False]

        def hook(_world, now_s):
            if not sent[0] and now_s - t0 >= SIGNAL_AT_S:
                sent[0] = True
                os.kill(os.getpid(), wanted[0])

        world.hooks.append(hook)

    monkeypatch.setattr(builtin_bench, "inject_faults", inject)
    # Ctrl-C as in a terminal: a pytest-xdist worker process ignores SIGINT (its controller handles
    # it), so the default handler that raises KeyboardInterrupt is put back for this test
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield wanted
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_ends_the_observation_at_once(tmp_path, capsys, signal_during_observation, signum):
    signal_during_observation.append(signum)
    path = tmp_path / "p.yaml"
    path.write_text(PROTOCOL)
    out = tmp_path / "run.h5"
    code = main(["run", str(path), "--out", str(out), "--no-progress", "--observe", "1h",
                 "--fault", f"internal_short@{ONSET_S:g}s,resistance_ohm=0.05"])
    assert code == 3  # still a safety trip
    with RunFile(out) as run:  # closed and readable
        attrs, events = run.attrs, run.events
        t = run.column("Test Time / s")
    assert attrs["status"] == "safety_trip"
    kinds = [e["kind"] for e in events]
    assert "observation_end" not in kinds
    assert kinds.index("safety_trip") < kinds.index("observation_start") < kinds.index("observation_aborted")
    aborted = next(e for e in events if e["kind"] == "observation_aborted")
    assert aborted["data"]["output_off_confirmed"] is True and aborted["data"]["failures"] == []
    assert aborted["data"]["remaining_s"] > 3000  # most of the hour was left
    assert ("SIGTERM" if signum == signal.SIGTERM else "SIGINT") in aborted["data"]["reason"]
    # ended within a second (one sampling period) of the signal
    assert SIGNAL_AT_S <= aborted["time_s"] <= SIGNAL_AT_S + 1.01 and t[-1] <= SIGNAL_AT_S + 1.01
