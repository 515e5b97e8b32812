"""``bench sweep PROTOCOL --grid NAME=V1,V2``: every combination as a Dask task on the simulated bench."""

from __future__ import annotations

import argparse
import logging
import sys

from bench.commands.common import error

logger = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench sweep``."""
    from bench.lab.cliutil import add_catalog_option

    sweep = sub.add_parser(
        "sweep", help="run a protocol over a parameter grid (and cell presets) as Dask tasks",
        epilog="examples:\n  bench sweep capacity_check --grid rate=0.5A,1A,2A --grid charge_rate=0.3C,0.5C\n"
               "  bench sweep my_discharge.yaml --grid rate=0.5C,1C --cells nmc_21700,lfp_26650\n"
               "  bench sweep fast_charge --grid stage2_rate=0.2C,0.3C --scheduler tcp://10.0.0.5:8786 --json\n",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sweep.add_argument("protocol", help="protocol file or shipped protocol name")
    sweep.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2,...",
                       help="a parameter and its values (repeat for more parameters: every combination runs)")
    sweep.add_argument("--cells", default="", metavar="NAME,...",
                       help="cells (presets, or datasheets a preset models): each combination on each")
    sweep.add_argument("--cell", metavar="NAME", help="one cell for every run (the same as --cells NAME)")
    sweep.add_argument("--repeat", type=int, default=1, help="run every combination N times (default 1)")
    sweep.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler, e.g. tcp://HOST:8786 "
                                                              "(default: a LocalCluster on this machine)")
    sweep.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (default 2)")
    sweep.add_argument("--out-dir", help="directory for the run files (default runs/sweep-<stamp>_<protocol>)")
    sweep.add_argument("--json", action="store_true", help="print the results as one JSON object")
    add_catalog_option(sweep)
    sweep.set_defaults(handler=cmd_sweep)


def cmd_sweep(args: argparse.Namespace) -> int:
    """``bench sweep``: 0 every run passed, 1 some did not, 2 invalid input, 4 executor unreachable."""
    from bench.lab.cliutil import print_table, to_json
    from bench.lab.sweep import SweepError, parse_grid, run_sweep

    try:
        grid = parse_grid(args.grid)
        from bench.commands.cellopts import preset_of

        names = [c.strip() for c in args.cells.split(",") if c.strip()] + ([args.cell] if args.cell else [])
        cells = [preset_of(c) for c in names]  # a sweep runs on the simulated bench: its presets
        if args.workers < 1 or args.repeat < 1:
            raise SweepError("--workers and --repeat must be at least 1")
    except SweepError as exc:
        return error(str(exc), 2)
    try:
        import distributed  # noqa: F401
    except ImportError:
        return error("bench sweep needs Dask: pip install 'cellbench[lab]'", 2)

    from bench.commands.batch_progress import BatchProgress

    total = len(cells or [None]) * args.repeat
    for values in grid.values():
        total *= len(values)
    passed = 0
    with BatchProgress("sweep", total) as bar:
        def progress(result: dict) -> None:
            nonlocal passed
            logger.info("sweep: run %d %s (%s)", result["index"], result["verdict"] or result["status"],
                        result["run_file"])
            passed += result["verdict"] == "pass"
            bar.advance(best=f"{passed} passed")

        try:
            summary = run_sweep(args.protocol, grid, cells=cells, repeat=args.repeat, out_dir=args.out_dir,
                                catalog=args.catalog, scheduler=args.scheduler, workers=args.workers,
                                progress=progress)
        except SweepError as exc:
            return error(str(exc), 2)
        except OSError as exc:  # scheduler unreachable
            return error(f"--scheduler {args.scheduler}: {exc}", 4)
    if args.json:
        sys.stdout.write(to_json(summary) + "\n")
    else:
        names = list(grid) + (["cell"] if cells else [])
        rows = [{"#": r["index"], **{n: r["settings"].get(n) for n in names}, "status": r["status"],
                 "verdict": r["verdict"], "run_file": r["run_file"] or r["message"]} for r in summary["results"]]
        print_table(rows, ["#", *names, "status", "verdict", "run_file"])
        sys.stdout.write(f"{summary['runs']} runs on {summary['workers']} Dask workers in {summary['wall_s']:.1f} s "
                         f"({summary['runs_per_min']} runs/min): "
                         f"{', '.join(f'{n} {k}' for k, n in summary['counts'].items())}\n")
    return 0 if all(r["verdict"] == "pass" for r in summary["results"]) else 1
