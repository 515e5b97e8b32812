"""A stalled instrument over a real socket: every logged reading is the simulator's reading of
that instant, never a late reply to an earlier query (issue 26 item 4, defect 2).

Design (fast and deterministic, no wall-clock sleeps):

* The bench's clock is the simulated world's :class:`VirtualClock`: the engine's sample period and
  the drivers' ride-through back-offs advance it; nothing else does. A socket wait takes wall
  time but no bench time (on a real bench a timeout takes time too; here only the back-offs do,
  which only makes the ride-through budget easier to meet, not the matching of replies).
* The cycler (Keithley 2460 simulator) is served by the production TCP server
  (``sim_instruments.wire.tcp_server.LineServer``) and reached by the production driver over
  pyvisa-py with a tiny reply timeout (0.1 s wall), so a stall costs a few tenths of a second.
* The stall is a ``CommsFault("stall")`` in the server's endpoint: from ``start_s`` for
  ``duration_s`` seconds of the world's (virtual) clock, messages are held and executed in order
  when it ends, their replies computed then (what SIGSTOP of ``bench sim serve`` does). The stall
  ends when the bench's back-offs carry the virtual clock past its end.
* The simulator records every ``:READ?`` it executes with the virtual instant. A sample's time is
  taken right after its reading (``bench.engine.core``), and a socket wait takes no virtual time,
  so the k readings logged at test time ``t`` (k > 1 when the engine catches up the periods a
  stall cost) must equal the last k ``:READ?`` replies the simulator produced at instant
  ``t0 + t``. A late reply (the defect) is a reading of an earlier instant, or of another query.

The outcome does not depend on scheduling: a reply that misses its 0.1 s timeout on a loaded
machine is one more late reply, which the resynchronisation discards like the others.
"""

from __future__ import annotations

import threading
from pathlib import Path

import h5py
import pytest
import pyvisa

from bench.engine.runner import execute
from bench.simulated.builtin_bench import build_sim_bench
from drivers.catalog import open_instrument
from protocols.loader import parse_any
from sim_instruments.wire.endpoint import CommsFault
from sim_instruments.wire.tcp_server import LOOPBACK, LineServer
from sim_instruments.world.clock import VirtualClock

pytestmark = pytest.mark.timeout(120)

PROTOCOL = """\
name: stall_check
cell: {preset: nmc_21700, capacity_ah: 4.9, voltage_max_v: 4.2, voltage_min_v: 2.5, current_max_a: 7,
       current_max_charge_a: 3.4}
sampling: {period_s: 1}
steps:
  - Discharge at 1C for 60 seconds
  - Rest for 60 seconds
  - Charge at 0.5C for 60 seconds
"""
#: The stall starts this long after the run starts (mid-discharge: the rest follows it), s.
STALL_AT_S = 50.0


class RecordingFrontEnd:
    """The simulator's own record: (virtual time, reply) of every ``:READ?`` it executes."""

    def __init__(self, frontend, now_s) -> None:
        self.frontend = frontend
        self.now_s = now_s
        self.reads: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def handle_line(self, line: str) -> str | None:
        reply = self.frontend.handle_line(line)
        if line.startswith(":READ?") and reply is not None:
            with self._lock:
                self.reads.append((self.now_s(), reply))
        return reply


def _run_with_stall(tmp_path: Path, stall_s: float):
    clock = VirtualClock()
    bench = build_sim_bench("nmc_21700", clock=clock)
    world = bench.simulation.world
    sim = bench.simulation.endpoints["cycler"].frontend
    recorder = RecordingFrontEnd(sim, clock.now_s)
    server = LineServer(recorder, clock.now_s, name="cycler", lock=world.lock, poll_s=0.01).start()
    rm = pyvisa.ResourceManager("@py")
    try:
        cycler = open_instrument("keithley2460", f"TCPIP::{LOOPBACK}::{server.port}::SOCKET", name="cycler",
                                 resource_manager=rm, timeout_s=0.1)
        cycler.ride_through(clock.now_s, clock.sleep)
        bench.cycler = cycler
        bench.closers.append(cycler.transport.close)
        protocol = parse_any(PROTOCOL, file="stall_check.yaml")
        t0 = clock.now_s()
        server.faults.append(CommsFault("stall", start_s=t0 + STALL_AT_S, duration_s=stall_s))
        outcome = execute(protocol, bench, tmp_path / f"stall_{stall_s:g}.h5", observe_s=0.0)
    finally:
        bench.close()
        server.stop()
        rm.close()
    with h5py.File(outcome.path, "r") as handle:
        samples = handle["samples"][()]
    return outcome, samples, recorder, t0, sim


@pytest.mark.parametrize("stall_s", [2.0, 5.0, 8.0, 30.0])
def test_every_reading_after_a_stall_is_the_simulators_reading_of_that_instant(tmp_path: Path, stall_s: float) -> None:
    outcome, samples, recorder, t0, sim = _run_with_stall(tmp_path, stall_s)
    by_instant: dict[float, list[str]] = {}
    for when, reply in recorder.reads:
        by_instant.setdefault(round(when - t0, 6), []).append(reply)
    logged_at: dict[float, list[list[float]]] = {}
    for row in samples:
        logged_at.setdefault(round(float(row["Test Time / s"]), 6), []).append(
            sorted((float(row["Voltage / V"]), float(row["Current / A"]))))
    mismatched = []
    for t, logged in logged_at.items():
        # The k samples logged at one instant (the engine catches up missed periods at once) are
        # the last k readings the simulator made at that instant, in order.
        replies = by_instant.get(t, [])[-len(logged):]
        expected = [sorted(float(x) for x in reply.split(",")) for reply in replies]
        if len(expected) != len(logged) or any(abs(a - b) > 1e-9 for got, want in zip(logged, expected, strict=True)
                                               for a, b in zip(got, want, strict=True)):
            mismatched.append((t, logged, replies))
    assert len(samples) > 40
    assert mismatched == [], f"{len(mismatched)} readings are not the simulator's of their instant: {mismatched[:5]}"
    if stall_s < 10.0:   # shorter than the ride-through limit: the run goes on to its end
        assert outcome.result.status.value == "completed", outcome.result.message
        assert float(samples["Test Time / s"][-1]) >= 179.0
    else:                # longer: the driver gives up (exit 4) and the output is confirmed off
        assert outcome.exit_code == 4, outcome.result.message
        assert not sim.source.output_on
