"""``bench sim serve``: serve the simulated bench on loopback TCP until SIGINT / SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from pathlib import Path

from bench.commands.cellopts import preset_of
from bench.commands.common import error

logger = logging.getLogger(__name__)

SERVE_EXAMPLES = """examples:
  bench sim serve --write-bench sim.toml                  real time; then: bench check --bench sim.toml
  bench sim serve --write-bench sim.toml --speed 600      10 simulated minutes per wall second
  bench run capacity_check --bench sim.toml               the runner reads speed from sim.toml
"""


class _Terminated(Exception):
    """Raised in the main thread by the SIGTERM handler."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench sim serve``."""
    sim = sub.add_parser("sim", help="simulated instruments (bench sim serve)")
    sim_sub = sim.add_subparsers(dest="sim_command", required=True)
    serve = sim_sub.add_parser(
        "serve", help="serve the simulated bench over loopback TCP", epilog=SERVE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Start TCP servers for the simulated cycler, chamber, thermometer and impedance "
                    "meter (one shared cell) on free ports, optionally write a bench config pointing at them, and serve "
                    "until Ctrl-C or SIGTERM.")
    serve.add_argument("--write-bench", metavar="FILE", help="write a bench config (TOML) for these servers")
    serve.add_argument("--speed", default="1", help="simulated seconds per wall second (default 1)")
    serve.add_argument("--cell", default="nmc_21700", metavar="NAME",
                       help="simulated cell: a preset, or a datasheet a preset models (bench cells list); "
                            "the bench config's [cell] names its datasheet")
    serve.add_argument("--soc", default="0.5", help="initial state of charge, 0..1 (default 0.5)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1; anything else exposes the simulator)")
    serve.add_argument("--cycler", default="keithley2460",
                       help="simulated cycler: keithley2460 (default), ea_psb10000, or a multi-channel system: "
                            "maccor_macnet, arbin_cti, or the keysight_n6700 mainframe (with --channels); "
                            "neware_bts (a Neware BTS running step files: delegated execution), arbin_schedule / "
                            "maccor_procedure (the Arbin / Maccor system with its channels running uploaded "
                            "schedules / sent procedures)")
    serve.add_argument("--channels", type=int, default=1,
                       help="cells (and cycler channels) in the one chamber (default 1); above 1, or with a "
                            "multi-channel system, the bench config has [[cycler]] entries")
    serve.add_argument("--chamber", default="espec_p300",
                       help="simulated chamber: espec_p300 (default, ASCII), watlow_f4t (Modbus TCP) or "
                            "memmert_oven (a 20-300 °C oven, AtmoWEB REST over HTTP)")
    serve.add_argument("--cell-state", metavar="FILE",
                       help="continue the served cell(s) from FILE if it exists; write their state back on stop")
    serve.add_argument("--fault", action="append", default=[], metavar="SPEC",
                       help="schedule a fault on the served bench (same syntax as bench run --fault; "
                            "times from the start of serving)")
    serve.set_defaults(handler=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    """``bench sim serve``: start, announce the resources, serve until stopped; exit 0."""
    from bench.simulated.serve import start_sim_servers

    try:
        speed = float(args.speed)
        soc = float(args.soc)
    except ValueError:
        return error(f"--speed and --soc must be numbers, got {args.speed!r} and {args.soc!r}", 2)
    if not speed > 0 or speed == float("inf"):
        return error(f"--speed must be a positive number, got {args.speed!r}", 2)
    if args.write_bench and not Path(args.write_bench).resolve().parent.is_dir():
        return error(f"--write-bench {args.write_bench}: directory does not exist", 2)
    from bench.fault_specs import FaultSpecError, parse_fault_spec

    try:
        faults = [parse_fault_spec(spec) for spec in args.fault]
    except FaultSpecError as exc:
        return error(str(exc), 2)
    from bench.simulated.multichannel import DELEGATED_CYCLERS, SYSTEM_CYCLERS

    if args.channels < 1:
        return error(f"--channels {args.channels}: must be >= 1", 2)
    if args.channels > 1 or args.cycler in SYSTEM_CYCLERS + DELEGATED_CYCLERS or args.cycler == "keysight_n6700":
        if faults:
            return error("--fault is not supported with --channels / a multi-channel system yet", 2)
        if args.host != "127.0.0.1":
            return error("--host: a multi-channel simulated bench listens on 127.0.0.1 only", 2)
        return _serve_channels(args, speed, soc)
    try:
        servers = start_sim_servers(preset_of(args.cell), soc=soc, speed=speed, host=args.host, cycler=args.cycler,
                                    chamber=args.chamber, faults=faults)
    except (KeyError, ValueError) as exc:
        return error(str(exc).strip("'\""), 2)
    except (OSError, RuntimeError) as exc:
        return error(f"cannot listen on {args.host}: {exc}", 2)
    code = _load_cell_state(args, servers.world, {})
    if code is not None:
        servers.close()
        return code
    with servers:
        for role, inst in servers.instruments.items():
            logger.info("%s %s on %s", role, inst.spec.driver, inst.resource)
            sys.stdout.write(f"{role:<12} {inst.spec.driver:<18} {inst.resource}\n")
        if args.write_bench:
            try:
                servers.write_bench(args.write_bench)
            except OSError as exc:
                return error(f"--write-bench {args.write_bench}: {exc}", 2)
            sys.stdout.write(f"bench config  {args.write_bench}\n")
        sys.stdout.write(f"serving {args.cell} at {speed:g}x real time; Ctrl-C or SIGTERM stops\n")
        sys.stdout.flush()
        _serve_until_stopped()
        _save_cell_state(args, servers.world)
    sys.stdout.write("stopped\n")
    return 0


def _load_cell_state(args: argparse.Namespace, world: object, config: dict) -> int | None:
    """``--cell-state``: continue the world's cells from the file (exit code 2 on a bad file)."""
    if not args.cell_state:
        return None
    from bench.simulated.cell_state import CellStateError, apply_cell_state, read_cell_state

    try:
        apply_cell_state(world, config, args.cell_state, read_cell_state(args.cell_state, preset_of(args.cell)))
    except CellStateError as exc:
        return error(str(exc), 2)
    return None


def _save_cell_state(args: argparse.Namespace, world: object) -> None:
    if args.cell_state:
        from bench.simulated.cell_state import write_cell_state

        write_cell_state(world, args.cell_state)


def _serve_channels(args: argparse.Namespace, speed: float, soc: float) -> int:
    """``bench sim serve --channels N`` (or a multi-channel system): N cells in one chamber."""
    from bench.simulated.multichannel import serve_multichannel, to_toml

    try:
        servers = serve_multichannel(args.channels, preset_of(args.cell), speed=speed, soc=soc, cycler=args.cycler,
                                     chamber=args.chamber)
    except (KeyError, ValueError) as exc:
        return error(str(exc).strip("'\""), 2)
    except (OSError, RuntimeError) as exc:
        return error(f"cannot listen on 127.0.0.1: {exc}", 2)
    code = _load_cell_state(args, servers.world, servers.config)
    if code is not None:
        servers.close()
        return code
    with servers:
        for entry in servers.config["cycler"]:
            channel = f" channel {entry['channel']}" if "channel" in entry else ""
            sys.stdout.write(f"{'cycler':<12} {entry['driver']:<18} {entry['resource']}{channel}\n")
        for entry in servers.config["thermometer"]:
            sys.stdout.write(f"{'thermometer':<12} {entry['driver']:<18} {entry['resource']}\n")
        sys.stdout.write(f"{'chamber':<12} {servers.config['chamber']['driver']:<18} "
                         f"{servers.config['chamber']['resource']}\n")
        if args.write_bench:
            try:
                Path(args.write_bench).write_text(to_toml(servers.config), encoding="utf-8")
            except OSError as exc:
                return error(f"--write-bench {args.write_bench}: {exc}", 2)
            sys.stdout.write(f"bench config  {args.write_bench}\n")
        sys.stdout.write(f"serving {args.channels} x {args.cell} at {speed:g}x real time; Ctrl-C or SIGTERM stops\n")
        sys.stdout.flush()
        _serve_until_stopped()
        _save_cell_state(args, servers.world)
    sys.stdout.write("stopped\n")
    return 0


def _serve_until_stopped() -> None:
    """Block until SIGINT (KeyboardInterrupt) or SIGTERM."""
    previous = None
    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        def on_term(_signum: int, _frame: object) -> None:
            raise _Terminated()

        previous = signal.signal(signal.SIGTERM, on_term)
    try:
        while True:
            time.sleep(3600.0)  # a signal handler runs (and raises) at once during time.sleep
    except (KeyboardInterrupt, _Terminated):
        logger.info("stopping the simulated bench")
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
