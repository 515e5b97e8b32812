"""Simulated commercial cycler systems (Maccor MacNet, Arbin CTI, Neware BTS) by vendor name: what ``bench sim
serve --cycler maccor_macnet --channels N`` and the in-process simulated benches need.

* :func:`serve_cycler_system` starts the loopback TCP server(s) of one system whose test channels
  1..N drive world cells ``first_cell .. first_cell + N - 1`` and returns a :class:`ServedSystem`
  (its ``resource`` string, the ``[[cycler]]`` entries of a bench config, ``link`` to drop the
  cable in tests, ``stop()``).
* :func:`cycler_system_stream` opens an in-process byte stream to a simulated system (no sockets,
  the world's virtual clock), for a ``SystemPool(open_stream)`` on the driver side.

Keys are the driver names of the bench config (``drivers/catalog.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sim_instruments.cyclers.arbin_cti import ArbinSystemSim
from sim_instruments.cyclers.arbin_wire import arbin_stream, serve_arbin
from sim_instruments.cyclers.maccor_macnet import MaccorSystemSim
from sim_instruments.cyclers.maccor_wire import maccor_stream, serve_maccor
from sim_instruments.cyclers.neware_bts import NewareBtsSim, neware_stream, serve_neware
from sim_instruments.wire.stream_server import LinkState, SimByteStream
from sim_instruments.wire.tcp_server import LOOPBACK
from sim_instruments.world.sim_world import SimWorld

#: What the bench config of a served Arbin system needs besides the resource (its simulated CTI user).
ARBIN_OPTIONS = {"username": "admin", "password": "000000"}


@dataclass(frozen=True)
class _Vendor:
    make: Callable[..., Any]
    serve: Callable[..., Any]
    stream: Callable[..., SimByteStream]
    options: dict[str, Any]


VENDORS: dict[str, _Vendor] = {
    "maccor_macnet": _Vendor(MaccorSystemSim, serve_maccor, maccor_stream, {}),
    "arbin_cti": _Vendor(ArbinSystemSim, serve_arbin, arbin_stream, ARBIN_OPTIONS),
    # delegated execution only: the channels run step files the bench downloads (drivers/neware_bts.py)
    "neware_bts": _Vendor(NewareBtsSim, serve_neware, neware_stream, {}),
    # the same Arbin and Maccor systems, their channels running uploaded schedules / sent procedures
    # (drivers/arbin_delegated.py, drivers/maccor_delegated.py)
    "arbin_schedule": _Vendor(ArbinSystemSim, serve_arbin, arbin_stream, ARBIN_OPTIONS),
    "maccor_procedure": _Vendor(MaccorSystemSim, serve_maccor, maccor_stream, {}),
}
#: The second port a delegated Arbin / Maccor channel needs (CTI's file port, MacNet's binary port).
_SECOND_PORT = {"arbin_schedule": ("file_resource", "file_resource"),
                "maccor_procedure": ("binary_resource", "binary_resource")}


@dataclass
class ServedSystem:
    """One simulated system on loopback TCP."""

    driver: str
    sim: Any
    servers: Any
    channels: int

    @property
    def resource(self) -> str:
        """The resource string a bench config names (``TCPIP::127.0.0.1::PORT::SOCKET``)."""
        return self.servers.resource

    @property
    def link(self) -> LinkState:
        """The system's cable: ``link.down = True`` drops every connection (tests, fault injection)."""
        return self.servers.link

    def cycler_entries(self) -> list[dict[str, Any]]:
        """One ``[[cycler]]`` table per test channel: driver, resource, channel (1-based) and options."""
        options = dict(VENDORS[self.driver].options)
        if self.driver in _SECOND_PORT:
            key, attribute = _SECOND_PORT[self.driver]
            options[key] = getattr(self.servers, attribute)
        return [{"driver": self.driver, "resource": self.resource, "channel": k, **options}
                for k in range(1, self.channels + 1)]

    def stop(self) -> None:
        """Stop the system's servers."""
        self.servers.stop()


def _cells(world: SimWorld, channels: int, first_cell: int) -> list[int]:
    if channels < 1 or first_cell < 0 or first_cell + channels > len(world.channels):
        raise ValueError(f"{channels} channels from cell {first_cell}: the world has {len(world.channels)} cells")
    return list(range(first_cell, first_cell + channels))


def make_cycler_system(driver: str, world: SimWorld, channels: int, *, first_cell: int = 0, **options: Any) -> Any:
    """The simulated system (not served) of ``driver`` on world cells ``first_cell ..`` (KeyError: unknown)."""
    try:
        vendor = VENDORS[driver]
    except KeyError:
        raise KeyError(f"no simulated cycler system {driver!r}; available: {', '.join(sorted(VENDORS))}") from None
    return vendor.make(world, _cells(world, channels, first_cell), **options)


def serve_cycler_system(driver: str, world: SimWorld, channels: int, *, first_cell: int = 0, host: str = LOOPBACK,
                        **options: Any) -> ServedSystem:
    """Serve a simulated ``driver`` system of ``channels`` channels on ``host`` (free ports)."""
    sim = make_cycler_system(driver, world, channels, first_cell=first_cell, **options)
    return ServedSystem(driver, sim, VENDORS[driver].serve(sim, host=host), channels)


def cycler_system_stream(driver: str, sim: Any, resource: str, *, link: LinkState | None = None) -> SimByteStream:
    """An in-process stream to the simulated system ``sim`` of ``driver``."""
    return VENDORS[driver].stream(sim, resource, link=link)
