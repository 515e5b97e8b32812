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
PARAMETERS = {"rate": "1C", "fade": "0.8", "max_cycles": "500", "claim_fade_pct": "20", "claim_cycles": "500"}
SAMPLING = {"period_s": 2}
PASS = [{"claim": "fade_pct <= {claim_fade_pct}", "name": "capacity fade after the claimed number of cycles",
         "tested_if": ["cycled >= {claim_cycles}"], "missed_early_is_final": "true"}]


def protocol(ctx: ProtocolContext) -> Generator[str, StepResult, None]:
    """Yield steps; each ``yield`` returns the finished step's measured result."""
    v_max, v_min = ctx.cell.voltage_max_v, ctx.cell.voltage_min_v  # the cell's, never hard-coded
    yield f"Charge at 0.5C until {v_max:g} V"
    yield f"Hold at {v_max:g} V until C/20"
    reference = (yield f"Discharge at {ctx.parameters['rate']} until {v_min:g} V").discharge_ah
    ctx.record("reference_ah", reference)
    charge_rate = "0.5C"
    for _ in range(int(ctx.param("max_cycles"))):
        ctx.next_cycle()
        yield f"Charge at {charge_rate} until {v_max:g} V"
        yield f"Hold at {v_max:g} V until C/20"
        result = yield f"Discharge at {ctx.parameters['rate']} until {v_min:g} V"
        if result.discharge_ah < 0.9 * reference:
            charge_rate = "C/5"  # gentler once the cell has aged
        if result.discharge_ah < ctx.param("fade") * reference:
            break
