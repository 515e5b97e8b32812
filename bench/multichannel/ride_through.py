"""Multi-channel benches ride through link faults like single-channel ones (issue 26 item 7).

Each channel's own instrument (a Keithley per cell) rides through on that channel's clock
(:func:`bench.multichannel.sharing.channel_clocks`: a barrier clock on virtual time, so a back-off
advances the simulated world in step with the other channels). Instruments shared by channels
(an N6700 mainframe, a thermocouple meter, the chamber) ride through on the bench's clock when it
is real (or scaled) time; on a virtual barrier clock they keep their immediate retries: a back-off
slept while holding the shared instrument would stop the other channels short of the barrier.
The policy is :mod:`drivers.link_policy` (back-off 0.5, 1, 2 s; a fault shorter than 10 s never
ends a run). Commercial systems (Maccor MacNet, Arbin CTI) keep their drivers' own link handling.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def enable_ride_through(mbench: Any, clocks: Sequence[Any]) -> int:
    """Give every ride-through-capable instrument of ``mbench`` its clock; returns how many."""
    count = 0
    done: set[int] = set()

    def bind(instrument: Any, clock: Any) -> None:
        nonlocal count
        ride = getattr(instrument, "ride_through", None)
        if ride is None or id(instrument) in done:
            return
        ride(clock.now_s, clock.sleep)
        done.add(id(instrument))
        count += 1

    for cycler, clock in zip(mbench.cyclers, clocks, strict=True):
        bind(cycler, clock)
    if all(clock is mbench.clock for clock in clocks):  # real or scaled time: one clock for all
        shared = [getattr(c, "system", None) for c in mbench.cyclers]
        shared += [getattr(m, "meter", None) for m in mbench.meters] + [mbench.chamber]
        for instrument in shared:
            if instrument is not None:
                bind(instrument, mbench.clock)
    return count
