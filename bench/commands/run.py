"""``bench run``: execute a protocol on a bench (simulated by default)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bench.commands.cell_ids import add_cell_id_option, cell_ids_for_run
from bench.commands.cellopts import add_cell_option, cell_resolver
from bench.commands.common import error, overrides
from bench.lab.cliutil import add_catalog_option


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench run``."""
    from bench.commands.examples import EXAMPLES

    run = sub.add_parser("run", help="run a protocol", epilog=EXAMPLES,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("protocol", help="protocol file or shipped protocol name")
    run.add_argument("--bench", help="bench config (TOML); default: the built-in simulated bench")
    run.add_argument("--out", help="run file (default runs/<timestamp>_<protocol>.h5)")
    run.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="override a protocol parameter")
    add_cell_option(run)
    run.add_argument("--fault", action="append", default=[], metavar="SPEC",
                     help="inject a fault on the simulated bench, e.g. internal_short@2h,resistance_ohm=0.05")
    run.add_argument("--speed", default="max",
                     help="simulated seconds per wall second: 'max' (as fast as possible) or a factor N, "
                          "so a simulated run can be watched, paused (kill -USR1 PID) or interrupted")
    run.add_argument("--adaptive", action="store_true",
                     help="virtual time only: sample quiet stretches (CC far from limits, rests) in strides "
                          "of up to 2 min, every period near a limit or end condition (bench/engine/adaptive.py)")
    run.add_argument("--observe", default=None, help="observation window after a trip (default 1 h)")
    run.add_argument("--execution", choices=("auto", "live", "delegated"), default="auto",
                     help="live: the bench sets every setpoint; delegated: the cycler runs the protocol compiled "
                          "to its own step file, the bench supervising every sample (auto: delegated when the "
                          "bench's cycler runs step files, e.g. neware_bts)")
    run.add_argument("--operator", default="", help="operator name for the run file")
    add_catalog_option(run)
    add_cell_id_option(run)
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--channels", type=int, default=1, metavar="N",
                     help="simulated bench with N cells run concurrently (one run file per channel)")
    run.add_argument("--cell-backend", choices=("ecm", "pybamm"), default="ecm",
                     help="simulated cell: the equivalent circuit (default) or a PyBaMM SPMe ORegan2022 cell "
                          "(pip install cellbench[pybamm])")
    run.add_argument("--cell-state", metavar="FILE",
                     help="simulated bench: continue the cell from FILE if it exists (SOC, temperatures, SEI, "
                          "plated and dead lithium, cycles) and write its state back at the end")
    run.add_argument("--seed", type=int, default=0, metavar="N",
                     help="simulated bench: seed of the measurement noise (voltage, thermocouples, EIS; default 0), "
                          "e.g. to repeat a run with other noise")
    run.add_argument("--live", action="store_true",
                     help="open the live plot window (separate process; reads the run file as it grows)")
    run.set_defaults(handler=cmd_run)


def _execution_refused(args: argparse.Namespace, config: dict[str, Any]) -> str:
    """Why ``--execution`` does not fit a ``[[cycler]]`` bench's cyclers ("" when it does)."""
    from bench.delegated.execute import config_delegated_cycler

    execution = getattr(args, "execution", "auto")
    delegated = {config_delegated_cycler(config, k) for k in range(len(config["cycler"]))}
    if execution == "delegated" and "" in delegated:
        return ("--execution delegated: a cycler of this bench does not run step files of its own "
                "(delegated execution: a [[cycler]] driver such as neware_bts)")
    if execution == "live" and delegated - {""}:
        return (f"--execution live: the {sorted(delegated - {''})[0]} cycler runs its own step files; it cannot be "
                "driven setpoint by setpoint")
    return ""


