"""``bench validate``: parse and check a protocol against the cell and the bench, print its step
tree with an estimated duration and charge throughput (exit 0), or one ``file:line:col`` error
with a suggestion (exit 2)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bench.commands.cellopts import add_cell_option, cell_resolver
from bench.commands.common import error, overrides

#: A Python protocol's dry run lists at most this many steps.
LIST_STEPS = 60


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench validate``."""
    validate = sub.add_parser("validate", help="check a protocol, print its steps, estimated duration and Ah")
    validate.add_argument("protocol", help="protocol file (.yaml or .py) or shipped protocol name")
    validate.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="override a parameter")
    validate.add_argument("--bench", help="check against this bench config (TOML); default: the simulated bench")
    validate.add_argument("--cycler", metavar="NAME",
                          help="check that the protocol runs delegated on this cycler's own step file "
                               "(neware_bts): one file:line:col line per step, end or limit it cannot express")
    add_cell_option(validate)
    validate.set_defaults(handler=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> int:
    """``bench validate``."""
    from bench.capabilities import limits_of_bench, limits_of_config, recheck_for_bench
    from bench.simulated.builtin_bench import sim_bench_for
    from protocols.errors import ProtocolError
    from protocols.estimate import estimate
    from protocols.loader import load_protocol

    config: dict[str, Any] | None = None
    try:
        settings = overrides(args.set)
        if args.bench:
            from bench.config import BenchConfigError, load_bench_config

            try:
                config = load_bench_config(args.bench)
                instrument = limits_of_config(config)
            except BenchConfigError as exc:
                return error(str(exc), 2)
            channel = None
            if isinstance(config.get("cycler"), list) and not args.cell:  # a multi-channel bench: channel 1's cell
                channel = config["cycler"][0].get("cell")
            protocol = load_protocol(args.protocol, settings, instrument=instrument,
                                     cell=cell_resolver(args, settings, config, channel=channel))
        else:
            protocol = load_protocol(args.protocol, settings, cell=cell_resolver(args, settings, None))
            bench = sim_bench_for(protocol)  # the bench `bench run` would build, checked the same way
            try:
                instrument = limits_of_bench(bench)
                protocol = recheck_for_bench(protocol, bench)
            finally:
                bench.close()
        delegated = _delegated_cycler(args, config)
        steps_note = ""
        if delegated:
            from bench.delegated.compiler import compile_for, step_format

            program = compile_for(protocol, step_format(delegated))
            if program.problems:
                return error("\n".join(program.problems), 2)
            steps_note = (f"runs delegated on {delegated}: {len(program.steps)} cycler steps in its own step file, "
                          "the bench supervising every sample\n")
        result = estimate(protocol, instrument=instrument)
    except (ProtocolError, ValueError) as exc:
        return error(str(exc), 2)
    write = sys.stdout.write
    cell = protocol.cell
    write(f"{protocol.name}: valid ({protocol.source_path})\n")
    write(f"  cell {cell.datasheet or cell.preset} {cell.capacity_ah:g} Ah {cell.voltage_min_v:g}-{cell.voltage_max_v:g} V; "
          f"limits {protocol.limits.voltage_min_v:g}-{protocol.limits.voltage_max_v:g} V, "
          f"±{protocol.limits.current_max_a:g} A, {protocol.limits.temperature_max_c:g} °C max; "
          f"checked against {instrument.description}\n")
    write(_cell_sources(protocol))
    write(steps_note)
    if protocol.record_when is not None:  # record by change: the supervisor still sees every sample
        write(f"  sampling every {protocol.period_s:g} s; {protocol.record_when.describe()}\n")
    if protocol.generator is None:
        write("steps (index, line, estimated time of the first run):\n")
        _tree(protocol.steps, result.per_step, 1, write)
    else:
        _dry_run_listing(protocol, instrument, write)
    write(_summary(result, protocol))
    return 0


def _delegated_cycler(args: argparse.Namespace, config: dict[str, Any] | None) -> str:
    """The cycler whose step file the protocol must fit: ``--cycler``, else the bench config's
    cycler when it runs its own step files; "" for live control."""
    from bench.delegated.execute import config_delegated_cycler

    if args.cycler:
        return str(args.cycler)
    return config_delegated_cycler(config or {})


def _cell_sources(protocol: Any) -> str:
    """Where each of the cell's numbers came from (datasheet page, bench file, protocol line, --set)."""
    import math

    cell, sources = protocol.cell, protocol.cell_sources
    name = cell.datasheet or "the protocol's cell: block"
    simulated = f", simulated as preset {cell.preset}" if cell.preset and cell.preset != cell.datasheet else ""
    lines = [f"cell {name}{simulated}; where each number came from:\n"]
    for key in sorted(sources):
        value = getattr(cell, key, None)
        if value is None or key in ("preset", "datasheet") or (isinstance(value, float) and math.isnan(value)):
            continue
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        lines.append(f"  {key:<28} {shown:<12} {sources[key]}\n")
    return "".join(lines)


def _tree(nodes: Any, per_step: dict[int, tuple[float, int]], depth: int, write: Any) -> None:
    from protocols.quantities import format_duration
    from protocols.steps import Loop

    pad = "  " * depth
    for node in nodes:
        if isinstance(node, Loop):
            until = f", until {node.until.text}" if node.until is not None else ""
            write(f"{pad}repeat {node.count}{until}   (line {node.line}, each repetition a cycle)\n")
            _tree(node.steps, per_step, depth + 1, write)
            continue
        first, count = per_step.get(node.index, (0.0, 0))
        times = f" x{count}" if count > 1 else ""
        at_most = f" (at most {format_duration(node.duration_s)})" \
            if node.duration_s and node.until and "at most" not in node.text.lower() else ""
        record = ", ".join(f"{name} = {expr.text}" for name, expr in node.record)
        record = f"   -> {record}" if record else ""
        write(f"{pad}[{node.index}] line {node.line:>3}  {node.text}{at_most}   ~{format_duration(first)}{times}{record}\n")


def _dry_run_listing(protocol: Any, instrument: Any, write: Any) -> None:
    """The first steps a Python protocol yields on estimated results."""
    from protocols.estimate import dry_run

    write(f"steps of the dry run (first {LIST_STEPS}; cycle, line):\n")
    for item in dry_run(protocol, instrument=instrument, max_steps=LIST_STEPS):
        if item is None:
            write("  ...\n")
            break
        planned, _result = item
        write(f"  cycle {planned.cycle:<3} line {planned.step.line:>3}  {planned.step.text}\n")


def _summary(result: Any, protocol: Any) -> str:
    from protocols.quantities import format_duration

    notes = []
    if result.truncated:
        notes.append(f"the estimate stops after {result.steps} steps")
    if protocol.generator is not None or any(getattr(n, "until", None) is not None and not hasattr(n, "kind")
                                             for n, _d in protocol.walk_nodes()):
        notes.append("loops that end on measured values are counted as the estimate sees them (often their maximum)")
    note = f" ({'; '.join(notes)})" if notes else ""
    return (f"estimated duration: ~{format_duration(result.duration_s)} in {result.steps} steps, "
            f"{result.cycles} cycle(s){note}\n"
            f"estimated throughput: {result.throughput_ah:.2f} Ah ({result.charge_ah:.2f} Ah charged, "
            f"{result.discharge_ah:.2f} Ah discharged)\n"
            "(an estimate: CC from the capacity and current, CV by an exponential-decay heuristic, "
            "rest and soak by their duration)\n")
