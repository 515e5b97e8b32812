"""One batch of study runs on a multi-channel bench: each channel runs its own proposal's protocol,
all at once, sharing the chamber (soaks are barriers across channels) - the way a lab runs a batch
of an optimisation study on the channels of one cycler.

The bench comes from the bench factory (:mod:`bench.benches`): a simulated N-cell bench
(``preset``) or the channels of a ``bench_file`` with ``[[cycler]]`` arrays (a batch smaller than
the bench runs on its first channels); it is opened for the batch and closed after it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bench.benches import BenchFactory, BenchSpec
from bench.multichannel.run import run_multichannel
from bench.optimize.run_request import RunDone, RunRequest
from drivers.errors import InstrumentError
from protocols.errors import ProtocolError

logger = logging.getLogger(__name__)


def run_protocols_on_channels(requests: Sequence[RunRequest], *, benches: BenchFactory,
                              bench_file: str | None = None, preset: str | None = None) -> list[RunDone]:
    """Run ``requests`` (one per channel) as one multi-channel run; one :class:`RunDone` each."""
    from protocols.loader import load_protocol

    spec = BenchSpec(file=bench_file, channels=len(requests), cell=preset)
    try:
        defaults = benches.cell_defaults(spec)
        protocols = [load_protocol(r.protocol, r.settings, cell_defaults=defaults) for r in requests]
    except ProtocolError as exc:
        return [RunDone(r, 2, str(exc)) for r in requests]
    if spec.cell is None:
        spec = BenchSpec(file=bench_file, channels=len(requests), cell=protocols[0].cell.preset)
    try:
        mbench = benches.open_multichannel(spec, channels=len(requests))
    except (InstrumentError, OSError, ValueError) as exc:
        return [RunDone(r, 4, f"bench: {exc}") for r in requests]
    try:
        out = requests[0].out
        outcome = run_multichannel(protocols, mbench, out, paths=[r.out for r in requests])
    finally:
        mbench.close()
    return [RunDone(r, ch.exit_code, ch.error) for r, ch in zip(requests, outcome.channels, strict=True)]
