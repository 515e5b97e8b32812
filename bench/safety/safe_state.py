"""The safe-state sequence run on a safety trip or a communication failure.

1. Cycler output off, then confirmed by reading the output state back (``:OUTP?``) where the
   driver can: the moment of that acknowledgement ends the reaction latency.
2. Chamber to a setpoint that never heats the cell: the lower of its present setpoint and
   ``safe_setpoint_c``; with the setpoint unknown, the lower of ``safe_setpoint_c`` and the air
   temperature now. The chamber keeps running (it carries heat away); it is never switched off.

Each action is attempted even if an earlier one failed; failures are reported, not raised. The
alarm itself latches in the supervisor until an operator resets it; the engine refuses to turn
the output on again while it is latched.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

from bench.instruments import Bench

logger = logging.getLogger(__name__)

#: Default chamber setpoint after a trip, °C (never above the present setpoint).
SAFE_SETPOINT_C = 25.0


@dataclass
class SafeStateReport:
    """What the sequence did: output confirmed off, chamber setpoint, latencies, failures.

    ``latency_clock_s``: bench-clock seconds from the faulty sample's timestamp to the output-off
    acknowledgement (0 within the same sample in virtual time); ``latency_wall_s``: wall seconds
    the output-off command and its acknowledgement took.
    """

    output_off_confirmed: bool = False
    chamber_setpoint_c: float | None = None
    latency_clock_s: float = 0.0
    latency_wall_s: float = 0.0
    failures: list[str] = field(default_factory=list)


def emergency_output_off(bench: Bench) -> None:
    """Output off with a bare write, no reply awaited (the watchdog's path; see bench.safety.watchdog)."""
    bench.cycler.output_off()


def safe_chamber_setpoint_c(bench: Bench, chamber_setpoint_c: float | None,
                            safe_setpoint_c: float = SAFE_SETPOINT_C) -> float:
    """The chamber setpoint after a trip, °C: never above the present setpoint or air temperature."""
    if chamber_setpoint_c is not None:
        return min(chamber_setpoint_c, safe_setpoint_c)
    try:
        air = bench.chamber.read_air_c() if bench.chamber is not None else math.nan
    except Exception as exc:  # noqa: BLE001 - fall back to the default
        logger.warning("safe state: chamber air temperature unreadable: %s", exc)
        air = math.nan
    return min(safe_setpoint_c, air) if air == air else safe_setpoint_c


def enter_safe_state(bench: Bench, *, fault_time_s: float, t0_clock_s: float,
                     chamber_setpoint_c: float | None,
                     safe_setpoint_c: float = SAFE_SETPOINT_C) -> SafeStateReport:
    """Run the sequence; ``fault_time_s`` is the test time (s) of the sample that showed the fault."""
    report = SafeStateReport()
    wall_start = time.perf_counter()
    try:
        bench.cycler.output_off()
        is_on = getattr(bench.cycler, "is_output_on", None)
        report.output_off_confirmed = (not is_on()) if is_on is not None else True
        if not report.output_off_confirmed:
            report.failures.append("cycler still reports its output on")
            bench.cycler.output_off()
    except Exception as exc:  # noqa: BLE001 - keep going: the chamber must still be made safe
        report.failures.append(f"cycler output off: {exc}")
        logger.error("safe state: cycler output off failed: %s", exc)
    report.latency_wall_s = time.perf_counter() - wall_start
    report.latency_clock_s = max(0.0, (bench.clock.now_s() - t0_clock_s) - fault_time_s)
    if bench.chamber is not None:
        target = safe_chamber_setpoint_c(bench, chamber_setpoint_c, safe_setpoint_c)
        try:
            bench.chamber.set_setpoint_c(target)
            report.chamber_setpoint_c = target
        except Exception as exc:  # noqa: BLE001
            report.failures.append(f"chamber setpoint: {exc}")
            logger.error("safe state: chamber setpoint failed: %s", exc)
    return report
