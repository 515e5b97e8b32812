"""A bench: the role instances a run uses, its clock, and how to close it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.clock import Clock
from drivers.roles import Cycler, ImpedanceAnalyzer, TemperatureMeter, ThermalChamber

logger = logging.getLogger(__name__)


@dataclass
class Bench:
    """Roles bound to drivers. ``thermometer_channels``: (cell surface, chamber air) channels.

    ``simulation`` is the simulated world when the bench is simulated (used to restore physics on
    resume and to inject faults), else None.
    """

    cycler: Cycler
    clock: Clock
    description: str
    chamber: ThermalChamber | None = None
    thermometer: TemperatureMeter | None = None
    impedance: ImpedanceAnalyzer | None = None
    thermometer_channels: tuple[int, ...] = (101, 102)
    config: dict[str, Any] = field(default_factory=dict)
    simulation: Any = None
    #: For a simulated bench: returns the physical state to journal (restored by ``bench resume``).
    simulation_state: Callable[[], dict[str, Any]] | None = None
    #: For a simulated bench: schedules fault specs (:class:`bench.fault_specs.FaultSpec`, times
    #: relative to now) on its world and links; set by the builder in :mod:`bench.simulated`.
    inject_faults: Callable[[list[Any]], None] | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)

    def roles(self) -> dict[str, Any]:
        """The bound roles by name (absent roles omitted)."""
        out = {"cycler": self.cycler, "chamber": self.chamber, "thermometer": self.thermometer,
               "impedance": self.impedance}
        return {k: v for k, v in out.items() if v is not None}

    def identify(self) -> dict[str, str]:
        """``*IDN?`` (or equivalent) of every instrument, checked against its driver."""
        return {role: inst.verify_identity() for role, inst in self.roles().items()}

    def close(self) -> None:
        """Close every link (errors are logged, never raised)."""
        run_closers(self.closers)


def run_closers(closers: list[Callable[[], None]]) -> None:
    """Call ``closers`` newest first and empty the list; failures are logged, never raised."""
    for closer in reversed(closers):
        try:
            closer()
        except Exception:  # noqa: BLE001 - closing must not mask the run's outcome
            logger.warning("closing the bench: %s failed", closer, exc_info=True)
    closers.clear()
