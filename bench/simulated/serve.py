"""``bench sim serve``: the simulated bench over loopback TCP, and the bench config that reaches it.

One :class:`~sim_instruments.world.sim_world.SimWorld` (one cell in one chamber) on a
:class:`~sim_instruments.world.clock.ScaledClock` running ``speed`` times the wall clock, and one TCP
server per instrument, all on 127.0.0.1 and free ephemeral ports:

* cycler: Keithley 2460 SCPI raw socket -> ``TCPIP::127.0.0.1::PORT::SOCKET`` (pyvisa-py);
* chamber: Espec P-300 ASCII, CR LF -> ``socket://127.0.0.1:PORT`` (pyserial);
* thermometer: Keysight DAQ970A SCPI raw socket -> ``TCPIP::127.0.0.1::PORT::SOCKET``;
* impedance: Hioki BT4560 (CR LF, as through a serial-to-LAN converter) -> ``socket://127.0.0.1:PORT``.

Alternatives: ``cycler="ea_psb10000"`` serves an EA PSB 10060-60 (SCPI raw socket) instead of the
Keithley; ``chamber="watlow_f4t"`` a Watlow F4T on Modbus TCP (``modbus-tcp://127.0.0.1:PORT/1``)
instead of the Espec; ``chamber="memmert_oven"`` a Memmert UF plus oven (20-300 °C, heats only) behind
its AtmoWEB REST interface (``http://127.0.0.1:PORT``). A bench config has one entry per role, so one chamber is served at a time.

:meth:`SimServers.bench_toml` writes the bench config that :mod:`bench.config` reads, with
``[bench] speed`` so ``bench run --bench FILE`` keeps its clock in step with the served world.
Besides ``bench.simulated.builtin_bench`` this is the only production module that imports ``sim_instruments``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim_instruments.cell import get_preset
from sim_instruments.chambers.espec_p300 import EspecChamberSim
from sim_instruments.chambers.memmert_oven import MemmertOvenSim
from sim_instruments.chambers.watlow_f4t import ModbusSimServer, WatlowF4tRegisters
from sim_instruments.cyclers.ea_psb import EaPsbSim
from sim_instruments.cyclers.keithley2460 import Keithley2460Sim
from sim_instruments.impedance.hioki_bt4560 import HiokiBT4560Sim
from sim_instruments.meters.keysight_daq970a import KeysightDaq970aSim
from sim_instruments.wire.http_server import RestServer
from sim_instruments.wire.tcp_server import LOOPBACK, LineServer
from sim_instruments.world.chamber_air import oven_model
from sim_instruments.world.clock import ScaledClock
from sim_instruments.world.sim_world import SimWorld

logger = logging.getLogger(__name__)

#: Wall seconds between background physics syncs (bounds the catch-up work of the next query).
TICK_S = 0.1
#: Thermocouple channels of the DAQ970A simulator: cell surface of channel 0, chamber air.
THERMOMETER_CHANNELS = (101, 102)


@dataclass(frozen=True)
class SimInstrumentSpec:
    """How to serve one simulated instrument: role, the driver that talks to it, its wire format."""

    role: str
    driver: str
    #: The simulator on ``world``: a line front end, or a register model for ``link="modbus"``.
    make: Callable[[SimWorld], Any]
    #: ``"visa"``: SCPI raw socket reached through pyvisa-py; ``"serial"``: pyserial ``socket://``;
    #: ``"modbus"``: Modbus TCP (pymodbus), ``modbus-tcp://HOST:PORT/1``; ``"http"``: a REST
    #: server (``http://HOST:PORT``, the simulator's ``handle_query``).
    link: str
    termination: bytes = b"\n"
    extra: dict[str, Any] = field(default_factory=dict)


#: Cyclers ``bench sim serve --cycler NAME`` can serve (key = driver name in the bench config).
CYCLERS: dict[str, SimInstrumentSpec] = {
    "keithley2460": SimInstrumentSpec("cycler", "keithley2460", Keithley2460Sim, "visa"),
    "ea_psb10000": SimInstrumentSpec("cycler", "ea_psb10000", EaPsbSim, "visa"),
}
#: Chambers ``bench sim serve --chamber NAME`` can serve.
CHAMBERS: dict[str, SimInstrumentSpec] = {
    "espec_p300": SimInstrumentSpec("chamber", "espec_p300", EspecChamberSim, "serial", termination=b"\r\n"),
    "watlow_f4t": SimInstrumentSpec("chamber", "watlow_f4t", WatlowF4tRegisters, "modbus"),
    "memmert_oven": SimInstrumentSpec("chamber", "memmert_atmoweb", MemmertOvenSim, "http"),
}
#: Served chambers that are ovens (heater only, up to 300 °C): the world's air is an oven's.
OVENS = frozenset({"memmert_oven"})
THERMOMETER = SimInstrumentSpec("thermometer", "keysight_daq970a", KeysightDaq970aSim, "visa",
                                extra={"channels": list(THERMOMETER_CHANNELS)})
IMPEDANCE = SimInstrumentSpec("impedance", "hioki_bt4560", HiokiBT4560Sim, "serial", termination=b"\r\n")


@dataclass
class ServedInstrument:
    """One running instrument server and the resource string a bench config uses to reach it.

    ``server`` is a :class:`~sim_instruments.wire.tcp_server.LineServer` (with ``faults``) or, for
    Modbus, a :class:`~sim_instruments.chambers.watlow_f4t.ModbusSimServer`; both have ``port`` and ``stop()``.
    """

    spec: SimInstrumentSpec
    server: Any
    resource: str


class SimServers:
    """A running simulated bench on loopback TCP. Use as a context manager, or call :meth:`close`.

    ``world`` is exposed for tests and fault injection (``server.faults``); production code
    reaches the instruments only through the sockets.
    """

    def __init__(self, world: SimWorld, instruments: list[ServedInstrument], *, speed: float,
                 preset: str, tick_s: float = TICK_S) -> None:
        self.world = world
        self.instruments = {inst.spec.role: inst for inst in instruments}
        self.speed = speed
        self.preset = preset
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, args=(tick_s,), name="sim-world-ticker", daemon=True)
        self._ticker.start()

    def _tick(self, tick_s: float) -> None:
        """Keep the physics close to the clock even when no client asks (bounded catch-up)."""
        while not self._stop.wait(tick_s):
            try:
                self.world.sync()
            except Exception:  # noqa: BLE001 - a physics error must not kill the servers silently
                logger.exception("simulated world: sync failed")

    def bench_config(self, name: str | None = None) -> dict[str, Any]:
        """The bench config (as :func:`bench.config.load_bench_config` returns it) for these servers."""
        config: dict[str, Any] = {
            "bench": {"name": name or f"simulated bench over loopback ({self.preset})", "speed": self.speed},
        }
        for role, inst in self.instruments.items():
            section: dict[str, Any] = {"driver": inst.spec.driver, "resource": inst.resource}
            section.update(inst.spec.extra)
            config[role] = section
        config["cell"] = served_cell(self.preset)
        return config

    def bench_toml(self, name: str | None = None) -> str:
        """:meth:`bench_config` as TOML text, with a header comment."""
        lines = ["# Bench config written by `bench sim serve`: simulated instruments on loopback TCP.",
                 "# Valid while that server runs; `bench run PROTOCOL --bench THIS_FILE` keeps in step",
                 f"# with the served world (speed = {self.speed:g} x wall clock)."]
        for section, values in self.bench_config(name).items():
            lines.append("")
            lines.append(f"[{section}]")
            lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items())
        return "\n".join(lines) + "\n"

    def write_bench(self, path: str | Path, name: str | None = None) -> Path:
        """Write :meth:`bench_toml` to ``path`` atomically (a reader never sees half a file)."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(self.bench_toml(name), encoding="utf-8")
        os.replace(tmp, path)
        logger.info("bench config written to %s", path)
        return path

    def close(self) -> None:
        """Stop the servers and the physics ticker."""
        self._stop.set()
        for inst in self.instruments.values():
            inst.server.stop()
        self._ticker.join(2.0)

    def __enter__(self) -> SimServers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_sim_servers(
    preset: str = "nmc_21700",
    *,
    soc: float = 0.5,
    temperature_c: float = 25.0,
    speed: float = 1.0,
    clock: Any = None,
    host: str = LOOPBACK,
    cycler: str = "keithley2460",
    chamber: str = "espec_p300",
    seed: int | None = 0,
    tick_s: float = TICK_S,
    faults: list[Any] | None = None,
) -> SimServers:
    """Start the simulated bench's servers on ``host`` (free ports) sharing one world.

    ``clock``: any object with ``now_s()`` (default ``ScaledClock(speed)``); tests pass a
    VirtualClock and advance it themselves. Raises KeyError for an unknown preset, cycler or
    chamber, ValueError for a bad speed or SOC, OSError (or RuntimeError from the Modbus
    server) if ``host`` cannot be bound.
    """
    if cycler not in CYCLERS:
        raise KeyError(f"unknown simulated cycler {cycler!r}; available: {', '.join(sorted(CYCLERS))}")
    if chamber not in CHAMBERS:
        raise KeyError(f"unknown simulated chamber {chamber!r}; available: {', '.join(sorted(CHAMBERS))}")
    get_preset(preset)  # KeyError naming the valid presets
    if not 0.0 <= soc <= 1.0:
        raise ValueError(f"SOC must be within 0..1, got {soc:g}")
    if clock is None:
        clock = ScaledClock(speed)
    world = SimWorld.single_cell(clock, preset=preset, soc=soc, temperature_c=temperature_c, seed=seed)
    if chamber in OVENS:
        world.chamber = oven_model(temperature_c)
    advertised = LOOPBACK if host in ("", "0.0.0.0") else host
    served: list[ServedInstrument] = []
    try:
        for spec in (CYCLERS[cycler], CHAMBERS[chamber], THERMOMETER, IMPEDANCE):
            served.append(_serve(spec, world, clock, host, advertised))
    except BaseException:
        for inst in served:
            inst.server.stop()
        raise
    if faults:
        from bench.simulated.builtin_bench import schedule_faults

        # FaultSpecs (bench.fault_specs): physical ones on the world, comms ones on the line servers
        schedule_faults(world, {inst.spec.role: inst.server.faults for inst in served
                                if hasattr(inst.server, "faults")}, faults)
    return SimServers(world, served, speed=speed, preset=preset, tick_s=tick_s)


