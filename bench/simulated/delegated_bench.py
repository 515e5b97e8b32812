"""The built-in simulated bench with a cycler that runs its own step files (issue 29).

The bench of :func:`bench.simulated.builtin_bench.build_sim_bench` (cell, chamber, thermometer,
impedance meter on one world), with its cycler role taken by channel 1 of a simulated Neware BTS
(``sim_instruments/cyclers/neware_bts``) on the same world cell, reached through the production
driver (``drivers/neware_bts.py``) over an in-process byte stream on the bench's clock (virtual
time by default). The Keithley of the base bench stays connected with its output off; nothing
drives it. ``bench run PROTOCOL --execution delegated`` without ``--bench`` runs on this bench.
"""

from __future__ import annotations

import tempfile
from typing import Any

from bench.delegated.cycler import ChannelAsCycler
from bench.instruments import Bench
from bench.simulated.builtin_bench import build_sim_bench
from drivers.neware_bts import open_neware_channel
from sim_instruments.cyclers.neware_bts import NewareBtsSim, neware_stream
from sim_instruments.wire.stream_server import LinkState

#: The resource the in-process BTS answers as (the real BTS API listens on port 502).
NEWARE_RESOURCE = "TCPIP::neware-sim::502::SOCKET"
#: Delegated cyclers the built-in simulated bench can offer.
DELEGATED_SIM_CYCLERS = ("neware_bts",)


def build_delegated_sim_bench(preset: str = "nmc_21700", *, soc: float = 0.5, cycler: str = "neware_bts",
                              **options: Any) -> Bench:
    """The simulated bench with ``cycler`` (a :data:`DELEGATED_SIM_CYCLERS` name) running step
    files on the world's cell; ``options`` as :func:`build_sim_bench` (clock, speed, seed...).
    ``bench.simulation.neware`` is the simulated BTS (for fault injection: ``alarm(1, reason)``),
    ``bench.simulation.neware_link`` its network cable (``down = True`` drops it)."""
    if cycler not in DELEGATED_SIM_CYCLERS:
        raise ValueError(f"no simulated delegated cycler {cycler!r}; choose one of {', '.join(DELEGATED_SIM_CYCLERS)}")
    bench = build_sim_bench(preset, soc=soc, **options)
    world = bench.simulation.world
    system = NewareBtsSim(world, [0])
    link = LinkState()
    step_dir = tempfile.TemporaryDirectory(prefix="cellbench_neware_")
    try:
        channel = open_neware_channel(NEWARE_RESOURCE, name="cycler", channel=1, step_dir=step_dir.name,
                                      stream=neware_stream(system, NEWARE_RESOURCE, link=link))
    except BaseException:
        step_dir.cleanup()
        bench.close()
        raise
    bench.cycler = ChannelAsCycler(channel)
    bench.config = dict(bench.config, cycler={"driver": cycler, "resource": NEWARE_RESOURCE, "channel": 1})
    bench.simulation.neware = system
    bench.simulation.neware_link = link
    bench.closers += [channel.close, step_dir.cleanup]
    return bench
