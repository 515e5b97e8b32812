"""Cycle until the discharge capacity fades to a fraction of the first one, as a Python protocol.

The same test as ``cycle_life.yaml`` written as a generator, for logic beyond the grammar: the
charge rate drops to C/5 once the capacity is below 90 % of the reference.
Run:  bench run fade_to_80 --set max_cycles=10        Check:  bench validate fade_to_80
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # names for the type checker only: running the protocol imports nothing
    from collections.abc import Generator

    from protocols.generator import ProtocolContext
    from protocols.plan import StepResult

NAME = "fade_to_80"
CELL = {"preset": "nmc_21700"}
PARAMETERS = {"rate": "1C", "fade": "0.8", "max_cycles": "500"}
SAMPLING = {"period_s": 2}
PASS = ["discharge_capacity_ah >= 3.5"]


def protocol(ctx: ProtocolContext) -> Generator[str, StepResult, None]:
    """Yield steps; each ``yield`` returns the finished step's measured result."""
    yield "Charge at 0.5C until 4.2 V"
    yield "Hold at 4.2 V until C/20"
    reference = (yield f"Discharge at {ctx.parameters['rate']} until 2.5 V").discharge_ah
    ctx.record("reference_ah", reference)
    charge_rate = "0.5C"
    for _ in range(int(ctx.param("max_cycles"))):
        ctx.next_cycle()
        yield f"Charge at {charge_rate} until 4.2 V"
        yield "Hold at 4.2 V until C/20"
        result = yield f"Discharge at {ctx.parameters['rate']} until 2.5 V"
        if result.discharge_ah < 0.9 * reference:
            charge_rate = "C/5"  # gentler once the cell has aged
        if result.discharge_ah < ctx.param("fade") * reference:
            break
