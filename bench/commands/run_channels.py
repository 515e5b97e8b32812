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


def cmd_run_multichannel(args: Any, protocol: Protocol, *, config: dict[str, Any] | None = None,
                         speed: float | None = None, observe_s: float = 3600.0) -> int:
    """``bench run`` on a multi-channel bench (``--bench`` with ``[[cycler]]``, or ``--channels N``)."""
    try:
        if config is None:
            if args.channels < 1:
                return error(f"--channels {args.channels}: must be >= 1", EXIT_INVALID)
            spec = BenchSpec(channels=args.channels, speed=speed, cell=protocol.cell.preset)
        else:
            spec = BenchSpec(config=config, speed=speed)
        mbench = bench_factory().open_multichannel(spec)
    except InstrumentError as exc:
        return error(str(exc), EXIT_INSTRUMENT)
    try:
        from bench.commands.cell_ids import cell_ids_for_run

        try:
            channel_protocols = cell_ids_for_run(args, [protocol] * mbench.channels)
        except ValueError as exc:
            return error(str(exc), EXIT_INVALID)
        out = Path(args.out) if args.out else default_run_path(protocol.name)
        existing = [p for p in (channel_path(out, k) for k in range(mbench.channels)) if p.exists()]
        if existing:
            return error(f"{existing[0]}: run file exists; choose another --out (runs are never overwritten)",
                         EXIT_INVALID)
        from bench.lab.run_recording import RunRecording

        outcome = run_multichannel(channel_protocols, mbench, out, operator=args.operator, observe_s=observe_s,
                                   recording=lambda: RunRecording(args.catalog))
    finally:
        mbench.close()
    lines = [f"Protocol {protocol.name} on {mbench.channels} channels ({outcome.wall_time_s:.1f} s wall):"]
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
