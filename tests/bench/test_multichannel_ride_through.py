"""A multi-channel bench rides through a link drop like a single-channel one (issue 26 item 7):
a cycler that answers nothing for 5 s (shorter than the 10 s ride-through limit) does not end
its channel's run. In process, on the virtual barrier clock: the back-offs advance simulated
time in step with the other channel, so the drop ends without any wall-clock wait."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bench.multichannel.run import run_multichannel
from bench.simulated.multichannel import build_sim_multichannel
from protocols.loader import parse_protocol
from sim_instruments.wire.endpoint import CommsFault

pytestmark = pytest.mark.timeout(120)

PROTOCOL = """\
name: mc_drop
cell: {preset: nmc_21700, capacity_ah: 4.9, voltage_max_v: 4.2, voltage_min_v: 2.5, current_max_a: 7,
       current_max_charge_a: 3.4}
sampling: {period_s: 1}
steps:
  - Discharge at 1C for 2 minutes
  - Rest for 2 minutes
"""


def _endpoint(cycler):
    """The simulated instrument's endpoint behind a cycler driver (the in-process VISA session)."""
    resource = cycler.transport._inst  # noqa: SLF001 - test reaches the simulated wire
    return resource.visalib.sessions[resource.session].endpoint


def test_a_five_second_drop_on_one_channel_is_ridden_through(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.WARNING)
    mbench = build_sim_multichannel(2, "nmc_21700")
    try:
        now = mbench.clock.now_s()
        _endpoint(mbench.cyclers[0]).faults.append(CommsFault("no_reply", start_s=now + 60.0, duration_s=5.0))
        outcome = run_multichannel(parse_protocol(PROTOCOL, file="mc_drop.yaml"), mbench, tmp_path / "run.h5",
                                   observe_s=0.0)
    finally:
        mbench.close()
    statuses = [(ch.channel, ch.outcome.result.status.value if ch.outcome else ch.error) for ch in outcome.channels]
    assert statuses == [(0, "completed"), (1, "completed")]
    assert any("answered again" in r.getMessage() for r in caplog.records)
