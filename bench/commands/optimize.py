"""``bench optimize``: a closed-loop fast-charge study (propose a batch, run it, score, repeat)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from pathlib import Path
from typing import Any

from bench.commands.cellopts import preset_of
from bench.commands.common import error, overrides

logger = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench optimize``."""
    p = sub.add_parser(
        "optimize", help="closed-loop fast-charge profile optimisation (Optuna ask/tell)",
        description="Propose K fast-charge profiles at a time from a search space, run them at once (one per "
                    "channel, or as processes / Dask tasks on the simulated bench), score each and propose the "
                    "next batch until the budget of runs is spent. Every run is an ordinary run file under the "
                    "supervisor. Resume a stopped study with --resume STUDY.")
    p.add_argument("protocol", nargs="?", help="protocol (e.g. fast_charge_profile_cycling)")
    p.add_argument("--space", help="search space YAML (e.g. protocols/spaces/fast_charge_4stage.yaml)")
    p.add_argument("--resume", metavar="STUDY", help="continue the study in this directory")
    p.add_argument("--study", metavar="DIR", help="study directory (default runs/studies/<timestamp>_<space>)")
    p.add_argument("--budget", type=int, default=48, help="runs in all (default 48)")
    p.add_argument("--batch", type=int, default=4, help="proposals run at once (default 4)")
    p.add_argument("--objective", default="fade", help="fade | early_fade | plating_time (default fade)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cycles", type=int, default=50, help="M: cycles the fade is measured (or estimated) at")
    p.add_argument("--early-cycles", type=int, default=10, help="n: cycles each run makes for early_fade")
    p.add_argument("--claim-time", type=float, default=None, metavar="S",
                   help="the time claim, s (default: the space's claim_time_s or its time budget)")
    p.add_argument("--cell", metavar="NAME",
                   help="the cell of every run: a preset, or a datasheet a preset models (bench cells list)")
    p.add_argument("--temperature", type=float, help="chamber temperature, °C")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="other protocol parameters")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--channels", type=int, help="run each batch on a simulated N-channel bench")
    where.add_argument("--bench", help="run each batch on this bench: a multi-channel TOML ([[cycler]]) runs a batch "
                            "on its channels at once; a one-cycler TOML runs one proposal at a time")
    where.add_argument("--scheduler", help="run the runs as tasks on this Dask scheduler")
    where.add_argument("--dask", action="store_true", help="run the runs on a local Dask cluster")
    p.add_argument("--workers", type=int, default=2, help="processes or Dask workers (default 2)")
    p.add_argument("--json", action="store_true", help="print the study report as JSON at the end")
    p.set_defaults(handler=cmd_optimize)


def cmd_optimize(args: argparse.Namespace) -> int:
    """``bench optimize``: 0 when a profile met the claim, 1 when none did, 2 invalid input."""
    from bench.benches import BenchFactoryError
    from bench.commands.benches import bench_factory
    from bench.config import BenchConfigError
    from bench.optimize.space import SpaceError
    from bench.optimize.study import Study, StudyError
    from bench.optimize.study_report import build_study_report, format_study_report

    try:
        if args.resume:
            study = Study.resume(Path(args.resume))
        else:
            if not args.protocol or not args.space:
                return error("bench optimize: give PROTOCOL and --space FILE (or --resume STUDY)", 2)
            config = _config(args)
            directory = Path(args.study) if args.study else Path("runs") / "studies" / (
                dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "_" + Path(args.space).stem)
            study = Study.create(directory, config, benches=bench_factory())
    except (StudyError, SpaceError, BenchConfigError, BenchFactoryError, ValueError) as exc:
        return error(str(exc), 2)
    executor = _executor(study.config)
    sys.stderr.write(f"study {study.directory}: {study.runs_done()} of {study.config.budget} runs done\n")

    from bench.commands.batch_progress import BatchProgress

    best: list[float] = []
    from bench.optimize.objectives import OBJECTIVES

    spec = OBJECTIVES.get(study.config.objective)
    unit = spec.unit if spec is not None else ""
    bar = BatchProgress("study", study.config.budget, done=study.runs_done())

    def on_batch(number: int, rows: list[dict[str, Any]]) -> None:
        for r in rows:
            rates = "/".join(f"{x:.2f}" for x in r["rates_c"])
            value = f"{r['value']:.4f}" if r.get("value") is not None else r["status"]
            claim = "" if r.get("claim_met") is None else (" claim met" if r["claim_met"] else " claim NOT met")
            line = f"batch {number} trial {r['trial']}: {rates} C -> {value}{claim}"
            if bar.enabled:
                logger.info(line)  # the live line shows the progress; the detail goes to the log
            else:
                sys.stderr.write(line + "\n")
            if r.get("value") is not None and r.get("claim_met") is not False:
                best.append(float(r["value"]))  # objectives are minimised
        bar.advance(len(rows), best=f"{min(best):.4g}{(' ' + unit) if unit else ''}" if best else None)

    try:
        with bar:
            study.run(executor, on_batch=on_batch)
    except KeyboardInterrupt:
        sys.stderr.write(f"study stopped; resume with: bench optimize --resume {study.directory}\n")
        return 130
    finally:
        executor.close()
    report = build_study_report(study.directory)
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2, default=str) + "\n")
    else:
        sys.stdout.write(format_study_report(report) + "\n")
    return 0 if report["best"] is not None else 1


def _config(args: argparse.Namespace) -> Any:
    from bench.optimize.space import load_space
    from bench.optimize.study import StudyConfig

    space = load_space(args.space)
    claim = args.claim_time if args.claim_time is not None else float(
        space.raw.get("claim_time_s", space.time_budget_s))
    if args.channels is not None and args.channels < 1:
        raise ValueError(f"--channels {args.channels}: must be >= 1")
    executor = ("channels" if args.channels or args.bench else "dask" if args.scheduler or args.dask else "processes")
    batch, workers = args.batch, args.workers
    if args.channels:
        batch = min(batch, args.channels)
    if args.bench:  # the batch is at most the bench's channels; one [cycler]: one run at a time over --bench
        from bench.benches import BenchSpec
        from bench.commands.benches import bench_factory

        benches, spec = bench_factory(), BenchSpec(file=args.bench)
        if benches.is_multichannel(spec):
            batch = min(batch, benches.channels(spec))
        else:
            executor, batch, workers = "processes", 1, 1
    return StudyConfig(
        protocol=args.protocol, space_file=str(args.space), objective=args.objective, budget=args.budget,
        batch=batch, seed=args.seed, cycles_m=args.cycles, early_cycles=args.early_cycles, claim_time_s=claim,
        cell=preset_of(args.cell) if args.cell else args.cell, temperature_c=args.temperature,
        settings=overrides(args.set), executor=executor,
        workers=workers, channels=args.channels or 0, bench_file=args.bench, scheduler=args.scheduler)


def _executor(config: Any) -> Any:
    from bench.commands.benches import bench_factory
    from bench.optimize.executors import ChannelExecutor, DaskExecutor, ProcessExecutor

    if config.executor == "channels":
        return ChannelExecutor(config.channels or config.batch, benches=bench_factory(), bench_file=config.bench_file,
                               preset=config.cell)
    if config.executor == "dask":
        return DaskExecutor(config.scheduler, workers=config.workers)
    return ProcessExecutor(config.workers)
