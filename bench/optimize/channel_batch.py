"""One batch of study runs on a multi-channel bench: each channel runs its own proposal's protocol,
all at once, sharing the chamber (soaks are barriers across channels) - the way a lab runs a batch
of an optimisation study on the channels of one cycler.

The bench is a simulated N-cell bench (``preset``) or the channels of a ``bench_file`` with
``[[cycler]]`` arrays; it is opened for the batch and closed after it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bench.multichannel.run import open_multichannel, run_multichannel
from bench.optimize.run_request import RunDone, RunRequest
from drivers.errors import InstrumentError
from protocols.errors import ProtocolError

logger = logging.getLogger(__name__)


def run_protocols_on_channels(requests: Sequence[RunRequest], *, bench_file: str | None = None,
                              preset: str | None = None) -> list[RunDone]:
    """Run ``requests`` (one per channel) as one multi-channel run; one :class:`RunDone` each."""
    from bench.config import load_bench_config
    from bench.simulated.builtin_bench import cell_datasheet
    from bench.simulated.multichannel import build_sim_multichannel
    from protocols.loader import load_protocol

    try:
        protocols = [load_protocol(r.protocol, r.settings, cell_defaults=cell_datasheet if bench_file is None else None)
                     for r in requests]
    except ProtocolError as exc:
        return [RunDone(r, 2, str(exc)) for r in requests]
    try:
        if bench_file is None:
            mbench = build_sim_multichannel(len(requests), preset or protocols[0].cell.preset)
        else:
            mbench = open_multichannel(load_bench_config(bench_file))
    except (InstrumentError, OSError, ValueError) as exc:
        return [RunDone(r, 4, f"bench: {exc}") for r in requests]
    try:
        if mbench.channels != len(requests):
            return [RunDone(r, 2, f"bench has {mbench.channels} channels, the batch has {len(requests)} runs: use --batch {mbench.channels}")
                    for r in requests]
        out = requests[0].out
        outcome = run_multichannel(protocols, mbench, out, paths=[r.out for r in requests])
    finally:
        mbench.close()
    return [RunDone(r, ch.exit_code, ch.error) for r, ch in zip(requests, outcome.channels, strict=True)]
