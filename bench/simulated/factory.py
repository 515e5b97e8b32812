"""The built-in simulated bench as :class:`bench.benches.SimulatedBenches`: what
:mod:`bench.commands` hands the bench factory, so nothing above the simulator imports it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.instruments import Bench
from bench.multichannel.run import MultiChannelBench


class BuiltinSimulatedBenches:
    """One-cell and N-cell simulated benches, and the restore of one for ``bench resume``."""

    def cell_defaults(self, cell: str) -> Mapping[str, Any]:
        """The simulated preset's datasheet numbers (:func:`bench.simulated.builtin_bench.cell_datasheet`)."""
        from bench.simulated.builtin_bench import cell_datasheet

        return cell_datasheet(cell)

    def for_protocol(self, protocol: Any, cell: Any, *, speed: float | None, **options: Any) -> Bench:
        """The bench ``bench run`` uses: the cell ``cell`` (a preset name), the cycler the protocol's
        currents need (:func:`bench.simulated.builtin_bench.choose_sim_cycler`)."""
        from bench.simulated.builtin_bench import build_sim_bench, choose_sim_chamber, choose_sim_cycler

        # the same choice as bench validate's (bench.simulated.builtin_bench.sim_bench_for)
        return build_sim_bench(str(cell), cycler=choose_sim_cycler(protocol), chamber=choose_sim_chamber(protocol),
                               speed=speed, **options)

    def restore(self, config: Mapping[str, Any], simulation: Mapping[str, Any], *,
                speed: float | None) -> Bench:
        """A fresh simulated bench of the stored config, clock at the journal's simulated time and
        world (cell, chamber) loaded from it."""
        from bench.simulated.builtin_bench import build_sim_bench

        cycler = str(dict(config.get("cycler") or {}).get("driver", "keithley2460"))
        oven = dict(config.get("chamber") or {}).get("driver") == "memmert_atmoweb"
        bench = build_sim_bench(str(config.get("cell_preset", "nmc_21700")), speed=speed, cycler=cycler,
                                chamber="memmert_oven" if oven else "espec_p300")
        bench.clock.set_now(float(simulation["time_s"]))  # type: ignore[attr-defined]  # a sim clock (Virtual/Scaled)
        bench.simulation.world.load_state(dict(simulation))
        return bench

    def multichannel(self, channels: int, cell: Any, *, speed: float | None) -> MultiChannelBench:
        """``channels`` simulated cells of preset ``cell`` in one chamber, reached in process."""
        from bench.simulated.multichannel import build_sim_multichannel

        return build_sim_multichannel(channels, str(cell), speed=speed)
