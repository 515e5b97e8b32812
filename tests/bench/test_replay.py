"""Replay steps (a current or power profile from a CSV file) and the cold_range protocol.

Claims: a replay moves the charge (current profile) and the energy (power profile) of the
profile's integral, computed here from the CSV itself (within 0.1 % and 0.2 %); the power loop
the bench closes holds the mean power within 1 %; a profile the cell or the cycler cannot follow,
or a missing or malformed file, is refused with file:line:col by ``bench validate`` and ``bench
run`` (exit 2) before any output; cold_range gives a verdict on its claim with the conditions
(profile, scaling, soak, cut-off), on the built-in bench and over ``bench sim serve``.
"""

from __future__ import annotations

import pytest

from bench.cli import main
from bench.runfile.reader import RunFile
from protocols.grammar import parse_step
from protocols.steps import ReplaySpec

#: A charge-positive profile with uneven holds (0.5 s to 7 s) and both signs, per cell, A (or W).
ROWS = [(0.0, -2.0), (0.5, -4.5), (3.0, 1.2), (3.7, 0.0), (10.7, -3.3), (12.0, -0.8), (19.0, 2.0), (20.0, 0.0)]


def _profile(tmp_path, column: str, rows=ROWS, sign: str = "charge_positive", name: str = "p.csv"):
    lines = [f"# sign: {sign}", "# source: test profile", f"time_s,{column}"]
    lines += [f"{t:g},{v:g}" for t, v in rows]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _integral(rows, repeats: int) -> float:
    """Zero-order-hold integral of ``repeats`` passes (value x s)."""
    one = sum((rows[i + 1][0] - rows[i][0]) * rows[i][1] for i in range(len(rows) - 1))
    return one * repeats


def _protocol(tmp_path, step: str, name: str = "replay_test.yaml") -> str:
    text = f"""name: replay_test
cell: {{preset: nmc_21700, initial_soc: 0.6}}
steps:
  - Rest for 10 seconds
  - {step}
  - Rest for 10 seconds
"""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _run(tmp_path, protocol: str) -> tuple[int, dict]:
    out = tmp_path / "run.h5"
    code = main(["run", protocol, "--out", str(out), "--no-progress"])
    with RunFile(out) as run:
        return code, [s for s in run.steps if s["kind"] == "replay"][0]


def test_current_replay_moves_the_profiles_charge(tmp_path):
    _profile(tmp_path, "current_a")
    protocol = _protocol(tmp_path, "Replay p.csv current profile, repeated for 200 seconds")
    code, step = _run(tmp_path, protocol)
    assert code == 0
    expected_ah = _integral(ROWS, 10) / 3600.0  # 200 s = ten 20 s passes
    measured_ah = step["charge_ah"] - step["discharge_ah"]
    assert measured_ah == pytest.approx(expected_ah, rel=0.001)
    assert step["end_time_s"] - step["start_time_s"] == pytest.approx(200.0, abs=1e-6)


def test_power_replay_moves_the_profiles_energy_and_the_power_loop_closes(tmp_path):
    rows = [(t, 3.0 * v) for t, v in ROWS]  # W
    _profile(tmp_path, "power_w", rows)
    protocol = _protocol(tmp_path, "Replay p.csv power profile, repeated for 200 seconds (0.25 second period)")
    out = tmp_path / "run.h5"
    assert main(["run", protocol, "--out", str(out), "--no-progress"]) == 0
    with RunFile(out) as run:
        step = [s for s in run.steps if s["kind"] == "replay"][0]
        events = [e for e in run.events if e["kind"] == "replay_profile"]
    expected_wh = _integral(rows, 10) / 3600.0
    measured_wh = step["charge_wh"] - step["discharge_wh"]
    assert measured_wh == pytest.approx(expected_wh, rel=0.002)
    duration = step["end_time_s"] - step["start_time_s"]
    mean_power = measured_wh * 3600.0 / duration
    assert mean_power == pytest.approx(_integral(rows, 1) / 20.0, rel=0.01)
    assert "closed by the bench" in events[0]["data"]["power_loop"]


def test_discharge_positive_files_are_negated_and_peak_scaling_applies(tmp_path):
    _profile(tmp_path, "current_a", [(t, -v) for t, v in ROWS], sign="discharge_positive")
    from protocols.profiles import resolve_replay

    spec = resolve_replay(ReplaySpec("p.csv", "current", scaling="peak", scale_value=2.25), tmp_path)
    assert spec.values[1] == pytest.approx(-2.25)  # the largest |value| (4.5 A discharging) becomes 2.25 A
    assert spec.values[2] == pytest.approx(1.2 * 2.25 / 4.5)  # charging stays positive (BDF)
    step = parse_step("Replay p.csv current profile scaled by 1/4 , discharge only, repeated until 2.5 V",
                      capacity_ah=5.0)
    assert step.replay is not None and step.replay.scale_value == 0.25 and step.replay.discharge_only
    assert step.until[0].op == "<="


