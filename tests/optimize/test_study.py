"""Fast-charge studies end to end on the simulated bench: real ``bench run`` processes (and a real
Dask LocalCluster), Optuna's storage on disk, the study report."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import h5py
import optuna
import pytest

from bench.commands.benches import bench_factory
from bench.optimize.executors import DaskExecutor, ProcessExecutor, RunDone, RunRequest
from bench.optimize.study import Study, StudyConfig, StudyError
from bench.optimize.study_report import build_study_report, format_study_report, write_study_html

SPACE_15MIN = Path(__file__).with_name("space_15min.yaml")
BENCHES = bench_factory()  # the simulated bench: the study cell's datasheet
LFP: dict[str, str] = {}  # the protocol takes its voltages from the cell


def _config(**changes: object) -> StudyConfig:
    base = dict(protocol="fast_charge_profile_cycling", space_file=str(SPACE_15MIN), objective="fade", budget=4,
                batch=2, seed=3, cycles_m=1, early_cycles=1, claim_time_s=900.0, cell="lfp_26650", settings=dict(LFP))
    base.update(changes)
    return StudyConfig(**base)  # type: ignore[arg-type]


def test_a_study_runs_its_budget_in_batches_and_reports_the_ranking(tmp_path: Path) -> None:
    study = Study.create(tmp_path / "study", _config(), benches=BENCHES)
    batches: list[int] = []
    study.run(ProcessExecutor(workers=2), on_batch=lambda n, rows: batches.append(len(rows)))
    assert study.runs_done() == 4 and batches == [2, 2]
    report = build_study_report(tmp_path / "study")
    ran = [r for r in report["proposals"] if r["run_file"]]
    assert len(ran) == 4
    for row in ran:  # every run is an ordinary, completed run file
        with h5py.File(row["run_file"], "r") as f:
            assert f.attrs["status"] == "completed"
            assert f["samples"].shape[0] > 100
    baseline = report["baseline"]
    assert baseline is not None and max(baseline["rates_c"]) - min(baseline["rates_c"]) < 1e-6  # constant current
    assert all(r["status"] == "rejected" and not r["run_file"] for r in report["proposals"] if r["reason"])
    assert report["ranking"] == sorted(report["ranking"], key=lambda r: (not r["claim_met"], r["value"]))
    assert report["conditions"]["cycles_m"] == 1 and report["conditions"]["cell"] == "lfp_26650"
    assert "Ranking" in format_study_report(report)
    json.dumps(report, default=str)
    assert "<svg" in write_study_html(report, tmp_path / "html").read_text()


def test_a_trip_scores_the_run_as_failed_and_the_study_goes_on(tmp_path: Path) -> None:
    config = _config(budget=2, run_args=["--fault", "internal_short@1h,resistance_ohm=0.05", "--observe", "60s"])
    study = Study.create(tmp_path / "study", config, benches=BENCHES)
    study.run(ProcessExecutor(workers=2))
    report = build_study_report(tmp_path / "study")
    assert report["counts"]["tripped"] == 2 and report["counts"]["scored"] == 0
    assert report["best"] is None and report["verdict"] == "no profile met the time claim"


class _StopsAfterOneBatch:
    """Runs one batch for real, then stops the study as Ctrl-C would (mid-batch, nothing told)."""

    def __init__(self) -> None:
        self.inner = ProcessExecutor(workers=2)
        self.batches = 0

    def run_batch(self, requests: Sequence[RunRequest]) -> list[RunDone]:
        self.batches += 1
        if self.batches == 2:
            raise KeyboardInterrupt
        return self.inner.run_batch(requests)

    def close(self) -> None:
        pass


def test_a_stopped_study_resumes_and_proposes_the_interrupted_runs_again(tmp_path: Path) -> None:
    directory = tmp_path / "study"
    study = Study.create(directory, _config(budget=3), benches=BENCHES)
    with pytest.raises(KeyboardInterrupt):
        study.run(_StopsAfterOneBatch())
    running = study.optuna.get_trials(states=(optuna.trial.TrialState.RUNNING,))
    assert len(running) >= 1 and study.runs_done() == 2
    resumed = Study.resume(directory)
    resumed.run(ProcessExecutor(workers=2))
    assert resumed.runs_done() == 3
    trials = resumed.optuna.get_trials()
    interrupted = [t for t in trials if t.user_attrs.get("status") == "interrupted"]
    retried = [t for t in trials if "retry_of" in t.user_attrs]
    assert interrupted and {t.params["stage1_rate_c"] for t in interrupted} <= {t.params["stage1_rate_c"] for t in retried}


def test_runs_as_dask_tasks_on_a_local_cluster(tmp_path: Path) -> None:
    study = Study.create(tmp_path / "study", _config(budget=2, executor="dask"), benches=BENCHES)
    executor = DaskExecutor(workers=2)
    try:
        study.run(executor)
    finally:
        executor.close()
    assert build_study_report(tmp_path / "study")["counts"]["scored"] == 2


def test_a_cell_that_cannot_meet_the_budget_is_refused_before_any_run(tmp_path: Path) -> None:
    shipped = Path(__file__).resolve().parents[2] / "protocols" / "spaces" / "fast_charge_4stage.yaml"
    with pytest.raises(StudyError, match="cannot meet the budget"):
        Study.create(tmp_path / "study", _config(space_file=str(shipped), cell="nmc_21700", settings={}), benches=BENCHES)
    assert not (tmp_path / "study" / "runs").exists()