def cmd_run(args: argparse.Namespace) -> int:
    """``bench run``."""
    from bench.benches import BenchSpec
    from bench.cell_identity import parse_cell_ids
    from bench.cell_source import CellChoiceError
    from bench.commands.benches import bench_factory
    from bench.engine.runner import EXIT_INSTRUMENT, EXIT_INVALID, default_run_path, execute
    from bench.fault_specs import FaultSpecError, parse_fault_spec
    from bench.runfile.writer import RunFileWriteError
    from drivers.errors import InstrumentError, SetpointOutOfRange
    from protocols.errors import ProtocolError
    from protocols.loader import load_protocol
    from protocols.quantities import QuantityError, parse_quantity

    try:
        settings = overrides(args.set)
        parse_cell_ids(args.cell_id)  # a bad id is refused before anything runs
        faults = [parse_fault_spec(f) for f in args.fault]
        observe_s = 3600.0
        if args.observe is not None:
            observe_s = parse_quantity(args.observe).value
        speed = None if args.speed == "max" else float(args.speed)
        if speed is not None and speed <= 0:
            raise ValueError("--speed must be 'max' or a positive number")
        config = None
        if args.bench:
            from bench.config import load_bench_config

            config = load_bench_config(args.bench)  # BenchConfigError is a ValueError
        from bench.multichannel.run import is_multichannel

        multichannel = config is not None and is_multichannel(config)
        cell = None if multichannel else cell_resolver(args, settings, config)
    except (ValueError, FaultSpecError, QuantityError) as exc:
        return error(str(exc), EXIT_INVALID)

    bench = None
    out: Path | None = None
    live = None
    cell_state_world = None
    if args.cell_state and (args.bench or args.channels != 1):
        return error("--cell-state works on the single-channel simulated bench (no --bench, no --channels)",
                     EXIT_INVALID)
    try:
        if config is not None:
            if faults:
                return error("--fault works on the simulated bench only (no --bench)", EXIT_INVALID)
            if multichannel:  # [[cycler]] array: one engine per channel (and per channel its cell)
                from bench.commands.run_channels import cmd_run_multichannel_config

                refused = _execution_refused(args, config)
                if refused:
                    return error(refused, EXIT_INVALID)

                return cmd_run_multichannel_config(args, settings, config=config, speed=speed, observe_s=observe_s)
            protocol = load_protocol(args.protocol, settings, cell=cell)
            bench = bench_factory().open(BenchSpec(config=config, speed=speed))
        else:
            from bench.simulated.builtin_bench import inject_faults

            protocol = load_protocol(args.protocol, settings, cell=cell)
            from bench.fault_timing import fault_after_end

            late = fault_after_end(faults, protocol)
            if late is not None:
                return error(late, EXIT_INVALID)
            if args.channels != 1:
                from bench.commands.run_channels import cmd_run_multichannel

                if faults:
                    return error("--fault works on a single-channel simulated bench only", EXIT_INVALID)
                return cmd_run_multichannel(args, protocol, speed=speed, observe_s=observe_s)
            # the Keithley 2460 (±7.35 A), or a Maccor channel (±60 A) when a step needs more current
            backend = getattr(args, "cell_backend", "ecm")
            # the PyBaMM SPMe cannot charge far (docs/calibration.md): its cell starts full
            soc: dict[str, Any] = {"soc": 1.0} if backend == "pybamm" else {}
            try:
                if getattr(args, "execution", "auto") == "delegated":  # the simulated Neware BTS runs the step file
                    from bench.simulated.delegated_bench import build_delegated_sim_bench

                    bench = build_delegated_sim_bench(protocol.cell.preset, speed=speed, cell_backend=backend,
                                                      seed=getattr(args, "seed", 0), **soc)
                else:
                    bench = bench_factory().open(BenchSpec(speed=speed), protocol, cell_backend=backend,
                                                 seed=getattr(args, "seed", 0), **soc)
            except ValueError as exc:  # unknown cycler/backend, PyBaMM missing
                return error(str(exc), EXIT_INVALID)
            inject_faults(bench, faults)
            if args.cell_state:
                from bench.simulated.cell_state import CellStateError, apply_cell_state, read_cell_state

                try:
                    apply_cell_state(bench.simulation.world, bench.config, args.cell_state,
                                     read_cell_state(args.cell_state, protocol.cell.preset))
                except CellStateError as exc:
                    return error(str(exc), EXIT_INVALID)
                cell_state_world = bench.simulation.world
        from bench.capabilities import recheck_for_bench
        from bench.delegated.execute import check_delegable, delegated_cycler, execute_delegated

        delegated = delegated_cycler(bench)
        execution = getattr(args, "execution", "auto")
        if execution == "delegated" and not delegated:
            return error("--execution delegated: the bench's cycler does not run step files of its own "
                         "(delegated execution: a [cycler] driver such as neware_bts)", EXIT_INVALID)
        if execution == "live" and delegated:
            return error(f"--execution live: the {delegated} cycler runs its own step files; it cannot be "
                         "driven setpoint by setpoint", EXIT_INVALID)
        if not delegated:
            protocol = recheck_for_bench(protocol, bench)  # setpoints vs the bound instruments' ranges
        else:
            check_delegable(protocol, delegated)  # every file:line:col the step file cannot carry, before any run
        try:
            protocol = cell_ids_for_run(args, [protocol])[0]
        except ValueError as exc:
            return error(str(exc), EXIT_INVALID)
        out = Path(args.out) if args.out else default_run_path(protocol.name)
        if out.exists():
            return error(f"{out}: run file exists; choose another --out (runs are never overwritten)", EXIT_INVALID)
        if getattr(protocol, "abuse", None) and bench.simulation is None:
            from bench.safety.abuse import AbuseTest

            # an operator-confirmed abuse step on real hardware: refuse before a run file exists
            AbuseTest(protocol, bench, None, None).check_ready()  # type: ignore[arg-type]  # check_ready needs no writer
        from bench.engine.progress import progress_display

        if args.live:
            from bench.plot.live import start_live_plot

            live = start_live_plot(out)  # never blocks or fails the run
        from bench.config import bench_catalog
        from bench.lab.run_recording import RunRecording

        recording = RunRecording(args.catalog or bench_catalog(config))
        with progress_display(protocol.step_total(), enabled=not args.no_progress and sys.stderr.isatty(),
                              protocol=protocol) as cb:
            try:
                if delegated:
                    outcome = execute_delegated(protocol, bench, out, operator=args.operator, observe_s=observe_s,
                                                progress=recording.progress(cb), on_open=recording.on_open)
                else:
                    outcome = execute(protocol, bench, out, operator=args.operator, faults=faults,
                                      observe_s=observe_s, progress=recording.progress(cb),
                                      on_open=recording.on_open, adaptive=args.adaptive)
            except BaseException as exc:
                recording.failed(f"{type(exc).__name__}: {exc}", out)
                raise
            finally:
                if "outcome" in locals():
                    recording.finished(outcome)
                recording.close()
    except (ProtocolError, CellChoiceError) as exc:
        return error(str(exc), EXIT_INVALID)
    except SetpointOutOfRange as exc:
        return error(str(exc), EXIT_INVALID)
    except InstrumentError as exc:
        return error(str(exc), EXIT_INSTRUMENT)
    except RunFileWriteError as exc:  # --out not writable (2, nothing ran) or a write error mid-run (4)
        return error(str(exc), EXIT_INSTRUMENT if out is not None and out.exists() else EXIT_INVALID)
    finally:
        if cell_state_world is not None and "outcome" in locals():
            from bench.simulated.cell_state import write_cell_state

            write_cell_state(cell_state_world, args.cell_state)
        if bench is not None:
            bench.close()
        if live is not None and out is not None and not out.exists():  # no run file will come: close the window
            live.terminate()
    from bench.report.verdict import format_report

    result = outcome.result
    sys.stdout.write(format_report(outcome.report) + "\n")
    sys.stdout.write(f"{result.samples} samples, {result.test_time_s / 3600:.2f} h test time in "
                     f"{result.wall_time_s:.1f} s wall; run file {outcome.path}\n")
    return outcome.exit_code