@pytest.mark.parametrize("step, needle", [
    ("Replay highway current profile at 3C peak until 2.5 V", "above the cell's maximum charge current"),
    ("Replay highway current profile at 3C peak, discharge only until 2.5 V",
     "above the cell's maximum discharge current"),
    ("Replay fast.csv current profile", "faster than the cycler settles (1 ms"),
    ("Replay missing.csv current profile", "not found"),
    ("Replay garbage.csv current profile", "line 4 of the profile"),
    ("Replay nosign.csv current profile", "which sign discharges the cell"),
    ("Replay p.csv power profile", "needs a power_w column"),
])
def test_profiles_the_bench_cannot_follow_are_refused_with_file_line_col(tmp_path, capsys, step, needle):
    _profile(tmp_path, "current_a")
    _profile(tmp_path, "current_a", [(0.0, 1.0), (0.0005, -1.0), (1.0, 0.0)], name="fast.csv")
    (tmp_path / "garbage.csv").write_text("# sign: charge_positive\ntime_s,current_a\n0,1\n1,x\n2,0\n")
    (tmp_path / "nosign.csv").write_text("time_s,current_a\n0,1\n1,0\n")
    protocol = _protocol(tmp_path, step)
    assert main(["validate", protocol]) == 2
    validate_err = capsys.readouterr().err
    assert validate_err.count("\n") == 1 and needle in validate_err
    assert "replay_test.yaml:5:" in validate_err  # the step's line, and a column
    out = tmp_path / "run.h5"
    assert main(["run", protocol, "--out", str(out), "--no-progress"]) == 2
    assert capsys.readouterr().err == validate_err
    assert not out.exists()


def test_a_profile_beyond_the_cyclers_range_is_refused_on_a_bench_file(tmp_path, capsys):
    """The cell takes 7 A, the bench file's Keithley 2450 sources 1.05 A: validate and run refuse."""
    _profile(tmp_path, "current_a")  # 4.5 A peak
    protocol = _protocol(tmp_path, "Replay p.csv current profile, discharge only")
    bench = tmp_path / "b.toml"
    bench.write_text('[bench]\nname = "small smu"\n[cell]\nname = "nmc_21700"\n'
                     '[cycler]\ndriver = "keithley2450"\nresource = "TCPIP::127.0.0.1::1::SOCKET"\n')
    assert main(["validate", protocol, "--bench", str(bench)]) == 2
    err = capsys.readouterr().err
    assert "replay_test.yaml:5:5" in err and "beyond the cycler's range ±1.05 A" in err, err
    assert main(["run", protocol, "--bench", str(bench), "--out", str(tmp_path / "r.h5"), "--no-progress"]) == 2
    assert "beyond the cycler's range" in capsys.readouterr().err


def test_cold_range_gives_a_verdict_with_its_conditions(shipped_runs):
    with RunFile(shipped_runs.get("cold_range")) as run:
        from bench.report.verdict import build_report

        report = build_report(run)
    claim = report["claims"][0]
    assert claim["metric"] == "range_degradation_pct" and claim["status"] in ("met", "not met")
    metrics, conditions = report["metrics"], report["conditions"]
    retention = 100.0 * metrics["range_energy_cold_wh"] / metrics["range_energy_warm_wh"]
    assert metrics["range_degradation_pct"] == pytest.approx(100.0 - retention, abs=1e-3)
    assert 0 < metrics["range_energy_cold_wh"] < metrics["range_energy_warm_wh"]  # the cold costs range
    assert conditions["warm_replay"]["end"] == conditions["cold_replay"]["end"] == "2.5 V"
    per_cycle = conditions["warm_replay"]["wh_per_drive_cycle"]
    assert sum(per_cycle) == pytest.approx(metrics["range_energy_warm_wh"], rel=0.01)
    got = claim["conditions"]
    assert "highway" in got["profile"] and "peak 7 A" in got["profile"] and "synthetic" in got["profile_source"]
    assert got["cold_soak_s"] == 7200.0 and got["cutoff"].startswith("2.5 V")


RESUME = """\
name: replay_resume
cell: {preset: nmc_21700, capacity_ah: 4.9, voltage_max_v: 4.2, voltage_min_v: 2.5, current_max_a: 7,
       current_max_charge_a: 3.4}
sampling: {period_s: 1}
steps:
  - Rest for 1 minute
  - Replay highway current profile at 1C peak, discharge only, repeated for 40 minutes
  - Rest for 1 minute
"""


def test_a_replay_killed_mid_step_resumes_to_the_same_charge(tmp_path):
    """SIGKILL mid-replay (tests.bench.test_resume's child), ``bench resume``: the replay's charge
    matches an uninterrupted run's within 0.5 %."""
    from bench.commands.benches import bench_factory
    from bench.engine.resume import resume_run
    from tests.bench.test_resume import _kill_run, _uninterrupted

    path, protocol_file = _kill_run(tmp_path, RESUME, "replay_resume.yaml", kill_at_s=1300.0)
    with RunFile(path) as run:
        before = run.last_journal()
    assert before is not None and before["active"]["text"].startswith("Replay highway")
    outcome = resume_run(path, benches=bench_factory())
    full = _uninterrupted(tmp_path, protocol_file)
    assert outcome.exit_code == 0 and full.exit_code == 0, outcome.report
    with RunFile(path) as run, RunFile(tmp_path / "full.h5") as ref:
        got = [s for s in run.steps if s["kind"] == "replay"][0]
        want = [s for s in ref.steps if s["kind"] == "replay"][0]
    assert got["discharge_ah"] == pytest.approx(want["discharge_ah"], rel=0.005)
