"""Multi-channel benches: the barrier clock, chamber barriers and trip policy, shared thermocouple
scans, config arrays and ``bench run --channels`` (all in virtual time)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from bench.multichannel.run import run_multichannel
from bench.multichannel.sharing import BarrierClock
from bench.runfile.reader import RunFile
from bench.simulated.builtin_bench import cell_datasheet
from bench.simulated.multichannel import build_sim_multichannel
from protocols.loader import load_protocol
from sim_instruments.world.clock import VirtualClock

PROTOCOL = """\
name: mc_test
cell: {preset: nmc_21700}
limits: {voltage_max_v: 4.25, voltage_min_v: 2.4, current_max_a: 7.35, temperature_max_c: 60}
steps:
  - Soak at 15 °C for 10 minutes
  - Discharge at 1C for 5 minutes
  - Soak at 25 °C for 5 minutes
  - Charge at 0.5C for 5 minutes
"""


@pytest.fixture
def protocol(tmp_path):
    path = tmp_path / "mc_test.yaml"
    path.write_text(PROTOCOL, encoding="utf-8")
    return load_protocol(str(path), {}, cell_defaults=cell_datasheet)


def _run_threads(targets, timeout_s=30.0):
    threads = [threading.Thread(target=t, daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout_s)
        assert not thread.is_alive(), "a channel thread hung"


def test_barrier_clock_keeps_channels_at_the_same_virtual_time():
    barrier = BarrierClock(VirtualClock())
    clocks = [barrier.join(), barrier.join()]
    seen: list[tuple[int, float]] = []
    lock = threading.Lock()

    def channel(k: int, period_s: float, until_s: float) -> None:
        clock = clocks[k]
        while clock.now_s() < until_s:
            with lock:
                seen.append((k, clock.now_s()))
            clock.sleep(period_s)
        clock.leave()

    _run_threads([lambda: channel(0, 1.0, 6.0), lambda: channel(1, 3.0, 9.0)])
    times0 = [t for k, t in seen if k == 0]
    times1 = [t for k, t in seen if k == 1]
    assert times0 == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert times1 == [0.0, 3.0, 6.0]
    # Time never ran ahead of a channel that had not finished its work at an earlier instant:
    assert [t for _, t in seen] == sorted(t for _, t in seen)
    assert barrier.now_s() == 9.0 and barrier.participants == 0


def test_barrier_clock_waits_for_a_running_channel():
    base = VirtualClock()
    barrier = BarrierClock(base)
    a, b = barrier.join(), barrier.join()
    done = threading.Event()

    def sleeper() -> None:
        a.sleep(5.0)
        done.set()

    thread = threading.Thread(target=sleeper, daemon=True)
    thread.start()
    assert not done.wait(0.2)  # b still runs at t = 0: a may not wake
    assert base.now_s() == 0.0
    b.leave()
    assert done.wait(10.0)
    assert base.now_s() == 5.0
    thread.join(5.0)


def test_channels_run_in_lockstep_with_chamber_barriers(protocol, tmp_path):
    bench = build_sim_multichannel(3)
    try:
        outcome = run_multichannel(protocol, bench, tmp_path / "run.h5", observe_s=0.0)
        assert outcome.exit_code == 0, [c.error for c in outcome.channels]
        assert [entry for entry in outcome.chamber_log if entry[0] == "soak"] == [("soak", 1, 15.0), ("soak", 2, 25.0)]
        assert bench.simulation.chamber.setpoint_c == 25.0
        # One DAQ scan per instant serves all three channels.
        # (the channels' final observations end at different times: the longest one counts)
        samples = max(c.outcome.result.samples for c in outcome.channels)
        assert bench.meters[0].scans <= samples + 5
    finally:
        bench.close()
    times = []
    for ch in outcome.channels:
        assert ch.path.name == f"run_ch{ch.channel:02d}.h5"
        with RunFile(ch.path) as run:
            assert run.attrs["channel"] == ch.channel and run.attrs["channels"] == 3
            # the protocol's rows (each channel's final observation ends when its own cell is judged)
            times.append(run.column("Test Time / s")[run.column("Step Index / 1") >= 0])
            temps = run.column("Surface Temperature T1 / degC")
            assert np.isfinite(temps).all()
    assert all(np.array_equal(times[0], t) for t in times[1:])  # same sampling instants


@pytest.mark.parametrize("policy, chamber_safed", [("when_all_tripped", False), ("on_any_trip", True)])
def test_a_tripped_channel_is_released_and_the_chamber_policy_applies(protocol, tmp_path, policy, chamber_safed):
    bench = build_sim_multichannel(2)
    bench.chamber_policy = policy
    world = bench.simulation

    def open_thermocouple(w, now_s: float) -> None:
        if now_s >= 300.0:  # during the first soak (10 min)
            w.channels[1].thermocouple_open = True

    world.hooks.append(open_thermocouple)
    try:
        outcome = run_multichannel(protocol, bench, tmp_path / "run.h5", observe_s=60.0)
    finally:
        bench.close()
    ok, tripped = outcome.channels
    assert tripped.exit_code == 3 and tripped.outcome.result.trip.rule == "sensor_loss"
    assert ok.exit_code == 0  # the other cell finished its protocol
    assert ("tripped", 1, None) in outcome.chamber_log
    kinds = [entry[0] for entry in outcome.chamber_log]
    assert ("safe" in kinds) is chamber_safed
    if not chamber_safed:  # the surviving channel still got both soaks
        assert [e for e in outcome.chamber_log if e[0] == "soak"] == [("soak", 1, 15.0), ("soak", 2, 25.0)]
    assert outcome.exit_code == 3


def test_multichannel_bench_config_arrays(tmp_path):
    from bench.config import BenchConfigError, load_bench_config
    from bench.multichannel.run import is_multichannel

    good = tmp_path / "multi.toml"
    good.write_text(
        '[[cycler]]\ndriver = "keithley2460"\nresource = "TCPIP::127.0.0.1::5025::SOCKET"\nthermocouple = 101\n'
        '[[cycler]]\ndriver = "keithley2460"\nresource = "TCPIP::127.0.0.1::5026::SOCKET"\nthermocouple = 102\n'
        '[thermometer]\ndriver = "keysight_daq970a"\nresource = "TCPIP::127.0.0.1::5027::SOCKET"\nair_channel = 120\n'
        '[bench]\nchamber_policy = "on_any_trip"\n', encoding="utf-8")
    config = load_bench_config(good)
    assert is_multichannel(config) and len(config["cycler"]) == 2
    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text().replace("thermocouple = 102\n", ""), encoding="utf-8")
    with pytest.raises(BenchConfigError, match=r"bad.toml: \[\[cycler\]\] #2 needs 'thermocouple'"):
        load_bench_config(bad)
    typo = tmp_path / "typo.toml"
    typo.write_text(good.read_text().replace("on_any_trip", "sometimes"), encoding="utf-8")
    with pytest.raises(BenchConfigError, match="chamber_policy 'sometimes'"):
        load_bench_config(typo)


def test_bench_run_channels_cli(tmp_path, capsys):
    from bench.cli import main

    path = tmp_path / "mc_test.yaml"
    path.write_text(PROTOCOL, encoding="utf-8")
    out = tmp_path / "cli.h5"
    assert main(["run", str(path), "--channels", "2", "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "ch00: PASS" in text and "ch01: PASS" in text and "soak 15.0 °C" in text
    assert Path(tmp_path / "cli_ch00.h5").exists() and Path(tmp_path / "cli_ch01.h5").exists()
    assert main(["run", str(path), "--channels", "2", "--out", str(out), "--no-progress"]) == 2  # never overwrite


def test_phase_gate_holds_until_every_channel_arrived_or_left():
    from bench.multichannel.sharing import PhaseGate

    gate = PhaseGate(3, timeout_s=10.0)
    passed = []
    first = threading.Thread(target=lambda: passed.append(gate.arrive()), daemon=True)
    first.start()
    first.join(0.05)
    assert first.is_alive() and gate.pending == 2  # still held: two channels to go
    gate.leave()  # a failed channel does not hold the others
    second = threading.Thread(target=lambda: passed.append(gate.arrive()), daemon=True)
    second.start()
    for thread in (first, second):
        thread.join(10.0)
        assert not thread.is_alive()
    assert passed == [True, True]
    assert PhaseGate(2, timeout_s=0.01).arrive() is False  # nobody else came: times out, reports it


def test_stepped_clock_reads_whole_steps():
    from bench.simulated.multichannel import SteppedClock

    base = VirtualClock()
    clock = SteppedClock(base, 0.02)
    base.sleep(0.039)
    assert clock.now_s() == pytest.approx(0.02)
    clock.sleep(0.002)
    assert clock.now_s() == pytest.approx(0.04) and base.now_s() == pytest.approx(0.041)
    with pytest.raises(ValueError, match="step_s"):
        SteppedClock(base, 0.0)


def test_real_time_channels_start_together_and_spread_over_the_period(tmp_path, monkeypatch):
    """On a wall-paced clock (here 50x: at 200x a loaded CI machine lagged 8 s of world time and the
    rest tripped step_timeout) every channel waits at the start gate until all are set
    up (instruments prepared, plan made), then takes its first sample k/N of a period after the
    gate opened; every run completes with its report. (Ordering facts on one monotonic clock, so load on the machine cannot break them.)"""
    from bench.engine.core import Engine
    from bench.multichannel.scheduler import TaskGate

    bench = build_sim_multichannel(4, speed=50.0)
    clock = bench.clock
    arrived: list[float] = []
    started: dict[int, float] = {}
    acquire, arrive = Engine.acquire, TaskGate.arrive

    def spy_acquire(self, *args):
        started.setdefault(self.bench.config["channel"], clock.now_s())  # the channel's first sample
        return acquire(self, *args)

    def spy_arrive(self):
        if self.label == "start":  # the start gate (the other one is before the reports)
            arrived.append(clock.now_s())
        return arrive(self)

    monkeypatch.setattr(Engine, "acquire", spy_acquire)
    monkeypatch.setattr(TaskGate, "arrive", spy_arrive)
    path = tmp_path / "rt.yaml"
    path.write_text("name: rt_test\ncell: {preset: nmc_21700}\n"
                    "limits: {voltage_max_v: 4.25, voltage_min_v: 2.4, current_max_a: 7.35, temperature_max_c: 60}\n"
                    "sampling: {period_s: 4}\nsteps:\n  - Rest for 20 seconds\n", encoding="utf-8")
    protocol = load_protocol(str(path), {}, cell_defaults=cell_datasheet)
    try:
        outcome = run_multichannel(protocol, bench, tmp_path / "run.h5", observe_s=0.0)
    finally:
        bench.close()
    assert outcome.exit_code == 0, [c.error for c in outcome.channels]
    assert all(ch.outcome.report is not None for ch in outcome.channels)
    assert len(arrived) == 4
    gate_open_s = max(arrived)
    for k in range(4):  # after the last channel arrived, plus its phase k/4 of the 4 s period
        assert started[k] >= gate_open_s + k * 1.0 - 1e-6, (k, started, gate_open_s)
