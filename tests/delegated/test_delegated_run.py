"""Delegated runs on the built-in simulated bench: the simulated Neware BTS runs the step file on
the world's cell, reached through the production driver over an in-process stream (virtual
clock); the bench polls, logs and supervises (bench/delegated/runner.py)."""

from __future__ import annotations

import hashlib
import json

import h5py
import pytest

from bench.delegated.execute import STEP_FILE_DATASET, execute_delegated
from bench.engine.runner import execute
from bench.fault_specs import parse_fault_spec
from bench.simulated.builtin_bench import build_sim_bench, cell_datasheet, inject_faults
from bench.simulated.delegated_bench import build_delegated_sim_bench
from protocols.loader import load_protocol

pytestmark = pytest.mark.timeout(120)

#: A short cycle (about 1.5 h of test time from 50 % SOC) for the fault cases.
SHORT = """\
name: short_cycle
cell: {preset: nmc_21700}
steps:
  - Charge at 0.5C until {cell.voltage_max_v} V
  - Rest for 10 minutes
  - Discharge at 1C until {cell.voltage_min_v} V
"""


def _short(tmp_path):
    path = tmp_path / "short_cycle.yaml"
    path.write_text(SHORT)
    return load_protocol(str(path), cell_defaults=cell_datasheet)


def _events(path, kind: str) -> list[tuple[float, str, dict]]:
    with h5py.File(path, "r") as f:
        return [(float(e["time_s"]), e["message"].decode(), json.loads(e["data"].decode() or "{}"))
                for e in f["events"][:] if e["kind"].decode() == kind]


def test_capacity_check_runs_on_the_cycler_and_measures_what_a_live_run_measures(tmp_path):
    """The claim: the protocol's steps ran on the cycler (its step file kept in the run file,
    hashed in provenance) and the run file reads like a live run's: the same steps ended for the
    same reasons, the same claims judged, the same capacity measured on the same cell."""
    protocol = load_protocol("capacity_check", {"rate": "1C"}, cell_defaults=cell_datasheet)
    bench = build_delegated_sim_bench(protocol.cell.preset, soc=0.5)
    try:
        delegated = execute_delegated(protocol, bench, tmp_path / "delegated.h5")
    finally:
        bench.close()
    live_bench = build_sim_bench(protocol.cell.preset, soc=0.5)
    try:
        live = execute(protocol, live_bench, tmp_path / "live.h5")
    finally:
        live_bench.close()
    assert delegated.result.status.value == "completed", delegated.result
    with h5py.File(delegated.path, "r") as f:
        attrs = dict(f.attrs)
        step_file = bytes(f[STEP_FILE_DATASET][:])
        steps = [(int(r["step_index"]), r["end_reason"].decode()) for r in f["steps"][:]]
        cycles = f["cycles"].shape[0]
    assert attrs["execution"] == "delegated" and attrs["delegated_cycler"] == "neware_bts"
    assert hashlib.sha256(step_file).hexdigest() == attrs["step_file_sha256"]
    assert step_file.startswith(b"<?xml") and b"Step_Info" in step_file
    assert _events(delegated.path, "delegated_start")[0][2]["test_id"] == attrs["test_id"]
    with h5py.File(live.path, "r") as f:
        live_steps = [(int(r["step_index"]), r["end_reason"].decode()) for r in f["steps"][:]]
    assert steps == live_steps == [(0, "time"), (1, "4.2 V"), (2, "C/20"), (3, "time"), (4, "2.5 V")]
    assert cycles == 1
    claims = {c["metric"]: c["status"] for c in delegated.report["claims"]}
    assert claims == {c["metric"]: c["status"] for c in live.report["claims"]}
    assert delegated.exit_code == live.exit_code
    # the last cycle judged for shorts after the test, as after a live run (final observation)
    assert delegated.report["last_stretch"]["judged"] is live.report["last_stretch"]["judged"] is True
    measured, reference = (o.report["metrics"]["discharge_capacity_ah"] for o in (delegated, live))
    # one cell, one discharge: the two ways of running it agree to the counting resolution (0.1 %)
    assert measured == pytest.approx(reference, rel=1e-3)


