"""A closed-loop fast-charge study: propose K profiles, run them at once, score them, repeat.

Proposals come from Optuna's ask/tell interface with its Bayesian sampler (TPE, multivariate,
with the "constant liar" for batches and the time claim as a constraint); the study keeps
everything in its directory so it can be stopped and resumed::

    STUDY/study.json        what was asked: protocol, space, objective, M, n, batch, budget, seed, cell
    STUDY/optuna.sqlite3    Optuna's storage: every proposal, its parameters, state and score
    STUDY/runs/trial_NNNN.h5   the run file of each proposal that reached a cell

A proposal the search space rejects (the computed stage outside the cell's limits, or the budget
used up) is told to Optuna as failed with the reason and never reaches a cell. A run that tripped
or failed is told as failed (``status`` says which) and the study goes on. A proposal that was
running when the study stopped is failed as ``interrupted`` on resume and proposed again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import optuna

from bench.benches import BenchFactory, BenchSpec
from bench.optimize.executors import Executor, RunDone, RunRequest
from bench.optimize.measure import measure_run
from bench.optimize.objectives import OBJECTIVES, ObjectiveSettings, claim_violation, cycles_per_run, score
from bench.optimize.space import Profile, SearchSpace, load_space

logger = logging.getLogger(__name__)

STUDY_FILE = "study.json"
STORAGE_FILE = "optuna.sqlite3"
STUDY_NAME = "cellbench"
#: Proposals the space may reject in a row before the study gives up on filling a batch.
MAX_REJECTIONS = 500
#: Objective value stored (never reported) for a proposal the space rejected: the sampler sees it
#: as infeasible through its constraint, and the value keeps it last among the infeasible ones.
REJECTED_SENTINEL = 1.0e9


class StudyError(ValueError):
    """A study that cannot start or resume (one line, names the file)."""


@dataclass
class StudyConfig:
    """What a study was asked to do (stored as ``study.json``)."""

    protocol: str
    space_file: str
    objective: str = "fade"
    budget: int = 48
    batch: int = 4
    seed: int = 0
    cycles_m: int = 50
    early_cycles: int = 10
    claim_time_s: float = 600.0
    cell: str | None = None
    temperature_c: float | None = None
    settings: dict[str, str] = field(default_factory=dict)
    executor: str = "processes"
    workers: int = 2
    channels: int = 0
    bench_file: str | None = None
    scheduler: str | None = None
    #: Extra ``bench run`` arguments for every run (e.g. ``--fault ...`` to rehearse a study).
    run_args: list[str] = field(default_factory=list)
    created_utc: str = ""

    def objective_settings(self) -> ObjectiveSettings:
        """M, n and the claim for the objective functions."""
        return ObjectiveSettings(cycles_m=self.cycles_m, early_cycles=self.early_cycles,
                                 claim_time_s=self.claim_time_s)


def make_sampler(seed: int) -> optuna.samplers.BaseSampler:
    """Optuna's TPE (a Bayesian sampler) for batches: multivariate, constant liar; the time claim
    reaches it as each trial's constraint (``Trial.set_constraint``: <= 0 met)."""
    return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True, n_startup_trials=8)