def served_cell(preset: str) -> dict[str, str]:
    """The ``[cell]`` of a served bench: the datasheet its simulated cell models, so that
    ``bench run PROTOCOL --bench FILE`` needs no ``--cell``."""
    return {"name": get_preset(preset).datasheet}


def _serve(spec: SimInstrumentSpec, world: SimWorld, clock: Any, host: str, advertised: str) -> ServedInstrument:
    """Start the server of one instrument and work out its resource string."""
    if spec.link == "modbus":
        modbus = ModbusSimServer(spec.make(world), name=spec.role, host=host).start()
        return ServedInstrument(spec, modbus, f"modbus-tcp://{advertised}:{modbus.port}/{modbus.device_id}")
    if spec.link == "http":
        rest = RestServer(spec.make(world).handle_query, name=spec.role, host=host, lock=world.lock).start()
        return ServedInstrument(spec, rest, f"http://{advertised}:{rest.port}")
    server = LineServer(spec.make(world), clock.now_s, name=spec.role, host=host,
                        read_termination=spec.termination, write_termination=spec.termination,
                        lock=world.lock).start()
    if spec.link == "visa":
        return ServedInstrument(spec, server, f"TCPIP::{advertised}::{server.port}::SOCKET")
    return ServedInstrument(spec, server, f"socket://{advertised}:{server.port}")


def _toml_value(value: Any) -> str:
    """A TOML literal for a string, number, bool or list of them (TOML basic strings = JSON strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to TOML")