def test_the_cyclers_own_alarm_ends_the_run_as_a_trip_with_the_channel_stopped(tmp_path):
    protocol = _short(tmp_path)
    bench = build_delegated_sim_bench(protocol.cell.preset, soc=0.5)
    system = bench.simulation.neware
    world = bench.simulation.world
    fired: list[float] = []

    def alarm_at_20_min(w, _now):
        if not fired and w.now_s >= 1200.0:
            fired.append(w.now_s)
            system.alarm(1, "aux temperature above the channel's limit")

    world.hooks.append(alarm_at_20_min)
    try:
        outcome = execute_delegated(protocol, bench, tmp_path / "alarm.h5")
        state_after = bench.cycler.channel.status().state
    finally:
        bench.close()
    assert outcome.exit_code == 3 and outcome.result.trip.rule == "cycler_alarm"
    assert outcome.result.message.startswith("cycler alarm:")
    (time_s, message, data), = _events(outcome.path, "safety_trip")
    assert data["output_off_confirmed"] is True and message.startswith("cycler alarm")
    assert state_after == "alarm"  # the channel stays off: nothing restarted it
    assert time_s == pytest.approx(fired[0], abs=2.0)


def test_a_supervisor_trip_stops_the_channel_and_confirms_it_stopped(tmp_path):
    """An internal short during the charge: the bench's supervisor trips on a record; the bench
    stops the cycler's test and reads back that the channel stopped (exit 3)."""
    protocol = _short(tmp_path)
    bench = build_delegated_sim_bench(protocol.cell.preset, soc=0.5)
    inject_faults(bench, [parse_fault_spec("internal_short@20min,resistance_ohm=0.05")])
    try:
        outcome = execute_delegated(protocol, bench, tmp_path / "short.h5")
        state_after = bench.cycler.channel.status().state
    finally:
        bench.close()
    assert outcome.exit_code == 3, outcome.result
    trip = outcome.result.trip
    assert trip is not None and trip.rule != "cycler_alarm" and trip.time_s >= 1200.0
    (_t, _m, data), = _events(outcome.path, "safety_trip")
    assert data["output_off_confirmed"] is True and data["execution"] == "delegated"
    assert state_after == "stopped"
    with h5py.File(outcome.path, "r") as f:
        assert f["steps"][-1]["end_reason"].decode() == "safety trip"
        assert f.attrs["status"] == "safety_trip"
        samples = f["samples"][:]
    # the stopped cell is watched through the observation window (1 h), as after a live trip
    (_t, _m, _d), = _events(outcome.path, "observation_end")
    watched = samples["Test Time / s"][samples["Test Time / s"] > trip.time_s]
    assert watched.max() - trip.time_s >= 3600.0 - 1.0
    assert abs(samples["Current / A"][samples["Test Time / s"] > trip.time_s + 5.0]).max() < 1e-3


class _CableOut:
    """The simulated BTS's network cable, unplugged from ``start_s`` to ``end_s`` of world time
    (fault injection on the in-process link: ``SimByteStream`` reads ``link.down``)."""

    def __init__(self, clock, start_s: float, end_s: float) -> None:
        self.clock, self.start_s, self.end_s = clock, start_s, end_s

    @property
    def down(self) -> bool:
        return self.start_s <= self.clock.now_s() < self.end_s

    @down.setter
    def down(self, _value: bool) -> None:  # the stream's own reconnects do not replug the cable
        pass


def test_a_link_drop_is_ridden_through_and_the_missed_records_backfilled(tmp_path):
    protocol = _short(tmp_path)
    bench = build_delegated_sim_bench(protocol.cell.preset, soc=0.5)
    bench.cycler.channel.stream.link = _CableOut(bench.clock, 1200.0, 1230.0)
    try:
        outcome = execute_delegated(protocol, bench, tmp_path / "drop.h5")
    finally:
        bench.close()
    assert outcome.result.status.value == "completed", outcome.result
    (time_s, message, _data), = _events(outcome.path, "link_restored")
    assert time_s >= 1230.0 and "backfilled" in message
    with h5py.File(outcome.path, "r") as f:
        samples = f["samples"][:]
    t = samples["Test Time / s"][samples["Step Index / 1"] >= 0]  # the test's records (not the final observation)
    gaps = t[1:] - t[:-1]
    assert gaps.max() <= 1.0 + 1e-6  # every record the cycler logged while the link was down is in the file


