"""``bench run`` on a multi-channel bench: a ``--bench`` file with ``[[cycler]]`` arrays, or
``--channels N`` on a simulated N-cell bench; one line per channel on stdout."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from bench.benches import BenchSpec
from bench.commands.benches import bench_factory
from bench.commands.common import error
from bench.engine.runner import EXIT_INSTRUMENT, EXIT_INVALID, default_run_path
from bench.multichannel.run import channel_path, run_multichannel
from drivers.errors import InstrumentError
from protocols.steps import Protocol


def channel_protocols(args: Any, settings: dict[str, str], config: dict[str, Any]) -> list[Protocol]:
    """One protocol per channel of a ``[[cycler]]`` bench, each with its channel's cell: ``--cell``
    for every channel, else the channel's ``cell = ...``, else the bench's ``[cell]``. Channels
    naming the same cell share one parsed protocol."""
    from bench.capabilities import limits_of_config
    from bench.commands.cellopts import cell_resolver
    from protocols.loader import load_protocol

    by_cell: dict[str, Protocol] = {}
    out = []
    for number, section in enumerate(config["cycler"]):
        channel_cell = None if getattr(args, "cell", None) else section.get("cell")
        key = repr((channel_cell, section.get("driver")))
        if key not in by_cell:  # checked against the channel's cycler before anything opens
            pairs = dict(settings)
            by_cell[key] = load_protocol(args.protocol, pairs, instrument=limits_of_config(config, number),
                                         cell=cell_resolver(args, pairs, config, channel=channel_cell))
        out.append(by_cell[key])
    return out


def cmd_run_multichannel_config(args: Any, settings: dict[str, str], *, config: dict[str, Any],
                                speed: float | None = None, observe_s: float = 3600.0) -> int:
    """``bench run --bench FILE`` on a ``[[cycler]]`` bench: each channel's cell, then the run."""
    from bench.cell_source import CellChoiceError
    from protocols.errors import ProtocolError

    try:
        protocols = channel_protocols(args, settings, config)
        from bench.delegated.execute import check_delegable, config_delegated_cycler

        for k, protocol in enumerate(protocols):  # a channel that runs its own step file: refused before any run
            cycler = config_delegated_cycler(config, k)
            if cycler:
                check_delegable(protocol, cycler)
    except (ProtocolError, CellChoiceError) as exc:
        return error(str(exc), EXIT_INVALID)
    return cmd_run_multichannel(args, protocols, config=config, speed=speed, observe_s=observe_s)


def cmd_run_multichannel(args: Any, protocol: Protocol | list[Protocol], *, config: dict[str, Any] | None = None,
                         speed: float | None = None, observe_s: float = 3600.0) -> int:
    """``bench run`` on a multi-channel bench (``--bench`` with ``[[cycler]]``, or ``--channels N``);
    ``protocol``: one for all channels, or one per channel."""
    first = protocol[0] if isinstance(protocol, list) else protocol
    try:
        if config is None:
            if args.channels < 1:
                return error(f"--channels {args.channels}: must be >= 1", EXIT_INVALID)
            spec = BenchSpec(channels=args.channels, speed=speed, cell=first.cell.preset)
        else:
            spec = BenchSpec(config=config, speed=speed)
        mbench = bench_factory().open_multichannel(spec)
    except InstrumentError as exc:
        return error(str(exc), EXIT_INSTRUMENT)
    try:
        from bench.commands.cell_ids import cell_ids_for_run

        per_channel = protocol if isinstance(protocol, list) else [protocol] * mbench.channels
        try:
            protocol = cell_ids_for_run(args, per_channel)
        except ValueError as exc:
            return error(str(exc), EXIT_INVALID)
        out = Path(args.out) if args.out else default_run_path(first.name)
        existing = [p for p in (channel_path(out, k) for k in range(mbench.channels)) if p.exists()]
        if existing:
            return error(f"{existing[0]}: run file exists; choose another --out (runs are never overwritten)",
                         EXIT_INVALID)
        from bench.config import bench_catalog
        from bench.lab.run_recording import RunRecording

        outcome = run_multichannel(protocol, mbench, out, operator=args.operator, observe_s=observe_s,
                                   recording=lambda: RunRecording(args.catalog or bench_catalog(config)))
    finally:
        mbench.close()
    lines = [f"Protocol {first.name} on {mbench.channels} channels ({outcome.wall_time_s:.1f} s wall):"]
    for ch in outcome.channels:
        if ch.outcome is None:
            lines.append(f"  ch{ch.channel:02d}: FAILED ({ch.error}) exit 4")
            continue
        result, report = ch.outcome.result, ch.outcome.report
        lines.append(f"  ch{ch.channel:02d}: {str(report.get('verdict', '?')).upper():5s} {result.status.value:18s} "
                     f"{result.samples} samples, {result.test_time_s / 3600:.2f} h  exit {ch.exit_code}  {ch.path}")
    for kind, generation, setpoint in outcome.chamber_log:
        if kind in ("soak", "safe"):
            lines.append(f"  chamber: {kind} {setpoint:.1f} °C" + (f" (barrier {generation})" if kind == "soak" else ""))
    sys.stdout.write("\n".join(lines) + "\n")
    return outcome.exit_code
