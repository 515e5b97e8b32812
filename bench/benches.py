"""One factory for the bench a run is made on: the built-in simulated bench, a bench TOML (one
cycler), or a multi-channel TOML (``[[cycler]]`` arrays).

The engine's resume, the multi-channel runner and the optimiser get their bench here and never
import :mod:`bench.simulated` (an import-linter contract): the simulated bench reaches this module
as an object that :mod:`bench.commands` passes in (:class:`SimulatedBenches`, implemented by
:class:`bench.simulated.factory.BuiltinSimulatedBenches`). Without it the factory opens real
(or loopback) benches only and says so when a simulated one is asked for.

The cell is an opaque value to the factory (today the simulator preset's name, e.g.
``"nmc_21700"``): the simulated bench models it; a real bench has it on the desk and ignores it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from bench.instruments import Bench

if TYPE_CHECKING:
    from bench.multichannel.run import MultiChannelBench


class BenchFactoryError(ValueError):
    """A bench that cannot be made from what was given; the message says which and why."""


class SimulatedBenches(Protocol):
    """What the built-in simulated bench offers the layers above it."""

    def cell_defaults(self, cell: str) -> Mapping[str, Any]:
        """The datasheet numbers of a simulated cell, in the protocol's ``cell:`` keys."""
        ...

    def for_protocol(self, protocol: Any, cell: Any, *, speed: float | None, **options: Any) -> Bench:
        """A one-cell simulated bench for ``protocol`` (the cycler its currents need)."""
        ...

    def restore(self, config: Mapping[str, Any], simulation: Mapping[str, Any], *,
                speed: float | None) -> Bench:
        """The simulated bench a run was made on (its stored ``bench_config``), its world and clock
        set back to the journal's ``simulation`` state."""
        ...

    def multichannel(self, channels: int, cell: Any, *, speed: float | None) -> MultiChannelBench:
        """A simulated bench of ``channels`` cells in one chamber."""
        ...


@dataclass(frozen=True)
class BenchSpec:
    """Where a run's bench comes from.

    ``file``: a bench TOML; ``config``: an already read config (``bench.config.load_bench_config``
    or a run file's stored ``bench_config``); neither: the built-in simulated bench with
    ``channels`` cells. ``speed``: simulated seconds per wall second (None: as fast as possible on
    the simulated bench, the file's ``[bench] speed`` on a real one). ``cell``: opaque (see module doc).
    """

    file: str | None = None
    config: Mapping[str, Any] | None = None
    channels: int = 1
    speed: float | None = None
    cell: Any = None

    @property
    def simulated(self) -> bool:
        """True for the built-in simulated bench (no file, no config)."""
        return self.file is None and self.config is None


class BenchFactory:
    """Opens the bench of a :class:`BenchSpec`; ``simulated`` builds the built-in simulated bench
    (None: real benches only)."""

    def __init__(self, simulated: SimulatedBenches | None = None) -> None:
        self.simulated = simulated

    def _sim(self) -> SimulatedBenches:
        if self.simulated is None:
            raise BenchFactoryError("no simulated bench here: give a bench config (--bench FILE)")
        return self.simulated

    def config(self, spec: BenchSpec) -> dict[str, Any] | None:
        """The bench config of ``spec`` (the file read and checked), None for the simulated bench."""
        if spec.config is not None:
            return dict(spec.config)
        if spec.file is None:
            return None
        from bench.config import load_bench_config

        return load_bench_config(spec.file)

    def channels(self, spec: BenchSpec) -> int:
        """How many cycler channels the bench of ``spec`` has."""
        config = self.config(spec)
        if config is None:
            return spec.channels
        cycler = config.get("cycler")
        return len(cycler) if isinstance(cycler, list) else 1

    def is_multichannel(self, spec: BenchSpec) -> bool:
        """True when ``spec`` names a bench with ``[[cycler]]`` arrays or several simulated cells."""
        config = self.config(spec)
        if config is None:
            return spec.channels != 1
        return isinstance(config.get("cycler"), list)

    def cell_defaults(self, spec: BenchSpec) -> Callable[[str], Mapping[str, Any]] | None:
        """Where a protocol's cell block takes the numbers it does not state: the simulated cell's
        datasheet on the simulated bench; nothing on a real bench (the protocol states them)."""
        if spec.simulated and self.simulated is not None:
            return self.simulated.cell_defaults
        return None

    def open(self, spec: BenchSpec, protocol: Any = None, **sim_options: Any) -> Bench:
        """Open a one-cycler bench: a bench file's instruments, or the simulated bench for
        ``protocol`` (``sim_options``: the simulated bench's own, e.g. ``cell_backend``, ``soc``)."""
        config = self.config(spec)
        if config is None:
            if protocol is None:
                raise BenchFactoryError("the simulated bench is built for a protocol: none given")
            cell = spec.cell if spec.cell is not None else protocol.cell.preset
            return self._sim().for_protocol(protocol, cell, speed=spec.speed, **sim_options)
        if isinstance(config.get("cycler"), list):
            raise BenchFactoryError(f"{config.get('_path', 'the bench config')}: a multi-channel bench "
                                    "([[cycler]] array) where one cycler was expected")
        from bench.config import open_bench

        return open_bench(config, speed=spec.speed)

    def open_multichannel(self, spec: BenchSpec, *, channels: int | None = None) -> MultiChannelBench:
        """Open a multi-channel bench; ``channels``: use only the first N channels of a bench file
        (a batch smaller than the bench), or build N simulated cells."""
        config = self.config(spec)
        if config is None:
            count = spec.channels if channels is None else channels
            if count < 1:
                raise BenchFactoryError(f"channels must be >= 1, got {count}")
            return self._sim().multichannel(count, spec.cell if spec.cell is not None else "nmc_21700",
                                            speed=spec.speed)
        from bench.multichannel.run import is_multichannel, open_multichannel

        if not is_multichannel(config):
            raise BenchFactoryError(f"{config.get('_path', 'the bench config')}: one [cycler], not a "
                                    "multi-channel bench ([[cycler]] entries)")
        if channels is not None:
            have = len(config["cycler"])
            if not 1 <= channels <= have:
                raise BenchFactoryError(f"{config.get('_path', 'the bench config')}: {channels} channels "
                                        f"asked, the bench has {have}")
            config["cycler"] = list(config["cycler"])[:channels]
        return open_multichannel(config, speed=spec.speed)

    def reopen(self, config: Mapping[str, Any], journal: Mapping[str, Any], *,
               speed: float | None) -> tuple[Bench, float, bool]:
        """The bench an interrupted run was made on, for ``bench resume``: (bench, test time at
        which the run continues in s, seamless).

        Simulated: its world and clock restored from the journal (seamless: no time passed).
        A bench config: the same instruments reopened; the test time continues on the wall clock
        (times the config's ``[bench] speed``, for simulators served faster than real time), so the
        outage shows as time with no samples."""
        if config.get("simulated"):
            simulation = journal.get("simulation")
            if not simulation:
                raise BenchFactoryError("the journal holds no simulated world state")
            bench = self._sim().restore(config, simulation, speed=speed)
            return bench, float(simulation["time_s"]) - float(journal["t0_clock_s"]), True
        if isinstance(config.get("cycler"), list):
            raise BenchFactoryError("a channel of a multi-channel run is not resumed on its own "
                                    "(its chamber is shared with the other channels)")
        bench = self.open(BenchSpec(config=config, speed=speed))
        clock_speed = float(getattr(bench.clock, "speed", 1.0) or 1.0)
        return bench, (time.time() - float(journal["unix0"])) * clock_speed, False