class Study:
    """One study in its directory (create with :meth:`create`, reopen with :meth:`resume`)."""

    def __init__(self, directory: Path, config: StudyConfig, space: SearchSpace, rate_max_c: float,
                 optuna_study: optuna.Study) -> None:
        self.directory = directory
        self.config = config
        self.space = space
        self.rate_max_c = rate_max_c
        self.optuna = optuna_study

    # -- opening -------------------------------------------------------------------------------
    @classmethod
    def create(cls, directory: Path, config: StudyConfig, *, benches: BenchFactory | None = None) -> Study:
        """A new study in ``directory`` (which must not hold one); ``benches`` tells where the
        study's cell takes the numbers its protocol does not state (the simulated cell's datasheet)."""
        if (directory / STUDY_FILE).exists():
            raise StudyError(f"{directory}: a study is already there; resume it with --resume {directory}")
        if config.objective not in OBJECTIVES:
            raise StudyError(f"--objective {config.objective!r}: known objectives are {', '.join(OBJECTIVES)}")
        if config.budget < 1 or config.batch < 1:
            raise StudyError("--budget and --batch must be >= 1")
        space = load_space(config.space_file)
        rate_max_c = _rate_max_c(config, space, benches or BenchFactory())
        fastest = space.fastest_s(rate_max_c)
        if fastest > space.time_budget_s:
            raise StudyError(f"{config.space_file}: this cell cannot meet the budget: at its maximum charge rate "
                             f"{rate_max_c:.2f}C the stages take {fastest:.0f} s > {space.time_budget_s:.0f} s")
        window = space.temperature_window_c
        if config.temperature_c is not None and window is not None and not window[0] <= config.temperature_c <= window[1]:
            raise StudyError(f"--temperature {config.temperature_c:g} °C outside the space's window "
                             f"{window[0]:g}..{window[1]:g} °C")
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "runs").mkdir(exist_ok=True)
        config.created_utc = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        payload = {"config": asdict(config), "space": space.raw, "rate_max_c": rate_max_c}
        (directory / STUDY_FILE).write_text(json.dumps(payload, indent=2), encoding="utf-8")
        storage = f"sqlite:///{directory / STORAGE_FILE}"
        optuna_study = optuna.create_study(study_name=STUDY_NAME, storage=storage, direction="minimize",
                                           sampler=make_sampler(config.seed))
        study = cls(directory, config, space, rate_max_c, optuna_study)
        if space.baseline == "constant_current":
            study._enqueue(space.constant_current(rate_max_c), baseline=True)
        return study

    @classmethod
    def resume(cls, directory: Path) -> Study:
        """Reopen the study in ``directory``; proposals left running are failed and proposed again."""
        from bench.optimize.space import parse_space

        try:
            payload = json.loads((directory / STUDY_FILE).read_text(encoding="utf-8"))
        except OSError:
            raise StudyError(f"{directory}: no study here ({STUDY_FILE} missing)") from None
        except ValueError as exc:
            raise StudyError(f"{directory / STUDY_FILE}: damaged ({exc})") from None
        config = StudyConfig(**payload["config"])
        space = parse_space(payload["space"], str(directory / STUDY_FILE))
        storage = optuna.storages.RDBStorage(f"sqlite:///{directory / STORAGE_FILE}")
        try:
            study_id = storage.get_study_id_from_name(STUDY_NAME)
        except KeyError:
            raise StudyError(f"{directory / STORAGE_FILE}: no study stored") from None
        done = len(storage.get_all_trials(study_id, deepcopy=False))
        optuna_study = optuna.load_study(study_name=STUDY_NAME, storage=storage,
                                         sampler=make_sampler(config.seed + done))
        study = cls(directory, config, space, float(payload["rate_max_c"]), optuna_study)
        for trial in optuna_study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
            storage.set_trial_user_attr(trial_id, "status", "interrupted")
            optuna_study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
            optuna_study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number,
                                                                 "baseline": trial.user_attrs.get("baseline", False)})
            logger.warning("trial %d was running when the study stopped: proposed again", trial.number)
        return study

    # -- the loop ------------------------------------------------------------------------------
    def runs_done(self) -> int:
        """Proposals that reached a cell (scored, or tripped / failed while running)."""
        finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL)
        return sum(1 for t in self.optuna.get_trials(deepcopy=False, states=finished)
                   if t.user_attrs.get("run_file") and t.user_attrs.get("status") != "interrupted")

    def run(self, executor: Executor, *, on_batch: Callable[[int, list[dict[str, Any]]], None] | None = None) -> None:
        """Propose, run and score batches until the budget of runs is spent."""
        batch_number = self._batches_done()
        while self.runs_done() < self.config.budget:
            size = min(self.config.batch, self.config.budget - self.runs_done())
            batch_number += 1
            proposals = self._propose(size, batch_number)
            if not proposals:
                logger.error("the space rejected %d proposals in a row: study stopped", MAX_REJECTIONS)
                break
            requests = [self._request(trial, profile) for trial, profile in proposals]
            done = executor.run_batch(requests)
            rows = [self._score(trial, profile, result) for (trial, profile), result in zip(proposals, done, strict=True)]
            if on_batch is not None:
                on_batch(batch_number, rows)

    def _batches_done(self) -> int:
        batches = [t.user_attrs.get("batch", 0) for t in self.optuna.get_trials(deepcopy=False)]
        return max(batches, default=0)

    def _propose(self, size: int, batch_number: int) -> list[tuple[optuna.Trial, Profile]]:
        out: list[tuple[optuna.Trial, Profile]] = []
        rejected = 0
        while len(out) < size and rejected < MAX_REJECTIONS:
            trial = self.optuna.ask()
            exact = bool(trial.user_attrs.get("baseline"))  # the baseline keeps its exact rates
            searched = {}
            for index in self.space.searched:
                low, high = self._searched_range(index)
                rate = trial.suggest_float(f"stage{index + 1}_rate_c", low, high)
                searched[index] = rate if exact else self.space.on_grid(rate)
            profile = self.space.complete(searched, self.rate_max_c)
            trial.set_user_attr("batch", batch_number)
            trial.set_user_attr("rates_c", list(profile.rates_c))
            if not profile.feasible:
                # Never run: told to the sampler as infeasible (its constraint > 0) so that it learns
                # where the feasible region is; the value is a sentinel no report shows as a result
                # (status "rejected").
                trial.set_user_attr("status", "rejected")
                trial.set_user_attr("reason", profile.reason)
                trial.set_constraint("feasible", max(profile.violation, 1e-6))
                trial.set_constraint("time_claim", 1.0)
                self.optuna.tell(trial, REJECTED_SENTINEL)
                rejected += 1
                continue
            out.append((trial, profile))
        return out

    def _searched_range(self, index: int) -> tuple[float, float]:
        """A searched stage's C-rate range within the cell's limit (a rate above it could never
        reach a cell, so the sampler never proposes it)."""
        low, high = self.space.stages[index].rate_c or (0.0, 0.0)
        high = min(high, self.rate_max_c)
        return (min(low, high), high)

    def _request(self, trial: optuna.Trial, profile: Profile) -> RunRequest:
        config = self.config
        settings = dict(config.settings)
        settings.update(self.space.protocol_settings(profile))
        settings["cycles"] = str(cycles_per_run(config.objective, config.objective_settings()))
        if config.cell:
            settings["cell"] = config.cell
        if config.temperature_c is not None:
            settings["temperature_c"] = f"{config.temperature_c:g}"
        out = self.directory / "runs" / f"trial_{trial.number:04d}.h5"
        if out.exists():  # a retried proposal: keep the earlier (interrupted) file beside it
            out.rename(out.with_name(f"{out.stem}_interrupted{out.suffix}"))
        trial.set_user_attr("run_file", str(out))
        trial.set_user_attr("settings", settings)
        return RunRequest(config.protocol, settings, out, bench=config.bench_file, extra_args=tuple(config.run_args))

    def _score(self, trial: optuna.Trial, profile: Profile, done: RunDone) -> dict[str, Any]:
        row: dict[str, Any] = {"trial": trial.number, "rates_c": list(profile.rates_c), "exit_code": done.exit_code,
                               "run_file": str(done.request.out)}
        trial.set_user_attr("exit_code", done.exit_code)
        if done.exit_code not in (0, 1) or not done.request.out.exists():
            status = {3: "tripped", 4: "instrument_failure", 130: "aborted", 2: "invalid"}.get(done.exit_code, "failed")
            trial.set_user_attr("status", status)
            trial.set_user_attr("reason", done.message)
            self.optuna.tell(trial, state=optuna.trial.TrialState.FAIL)
            row.update(status=status, reason=done.message)
            logger.warning("trial %d %s (exit %d): %s", trial.number, status, done.exit_code, done.message)
            return row
        measurement = measure_run(done.request.out)
        settings = self.config.objective_settings()
        value = score(self.config.objective, measurement, settings)
        violation = claim_violation(measurement, settings)
        trial.set_user_attr("measurement", measurement.as_dict())
        trial.set_user_attr("claim_violation", violation if math.isfinite(violation) else 1e6)
        trial.set_user_attr("claim_met", violation <= 0)
        trial.set_constraint("time_claim", violation if math.isfinite(violation) else 1e6)
        trial.set_constraint("feasible", 0.0)
        if not math.isfinite(value):
            trial.set_user_attr("status", "not_measured")
            self.optuna.tell(trial, state=optuna.trial.TrialState.FAIL)
            row.update(status="not_measured")
            return row
        trial.set_user_attr("status", "scored")
        self.optuna.tell(trial, value)
        row.update(status="scored", value=value, claim_met=violation <= 0, time_10_80_s=measurement.time_10_80_s,
                   fade_pct=measurement.fade_pct)
        return row

    def _enqueue(self, profile: Profile, *, baseline: bool) -> None:
        params = {f"stage{i + 1}_rate_c": profile.rates_c[i] for i in self.space.searched}
        self.optuna.enqueue_trial(params, user_attrs={"baseline": baseline})


def _rate_max_c(config: StudyConfig, space: SearchSpace, benches: BenchFactory) -> float:
    """The cell's largest charge C-rate, from the protocol loaded for the study's cell."""
    from protocols.errors import ProtocolError
    from protocols.loader import load_protocol

    settings = dict(config.settings)
    if config.cell:
        settings["cell"] = config.cell
    defaults = benches.cell_defaults(BenchSpec(file=config.bench_file, cell=config.cell))
    try:
        protocol = load_protocol(config.protocol, settings, cell_defaults=defaults)
    except ProtocolError as exc:
        raise StudyError(str(exc)) from None
    cell = protocol.cell
    return space.rate_max_c(cell.charge_current_max_a, cell.capacity_ah)

