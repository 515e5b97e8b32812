"""``bench drivers`` and ``bench check``: the driver table; identify a bench's instruments."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from bench.commands.common import error

if TYPE_CHECKING:
    import pyvisa


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench drivers`` and ``bench check``."""
    sub.add_parser("drivers", help="list instrument drivers").set_defaults(handler=cmd_drivers)
    check = sub.add_parser("check", help="identify every instrument of a bench")
    check.add_argument("--bench", required=True)
    check.set_defaults(handler=cmd_check)


def cmd_drivers(_args: argparse.Namespace) -> int:
    """``bench drivers``: the driver table."""
    from drivers.catalog import DRIVERS

    for info in sorted(DRIVERS.values(), key=lambda i: (i.role, i.name)):
        sys.stdout.write(f"{info.name:<20} {info.role:<12} {info.transport:<7} {info.description}\n")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """``bench check --bench FILE``: open and identify every instrument, one table row each.

    Each instrument is opened on its own (``timeout_s`` of its section, default 2 s), so a missing
    one does not hide the others. Exit 0 when all answered as their driver expects, 4 otherwise
    (with a one-line summary on stderr), 2 for an invalid bench file.
    """
    from bench.config import ROLES, BenchConfigError, load_bench_config
    from bench.multichannel.run import SYSTEM_CHANNEL_OPTIONS
    from drivers.catalog import DRIVERS, open_channel, open_delegated, open_instrument
    from drivers.cycler_system import SystemPool
    from drivers.errors import InstrumentError

    try:
        config = load_bench_config(args.bench)
    except BenchConfigError as exc:
        return error(str(exc), 2)
    roles = [role for role in ROLES if role in config]
    entries: list[tuple[str, dict]] = []
    for role in roles:
        sections = config[role] if isinstance(config[role], list) else [config[role]]
        entries += [(role if len(sections) == 1 else f"{role}{n}", section) for n, section in enumerate(sections)]
    failed: list[str] = []
    rm = None
    pool = SystemPool()
    mainframes: dict[tuple[str, str], Any] = {}
    try:
        for name, section in entries:
            driver, resource = section["driver"], section["resource"]
            inst = None
            try:
                timeout_s = float(section.get("timeout_s", 2.0))
                if DRIVERS[driver].transport == "delegated":  # a cycler running step files (Neware BTS)
                    options = {k: v for k, v in section.items() if k not in ("driver", "resource", "timeout_s")}
                    inst = open_delegated(driver, resource, name=name, timeout_s=timeout_s, **options)
                elif DRIVERS[driver].transport == "system":
                    options = {k: section[k] for k in SYSTEM_CHANNEL_OPTIONS if k in section}
                    inst = open_channel(driver, resource, int(section.get("channel", 0)), name=name, pool=pool,
                                        timeout_s=timeout_s, **options)
                else:
                    if DRIVERS[driver].transport == "visa" or "::" in resource:
                        rm = rm or _visa_resource_manager()
                    channel = int(section["channel"]) if DRIVERS[driver].system is not None else None
                    inst = open_instrument(driver, resource, name=name, resource_manager=rm, timeout_s=timeout_s,
                                           channel=channel, systems=mainframes)
                detail, status = inst.verify_identity(), "ok"
            except (InstrumentError, KeyError, ValueError) as exc:
                detail, status = str(exc), "FAIL"
                failed.append(name)
            finally:
                if inst is not None and DRIVERS[driver].system is None:  # mainframes close once, below
                    inst.transport.close()
            sys.stdout.write(f"{name:<12} {status:<5} {driver:<18} {detail}\n")
    finally:
        pool.close()
        for mainframe in mainframes.values():
            mainframe.transport.close()
        if rm is not None:
            rm.close()
    if failed:
        return error(f"{args.bench}: {len(failed)} of {len(entries)} instruments failed the check: "
                     f"{', '.join(failed)}", 4)
    return 0


def _visa_resource_manager() -> pyvisa.ResourceManager:
    """pyvisa-py's resource manager; InstrumentError when no VISA backend can be loaded."""
    import pyvisa

    from drivers.errors import InstrumentError

    try:
        return pyvisa.ResourceManager("@py")
    except (OSError, ValueError) as exc:
        raise InstrumentError(f"no VISA library (pyvisa-py): {exc}") from exc
