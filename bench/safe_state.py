"""The safe-state sequence run on a safety trip or a communication failure.

Output off first (and confirmed where the driver can read it back), then the chamber to a
setpoint that never heats the cell (the lower of its present setpoint and ``safe_setpoint_c``).
Each action is attempted even if an earlier one failed; failures are reported, not raised.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from bench.bench import Bench

logger = logging.getLogger(__name__)


@dataclass
class SafeStateReport:
    """What the sequence did: output confirmed off, chamber setpoint, latencies, failures."""

    output_off_confirmed: bool = False
    chamber_setpoint_c: float | None = None
    latency_clock_s: float = 0.0
    latency_wall_s: float = 0.0
    failures: list[str] = field(default_factory=list)


def enter_safe_state(bench: Bench, *, fault_time_s: float, t0_clock_s: float,
                     chamber_setpoint_c: float | None, safe_setpoint_c: float = 25.0) -> SafeStateReport:
    """Run the sequence; ``fault_time_s`` is the test time (s) of the sample that showed the fault."""
    report = SafeStateReport()
    wall_start = time.perf_counter()
    try:
        bench.cycler.output_off()
        is_on = getattr(bench.cycler, "is_output_on", None)
        report.output_off_confirmed = (not is_on()) if is_on is not None else True
    except Exception as exc:  # noqa: BLE001 - keep going: the chamber must still be made safe
        report.failures.append(f"cycler output off: {exc}")
        logger.error("safe state: cycler output off failed: %s", exc)
    report.latency_wall_s = time.perf_counter() - wall_start
    report.latency_clock_s = max(0.0, (bench.clock.now_s() - t0_clock_s) - fault_time_s)
    if bench.chamber is not None:
        target = safe_setpoint_c if chamber_setpoint_c is None else min(chamber_setpoint_c, safe_setpoint_c)
        try:
            bench.chamber.set_setpoint_c(target)
            report.chamber_setpoint_c = target
        except Exception as exc:  # noqa: BLE001
            report.failures.append(f"chamber setpoint: {exc}")
            logger.error("safe state: chamber setpoint failed: %s", exc)
    return report
