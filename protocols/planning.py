"""The plan of a protocol, whichever its form: the YAML step tree (:func:`protocols.plan.walk_tree`)
or a Python generator protocol (:func:`protocols.generator.walk_generator`)."""

from __future__ import annotations

from typing import Any

from protocols.generator import walk_generator
from protocols.plan import Plan, PlanContext, walk_tree
from protocols.steps import Protocol


def make_plan(protocol: Protocol, ctx: PlanContext | None = None, *, instrument: Any = None,
              dry_run: bool = False) -> tuple[Plan, PlanContext]:
    """The plan of ``protocol`` (a YAML tree or a Python generator) and its context."""
    ctx = ctx or PlanContext(protocol)
    if protocol.generator is not None:
        return walk_generator(protocol, ctx, instrument=instrument, dry_run=dry_run), ctx
    return walk_tree(protocol.steps, ctx), ctx