def test_a_link_that_stays_down_ends_the_run_with_exit_4_and_says_the_stop_was_not_confirmed(tmp_path):
    protocol = _short(tmp_path)
    bench = build_delegated_sim_bench(protocol.cell.preset, soc=0.5)
    bench.cycler.channel.stream.link = _CableOut(bench.clock, 1200.0, float("inf"))
    try:
        outcome = execute_delegated(protocol, bench, tmp_path / "lost.h5")
        still_running = bench.simulation.neware.channels[0].state.workstatus
    finally:
        bench.close()
    assert outcome.exit_code == 4 and "\n" not in outcome.result.message
    assert "cycler link lost" in outcome.result.message
    (_t, message, data), = _events(outcome.path, "safe_state")
    assert data["output_off_confirmed"] is False and data["failures"]
    assert still_running == "working"  # the cycler runs on with its own limits: the bench said so, it did not pretend


def test_a_soak_inside_the_protocol_moves_the_bench_chamber_when_the_cycler_enters_it(tmp_path):
    """The chamber is the bench's: a soak runs on the cycler as a rest of its length, and the bench
    sets the chamber when the cycler's records show it entered that step."""
    path = tmp_path / "soak_inside.yaml"
    path.write_text("""\
name: soak_inside
cell: {preset: nmc_21700}
steps:
  - Rest for 10 minutes
  - Soak at 35 °C for 1 hour
  - Discharge at 1C for 5 minutes
""")
    protocol = load_protocol(str(path), cell_defaults=cell_datasheet)
    bench = build_delegated_sim_bench(protocol.cell.preset, soc=0.5)
    try:
        outcome = execute_delegated(protocol, bench, tmp_path / "soak.h5")
    finally:
        bench.close()
    assert outcome.result.status.value == "completed", outcome.result
    with h5py.File(outcome.path, "r") as f:
        steps = f["steps"][:]
        samples = f["samples"][:]
    assert [r["kind"].decode() for r in steps] == ["rest", "soak", "cc"]
    assert [r["end_reason"].decode() for r in steps] == ["time", "time", "time"]
    rest, soak, _cc = steps
    assert soak["chamber_setpoint_c"] == 35.0 and rest["chamber_setpoint_c"] != rest["chamber_setpoint_c"]  # NaN
    assert soak["start_time_s"] == pytest.approx(600.0, abs=1.0)
    air = samples["Ambient Temperature / degC"]
    time_s = samples["Test Time / s"]
    before, after = air[time_s < 600.0], air[(time_s > 3000.0) & (time_s < 4200.0)]
    assert before.max() < 26.0 and after.min() > 34.0  # the chamber moved after the cycler entered the soak


def test_a_test_stopped_at_the_cycler_ends_the_run_as_an_instrument_failure(tmp_path):
    """Someone pressed stop at the BTS: the test is over without the bench's say; exit 4, said plainly."""
    protocol = _short(tmp_path)
    bench = build_delegated_sim_bench(protocol.cell.preset, soc=0.5)
    channel = bench.simulation.neware.channels[0]
    world = bench.simulation.world

    def stop_at_20_min(w, _now):
        if w.now_s >= 1200.0 and channel.state.workstatus == "working":
            channel.stop(w.now_s, "stop", "stopped at the BTS client")

    world.hooks.append(stop_at_20_min)
    try:
        outcome = execute_delegated(protocol, bench, tmp_path / "stopped.h5")
    finally:
        bench.close()
    assert outcome.exit_code == 4 and "\n" not in outcome.result.message
    assert "channel is stopped" in outcome.result.message
    with h5py.File(outcome.path, "r") as f:
        assert f.attrs["status"] == "instrument_failure"
        assert f["steps"][-1]["end_reason"].decode() == "instrument failure"
