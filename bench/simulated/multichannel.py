"""Simulated multi-channel benches: N cells in one chamber, one Keithley 2460 per cell, Keysight
DAQ970A meters reading every cell's thermocouple and the chamber air, one Espec chamber.

Two ways to reach them, like the single-channel simulated bench:

* in process (:func:`build_sim_multichannel`): pyvisa through the in-process VISA library,
  pyserial through ``cellsim://``, on a virtual clock (as fast as the CPU allows) or a scaled one;
* over loopback TCP (:func:`serve_multichannel`), real time: what ``bench perf`` uses to find how
  many channels one controller process keeps at 1 Hz. ``python -m bench.simulated.multichannel --channels N
  --write-bench FILE`` serves them from a separate process (the instruments are not in the
  controller's process, as on a real bench) until its standard input closes.

Thermocouple wiring, per DAQ970A with three 20-channel DAQM901A cards (channels 101-120,
201-220, 301-320): cells on the first 59 channels, the chamber air on 320; one meter per 59 cells.
Besides ``bench.simulated.builtin_bench`` and ``bench.simulated.serve`` this is the only module importing ``sim_instruments``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

import pyvisa

from bench.multichannel.run import MultiChannelBench, open_multichannel
from bench.multichannel.scheduler import task_sleep
from bench.simulated.serve import served_cell
from sim_instruments.cell import get_preset
from sim_instruments.chambers.espec_p300 import EspecChamberSim
from sim_instruments.chambers.watlow_f4t import ModbusSimServer, WatlowF4tRegisters
from sim_instruments.cyclers.keithley2460 import Keithley2460Sim
from sim_instruments.cyclers.keysight_n6700 import KeysightN6700Sim
from sim_instruments.cyclers.maccor_macnet import HIGH_CURRENT_CHANNEL, ChannelSpec
from sim_instruments.cyclers.systems import VENDORS, serve_cycler_system
from sim_instruments.meters.keysight_daq970a import KeysightDaq970aSim
from sim_instruments.wire.endpoint import LineEndpoint
from sim_instruments.wire.serial_url import registry
from sim_instruments.wire.tcp_server import LOOPBACK, LineServer
from sim_instruments.wire.visa_library import SimVisaLibrary
from sim_instruments.world.clock import ScaledClock, VirtualClock
from sim_instruments.world.sim_world import SimWorld

logger = logging.getLogger(__name__)

CELLS_PER_METER = 59
#: Physics time step of the loopback server, s: the world's clock reads in whole steps, so the
#: 2N queries per period of N channels integrate the N cells only once per step instead of once
#: per query (each sync steps every cell: per-query syncs cost O(N) and saturate the server
#: process near 128 channels at 1 Hz). The cells' time constants are seconds; 20 ms is far below.
SERVE_STEP_S = 0.02


class SteppedClock:
    """A clock whose ``now_s`` advances in whole steps of ``step_s`` (floor); ``sleep`` as the base."""

    def __init__(self, base: Any, step_s: float) -> None:
        if step_s <= 0:
            raise ValueError(f"step_s must be > 0, got {step_s}")
        self.base = base
        self.step_s = float(step_s)
        self.speed = getattr(base, "speed", 1.0)

    def now_s(self) -> float:
        """The base clock's seconds, floored to a whole step."""
        return (self.base.now_s() // self.step_s) * self.step_s

    def sleep(self, duration_s: float) -> None:
        """Sleep on the base clock."""
        self.base.sleep(duration_s)


def meter_channel(index: int) -> int:
    """DAQ970A channel number of position ``index`` (0..59): 101..120, 201..220, 301..320."""
    return 100 * (index // 20 + 1) + index % 20 + 1


AIR_CHANNEL = meter_channel(CELLS_PER_METER)  # 320


def wiring(channels: int) -> list[tuple[int, int]]:
    """(meter index, thermocouple channel) of each cell."""
    return [(k // CELLS_PER_METER, meter_channel(k % CELLS_PER_METER)) for k in range(channels)]


def multichannel_config(cyclers: list[str], meters: list[str], chamber: str, *, name: str,
                        speed: float | None = None) -> dict[str, Any]:
    """The bench config (as ``load_bench_config`` returns it) of a simulated multi-channel bench."""
    wires = wiring(len(cyclers))
    config: dict[str, Any] = {
        "bench": {"name": name, "chamber_policy": "when_all_tripped"},
        "cycler": [{"driver": "keithley2460", "resource": res, "thermometer": m, "thermocouple": tc}
                   for res, (m, tc) in zip(cyclers, wires, strict=True)],
        "thermometer": [{"driver": "keysight_daq970a", "resource": res, "air_channel": AIR_CHANNEL} for res in meters],
        "chamber": {"driver": "espec_p300", "resource": chamber},
    }
    if speed is not None:
        config["bench"]["speed"] = speed
    return config


def _world_and_frontends(channels: int, clock: Any, preset: str, soc: float, temperature_c: float,
                         seed: int | None) -> tuple[SimWorld, list[Any], list[Any], Any]:
    world = SimWorld.single_cell(clock, preset=preset, soc=soc, temperature_c=temperature_c, seed=seed,
                                 channels=channels)
    stagger_noise_refills(world)
    cyclers = [Keithley2460Sim(world, channel=k, serial=f"0441{k:04d}") for k in range(channels)]
    meters = []
    wires = wiring(channels)
    for m in range((channels + CELLS_PER_METER - 1) // CELLS_PER_METER):
        cells = {tc: k for k, (meter, tc) in enumerate(wires) if meter == m}
        meters.append(KeysightDaq970aSim(world, serial=f"MY5800{m:04d}", cell_channels=cells,
                                         air_channels=(AIR_CHANNEL,)))
    return world, cyclers, meters, EspecChamberSim(world)


def stagger_noise_refills(world: SimWorld) -> None:
    """Each cell's first block of measurement-noise variates drawn now, of a different size per
    cell (spread over 2..``BLOCK``): the N cells' refills (about 1 ms of CPU each) then fall
    apart instead of all at the first reading and again every ``BLOCK`` variates in step, which
    at 1,024 cells stalled the first seconds of a real-time run. The readings are unchanged
    (:meth:`sim_instruments.cell.noise.MeasurementNoise.prime_noise`)."""
    from sim_instruments.cell.noise import BLOCK

    count = len(world.channels)
    for k, channel in enumerate(world.channels):
        prime = getattr(channel.cell, "prime_noise", None)
        if prime is not None:
            prime(2 * (1 + k * (BLOCK // 2 - 1) // count))


def build_sim_multichannel(channels: int, preset: str = "nmc_21700", *, soc: float = 0.5,
                           temperature_c: float = 25.0, seed: int | None = 0, clock: Any = None,
                           speed: float | None = None, world_step_s: float | None = None) -> MultiChannelBench:
    """A simulated bench of ``channels`` cells reached in process (virtual clock unless ``speed``).

    ``world_step_s``: the physics reads the clock in whole steps of this many seconds
    (:class:`SteppedClock`; for hundreds of cells in real time, as the loopback server does)."""
    if channels < 1:
        raise ValueError(f"channels must be >= 1, got {channels}")
    if clock is None:
        clock = VirtualClock() if speed is None else ScaledClock(speed)
    world_clock = SteppedClock(clock, world_step_s) if world_step_s else clock
    world, cycler_fes, meter_fes, chamber_fe = _world_and_frontends(channels, world_clock, preset, soc, temperature_c,
                                                                    seed)
    now = clock.now_s
    cycler_res = [f"USB0::0x05E6::0x2460::0441{k:04d}::INSTR" for k in range(channels)]
    meter_res = [f"USB0::0x2A8D::0x5001::MY5800{m:04d}::INSTR" for m in range(len(meter_fes))]
    endpoints = {res: LineEndpoint(fe, now, name=f"cycler{k}") for k, (res, fe) in enumerate(zip(cycler_res, cycler_fes, strict=True))}
    endpoints.update({res: LineEndpoint(fe, now, name=f"thermometer{m}")
                      for m, (res, fe) in enumerate(zip(meter_res, meter_fes, strict=True))})
    chamber_ep = LineEndpoint(chamber_fe, now, read_termination=b"\r\n", write_termination=b"\r\n", name="chamber")
    chamber_url = registry.register(chamber_ep, "espec")
    # A cycler's read with no reply yet waits on its channel's clock (only that channel waits: a
    # delay fault on its wire); the shared meters answer or time out at once (their lock is shared).
    fallback = clock.sleep if hasattr(clock, "speed") else None  # real time: the I/O thread waits

    def wait(duration_s: float) -> None:
        task_sleep(duration_s, fallback)

    rm = pyvisa.ResourceManager(SimVisaLibrary.create(endpoints, wait=wait, waiting=cycler_res))
    config = multichannel_config(cycler_res, meter_res, chamber_url,
                                 name=f"built-in simulated bench, {channels} channels ({preset})")
    config["simulated"] = True
    try:
        bench = open_multichannel(config, clock=clock, resource_manager=rm)
    except Exception:
        rm.close()
        registry.unregister(chamber_url)
        raise
    bench.simulation = world
    bench.closers += [rm.close, lambda: registry.unregister(chamber_url)]
    return bench


#: Cyclers that only run step files the bench downloads (delegated execution, drivers.catalog.open_delegated).
DELEGATED_CYCLERS = ("neware_bts", "arbin_schedule", "maccor_procedure")
#: Commercial multi-channel cycler systems the simulated bench can serve for live control
#: (sim_instruments/cyclers/systems.py).
SYSTEM_CYCLERS = tuple(k for k in VENDORS if k not in DELEGATED_CYCLERS)


class MultiChannelServers:
    """A simulated multi-channel bench on loopback TCP (real time). Close with :meth:`close`."""

    def __init__(self, world: SimWorld, servers: list[Any], config: dict[str, Any], *, speed: float = 1.0) -> None:
        self.world = world
        self.servers = servers
        self.config = config
        #: Wall seconds between physics syncs: 0.1 s, and at least one sync per simulated second (at
        #: most 100 a wall second), so a cycler that logs its own records while no client asks
        #: (delegated execution) logs them at its record period, as a real one does.
        self.tick_s = min(0.1, max(1.0 / speed, 0.01))
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="multisim-ticker", daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(self.tick_s):  # keep the physics near the clock between queries
            self.world.sync()

    def close(self) -> None:
        """Stop every server."""
        self._stop.set()
        for server in self.servers:
            server.stop()
        self._ticker.join(2.0)

    def __enter__(self) -> MultiChannelServers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _system_options(cycler: str, preset: str) -> dict[str, Any]:
    """A served Maccor system gets the built-in bench's 5 V / 60 A channel when the cell takes more
    than the default channel's 10 A (``xfc_nmc_pouch``: 25 A charge), as ``bench run`` would."""
    if cycler != "maccor_macnet":
        return {}
    sheet = get_preset(preset)
    needed = max(sheet.current_max_charge_a, sheet.current_max_discharge_a)
    return {"spec": HIGH_CURRENT_CHANNEL} if needed > ChannelSpec().ranges_a[3] else {}


def serve_multichannel(channels: int, preset: str = "nmc_21700", *, speed: float = 1.0, soc: float = 0.5,
                       seed: int | None = 0, step_s: float = SERVE_STEP_S,
                       cycler: str = "keithley2460", chamber: str = "espec_p300") -> MultiChannelServers:
    """Serve ``channels`` simulated cyclers, their meters and the chamber on 127.0.0.1 (free ports);
    the physics advances in steps of ``step_s`` simulated seconds (:class:`SteppedClock`).

    ``cycler``: one Keithley 2460 per cell (``keithley2460``), or one commercial multi-channel
    system whose channels 1..N drive the N cells (``maccor_macnet``, ``arbin_cti``).
    ``chamber``: ``espec_p300`` (ASCII over a socket) or ``watlow_f4t`` (Modbus TCP)."""
    if chamber not in ("espec_p300", "watlow_f4t"):
        raise ValueError(f"--chamber {chamber!r}: choose espec_p300 or watlow_f4t")
    if cycler not in ("keithley2460", "keysight_n6700") and cycler not in VENDORS:
        raise ValueError(f"--cycler {cycler!r} with --channels: choose keithley2460, keysight_n6700 or one of "
                         f"{', '.join(VENDORS)}")
    clock = SteppedClock(ScaledClock(speed), step_s) if step_s > 0 else ScaledClock(speed)
    world, cycler_fes, meter_fes, chamber_fe = _world_and_frontends(channels, clock, preset, soc, 25.0, seed)
    servers: list[Any] = []
    if cycler != "keithley2460":
        cycler_fes = []
    if cycler in VENDORS:
        served = serve_cycler_system(cycler, world, channels, **_system_options(cycler, preset))
        servers.append(served)
    try:
        def serve(fe: Any, name: str, term: bytes = b"\n") -> LineServer:
            server = LineServer(fe, clock.now_s, name=name, read_termination=term, write_termination=term,
                                lock=world.lock).start()
            servers.append(server)
            return server

        cyclers = [f"TCPIP::{LOOPBACK}::{serve(fe, f'cycler{k}').port}::SOCKET" for k, fe in enumerate(cycler_fes)]
        mainframe_entries = []
        if cycler == "keysight_n6700":  # one N6705C per 4 cells, its channels 1..4
            for m in range((channels + 3) // 4):
                cells = list(range(4 * m, min(4 * m + 4, channels)))
                port = serve(KeysightN6700Sim(world, cells, serial=f"MY56{m:06d}"), f"mainframe{m}").port
                mainframe_entries += [{"driver": "keysight_n6700", "resource": f"TCPIP::{LOOPBACK}::{port}::SOCKET",
                                       "channel": n + 1} for n in range(len(cells))]
        meters = [f"TCPIP::{LOOPBACK}::{serve(fe, f'thermometer{m}').port}::SOCKET" for m, fe in enumerate(meter_fes)]
        if chamber == "watlow_f4t":  # the same chamber air, reached as a Watlow F4T on Modbus TCP
            modbus = ModbusSimServer(WatlowF4tRegisters(world), name="chamber", host=LOOPBACK).start()
            servers.append(modbus)
            chamber_resource = f"modbus-tcp://{LOOPBACK}:{modbus.port}/{modbus.device_id}"
        else:
            chamber_port = serve(chamber_fe, "chamber", b"\r\n").port
            chamber_resource = f"socket://{LOOPBACK}:{chamber_port}"
    except BaseException:
        for server in servers:
            server.stop()
        raise
    config = multichannel_config(cyclers, meters, chamber_resource, speed=speed,
                                 name=f"simulated {channels}-channel bench over loopback ({preset})")
    config["chamber"]["driver"] = chamber
    config["cell"] = served_cell(preset)  # every channel's cell: bench run --bench FILE needs no --cell
    if cycler in VENDORS or cycler == "keysight_n6700":  # channels wired to the same thermocouples
        entries = served.cycler_entries() if cycler in VENDORS else mainframe_entries
        config["cycler"] = [{**entry, "thermometer": m, "thermocouple": tc}
                            for entry, (m, tc) in zip(entries, wiring(channels), strict=True)]
        config["bench"]["name"] = f"simulated {cycler} system, {channels} channels over loopback ({preset})"
    return MultiChannelServers(world, servers, config, speed=speed)


def to_toml(config: dict[str, Any]) -> str:
    """A bench config as TOML (tables, arrays of tables; string, number and list values)."""
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines: list[str] = []
    for section, body in config.items():
        for entry in body if isinstance(body, list) else [body]:
            lines.append(f"\n[[{section}]]" if isinstance(body, list) else f"\n[{section}]")
            lines.extend(f"{k} = {value(v)}" for k, v in entry.items())
    return "\n".join(lines).lstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    """Serve a multi-channel bench until standard input closes (``bench perf`` runs this)."""
    parser = argparse.ArgumentParser(prog="python -m bench.simulated.multichannel")
    parser.add_argument("--channels", type=int, required=True)
    parser.add_argument("--write-bench", required=True, metavar="FILE")
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--cycler", default="keithley2460")
    args = parser.parse_args(argv)
    with serve_multichannel(args.channels, speed=args.speed, cycler=args.cycler) as servers:
        path = Path(args.write_bench)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(to_toml(servers.config), encoding="utf-8")
        os.replace(tmp, path)
        sys.stdin.read()  # until the parent closes our stdin (or dies)
    return 0


if __name__ == "__main__":
    sys.exit(main())
