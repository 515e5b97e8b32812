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
    cells_dir = "cells"                  # the lab's datasheets (relative to this file)
    catalog = "postgresql+psycopg://bench@db.lab/runs"   # the lab's run catalog (else the user's)

    [cell]                               # the cell mounted on this bench (bench run --cell overrides)
    name = "lg_inr21700_m50"             # a datasheet (bench cells list), or file = "cells/x.yaml";
    current_max_a = 5.0                  # inline numbers override the datasheet's (or state them all)

A multi-channel bench names each channel's cell in its ``[[cycler]]`` entry (``cell = "NAME"``).
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


#: The keys each section may hold (a misspelt key would otherwise be ignored silently).
_INSTRUMENT_KEYS = ("driver", "resource", "timeout_s")
SECTION_KEYS: dict[str, tuple[str, ...]] = {
    # [[cycler]] wiring (thermometer, thermocouple); a multi-channel system's channel and its options
    # (bench.multichannel.run.SYSTEM_CHANNEL_OPTIONS: Maccor MacNet, Arbin CTI)
    "cycler": _INSTRUMENT_KEYS + ("thermometer", "thermocouple", "channel", "username", "password", "schedule",
                                  "direct_mode_watchdog_s", "cell",
                                  "pipeline", "step_dir",  # delegated execution (Neware BTS: drivers.catalog.open_delegated)
                                  "file_resource", "work_dir", "data_dir", "binary_resource"),  # (Arbin, Maccor)
    "chamber": _INSTRUMENT_KEYS,
    "thermometer": _INSTRUMENT_KEYS + ("channels", "air_channel"),
    "impedance": _INSTRUMENT_KEYS,
    "bench": ("name", "speed", "chamber_policy", "scan_reuse_s", "cells_dir", "catalog"),
}


class BenchConfigError(ValueError):
    """An invalid bench config; the message starts with the file name."""


def load_bench_config(path: str | Path) -> dict[str, Any]:
    """Read and check a bench config file."""
    path = Path(path)
    if not path.exists():
        raise BenchConfigError(f"{path}: no such bench config")
    try:
        text = path.read_text(encoding="utf-8")
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BenchConfigError(f"{path}: {exc}") from None
    unknown = [k for k in config if k not in ROLES + ("bench", "faults", "cell")]
    if unknown:
        raise BenchConfigError(f"{path}:{_line_of(text, None, unknown[0])}: unknown section [{unknown[0]}]; "
                               f"sections: {', '.join(ROLES + ('bench', 'cell'))}")
    if "cell" in config:
        from bench.cell_source import BENCH_CELL_KEYS

        cell = config["cell"]
        bad = [k for k in cell] if isinstance(cell, dict) else []
        bad = [k for k in bad if k not in BENCH_CELL_KEYS]
        if bad:
            raise BenchConfigError(f"{path}:{_line_of(text, 'cell', bad[0])}: unknown key '{bad[0]}' in [cell] "
                                   f"(keys: name, file, or the cell's numbers: capacity_ah, voltage_max_v, ...)")
    _check_keys(config, text, path)
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


def _check_keys(config: dict[str, Any], text: str, path: Path) -> None:
    """Refuse a key a section does not know, naming it, its line and the closest known key."""
    import difflib

    for section, allowed in SECTION_KEYS.items():
        body = config.get(section)
        entries = body if isinstance(body, list) else [body] if isinstance(body, dict) else []
        for entry in entries:
            for key in entry:
                if key in allowed:
                    continue
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"keys: {', '.join(allowed)}"
                raise BenchConfigError(f"{path}:{_line_of(text, section, key)}: unknown key '{key}' in [{section}] "
                                       f"({hint})")


def _line_of(text: str, section: str | None, key: str) -> int:
    """The 1-based line where ``key`` is set in ``[section]`` (or the table header ``[key]`` when
    ``section`` is None); 0 when not found (e.g. a dotted or inline key)."""
    import re

    current = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        header = re.match(r"^\[\[?\s*([A-Za-z0-9_.-]+)\s*\]\]?", stripped)
        if header:
            current = header.group(1)
            if section is None and current == key:
                return number
            continue
        if section is not None and current == section and re.match(rf"^{re.escape(key)}\s*=", stripped):
            return number
    return 0


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
            if info.transport == "delegated":  # a cycler that runs its own step files (issue 29)
                from bench.delegated.cycler import ChannelAsCycler
                from drivers.catalog import open_delegated

                channel = open_delegated(section["driver"], section["resource"], name=role,
                                         timeout_s=float(section.get("timeout_s", 5.0)),
                                         **{k: v for k, v in section.items() if k not in ("driver", "resource", "timeout_s")})
                instruments[role] = ChannelAsCycler(channel)
                closers.append(channel.close)
                continue
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


def bench_catalog(config: dict[str, Any] | None) -> str | None:
    """The run catalog a bench file names (``[bench] catalog``), None when it names none: a
    ``--catalog`` option, then this, then ``CELLBENCH_CATALOG``, then the user's catalog."""
    if not config:
        return None
    value = (config.get("bench") or {}).get("catalog")
    return str(value) if value else None
