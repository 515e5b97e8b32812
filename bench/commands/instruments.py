"""``bench drivers`` and ``bench check``: the driver table; identify a bench's instruments."""

from __future__ import annotations

import argparse
import sys

from bench.commands.common import error


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
    """``bench check --bench FILE``: ``*IDN?`` of every instrument."""
    from bench.config import BenchConfigError, load_bench_config, open_bench
    from drivers.errors import InstrumentError

    try:
        config = load_bench_config(args.bench)
    except BenchConfigError as exc:
        return error(str(exc), 2)
    try:
        bench = open_bench(config)
    except InstrumentError as exc:
        return error(str(exc), 4)
    failed = False
    try:
        for role, inst in bench.roles().items():
            try:
                idn = inst.verify_identity()
                sys.stdout.write(f"{role:<12} ok    {config[role]['driver']:<18} {idn}\n")
            except InstrumentError as exc:
                failed = True
                sys.stdout.write(f"{role:<12} FAIL  {config[role]['driver']:<18} {exc}\n")
    finally:
        bench.close()
    return 4 if failed else 0
