"""``bench validate``: parse and check a protocol, print its steps."""

from __future__ import annotations

import argparse
import sys

from bench.commands.common import error, overrides


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``bench validate``."""
    validate = sub.add_parser("validate", help="check a protocol and print its steps")
    validate.add_argument("protocol")
    validate.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    validate.set_defaults(handler=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> int:
    """``bench validate``: parse and check; print the step list."""
    from bench.simbench import cell_datasheet
    from protocols.errors import ProtocolError
    from protocols.loader import load_protocol
    from protocols.quantities import format_duration

    try:
        protocol = load_protocol(args.protocol, overrides(args.set), cell_defaults=cell_datasheet)
    except (ProtocolError, ValueError) as exc:
        return error(str(exc), 2)
    sys.stdout.write(f"{protocol.name}: valid ({protocol.source_path})\n")
    for step, cycle in protocol.flat_steps():
        limit = f" (at most {format_duration(step.duration_s)})" if step.duration_s and step.until else ""
        sys.stdout.write(f"  cycle {cycle}  line {step.line:>3}  {step.text}{limit}\n")
    return 0
