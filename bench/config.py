"""Bench configuration (TOML): binds each role to a driver and a resource string.

    [cycler]
    driver = "keithley2460"
    resource = "TCPIP::127.0.0.1::5025::SOCKET"

    [chamber]
    driver = "espec_p300"
    resource = "/dev/ttyUSB0"            # or socket://127.0.0.1:5026

    [thermometer]
    driver = "keysight_daq970a"
    resource = "TCPIP::127.0.0.1::5027::SOCKET"
    channels = [101, 102]                # cell surface, chamber air

    [bench]
    name = "Lab 2, bay 3"
    speed = 1                            # simulators served with --speed N: keep in step
"""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path
from typing import Any

from bench.clock import RealClock
from bench.instruments import Bench
from drivers.catalog import DRIVERS, open_instrument
from drivers.errors import InstrumentError

logger = logging.getLogger(__name__)

ROLES = ("cycler", "chamber", "thermometer", "impedance")
#: Roles that a multi-channel bench may list several times (``[[cycler]]``, ``[[thermometer]]``).
MULTI_ROLES = ("cycler", "thermometer")


class BenchConfigError(ValueError):
    """An invalid bench config; the message starts with the file name."""


def load_bench_config(path: str | Path) -> dict[str, Any]:
    """Read and check a bench config file."""
    path = Path(path)
    if not path.exists():
        raise BenchConfigError(f"{path}: no such bench config")
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise BenchConfigError(f"{path}: {exc}") from None
    unknown = [k for k in config if k not in ROLES + ("bench", "faults")]
    if unknown:
        raise BenchConfigError(f"{path}: unknown section [{unknown[0]}]; sections: {', '.join(ROLES + ('bench',))}")
    if "cycler" not in config:
        raise BenchConfigError(f"{path}: a bench needs a [cycler] section")
    for role in ROLES:
        if role not in config:
            continue
        # Multi-channel benches: [[cycler]] / [[thermometer]] arrays (see bench.multichannel.run).
        entries = config[role] if isinstance(config[role], list) and role in MULTI_ROLES else [config[role]]
        for number, section in enumerate(entries, 1):
            label = f"[[{role}]] #{number}" if isinstance(config[role], list) else f"[{role}]"
            for key in ("driver", "resource"):
                if key not in section:
                    raise BenchConfigError(f"{path}: {label} needs '{key}'")
            if section["driver"] not in DRIVERS:
                raise BenchConfigError(f"{path}: {label} unknown driver {section['driver']!r}; "
                                       f"see 'bench drivers'")
            if DRIVERS[section["driver"]].role != role:
                raise BenchConfigError(f"{path}: {label} driver {section['driver']!r} is a "
                                       f"{DRIVERS[section['driver']].role} driver")
    if isinstance(config["cycler"], list):
        from bench.multichannel.run import check_multichannel

        problems = check_multichannel(config, str(path))
        if problems:
            raise BenchConfigError(problems[0])
    config["_path"] = str(path)
    return config


def open_bench(config: dict[str, Any], *, speed: float | None = None) -> Bench:
    """Open every instrument of ``config`` (pyvisa-py for VISA names, pyserial otherwise)."""
    import pyvisa

    rm = None
    instruments: dict[str, Any] = {}
    closers = []
    try:
        for role in ROLES:
            if role not in config:
                continue
            section = config[role]
            info = DRIVERS[section["driver"]]
            if info.transport == "visa" or "::" in section["resource"]:
                rm = rm or pyvisa.ResourceManager("@py")
            inst = open_instrument(section["driver"], section["resource"], name=role, resource_manager=rm,
                                   timeout_s=float(section.get("timeout_s", 2.0)))
            instruments[role] = inst
            closers.append(inst.transport.close)
    except InstrumentError:
        for closer in closers:
            closer()
        raise
    bench_section = config.get("bench", {})
    if speed and "speed" in bench_section and float(bench_section["speed"]) != speed:
        logger.warning("--speed %g differs from the bench config's speed %g: the run's clock will not "
                       "keep in step with simulators served at that speed", speed, float(bench_section["speed"]))
    clock = RealClock(speed or float(bench_section.get("speed", 1.0)))
    for inst in instruments.values():  # link faults are ridden through on the bench clock
        ride_through = getattr(inst, "ride_through", None)
        if ride_through is not None:
            ride_through(clock.now_s, clock.sleep)
    bench = Bench(
        cycler=instruments["cycler"], chamber=instruments.get("chamber"),
        thermometer=instruments.get("thermometer"), impedance=instruments.get("impedance"),
        clock=clock, description=bench_section.get("name", config.get("_path", "bench")),
        thermometer_channels=tuple(config.get("thermometer", {}).get("channels", (101, 102))),
        config={k: v for k, v in config.items() if not k.startswith("_")},
    )
    bench.closers = closers + ([rm.close] if rm is not None else [])
    return bench
