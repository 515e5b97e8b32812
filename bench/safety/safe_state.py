"""The safe-state sequence run on a safety trip or a communication failure.

1. Cycler output off, then confirmed by reading the output state back (``:OUTP?``) where the
   driver can: the moment of that acknowledgement ends the reaction latency. Until confirmed, it
   is sent again (pauses 1, 2, 4, 8, 8... s of bench time) for up to :data:`OUTPUT_OFF_DEADLINE_S`:
   a link that dropped is given the time to come back; if it never does, the report and one
   CRITICAL log line say so plainly.
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
#: Output off is sent and read back again until confirmed or this long has passed, bench seconds
#: (a link that dropped comes back; each attempt may itself take a driver's ride-through time).
OUTPUT_OFF_DEADLINE_S = 60.0
#: First pause between two output-off attempts and its ceiling (doubling), bench seconds.
OUTPUT_OFF_RETRY_S = (1.0, 8.0)


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
    output_off_attempts: int = 0


def emergency_output_off(bench: Bench) -> None:
    """Output off with a bare write, no reply awaited (the watchdog's path; see bench.safety.watchdog)."""
    bench.cycler.output_off()


def _output_off_confirmed(bench: Bench, report: SafeStateReport, deadline_s: float) -> None:
    """Output off, read back, until confirmed or ``deadline_s`` of bench time has passed: every
    failure is listed (repeats counted); if it is never confirmed, one plain CRITICAL line."""
    clock = bench.clock
    start = clock.now_s()
    pause, pause_max = OUTPUT_OFF_RETRY_S
    attempts = 0
    failures: list[str] = []
    while True:
        attempts += 1
        try:
            bench.cycler.output_off()
            is_on = getattr(bench.cycler, "is_output_on", None)
            if is_on is None or not is_on():
                report.output_off_confirmed = True
                break
            failures.append("cycler still reports its output on")
        except Exception as exc:  # noqa: BLE001 - keep going: the chamber must still be made safe
            failures.append(f"cycler output off: {exc}")
            logger.error("safe state: cycler output off failed (attempt %d): %s", attempts, exc)
        if clock.now_s() - start >= deadline_s:
            break
        clock.sleep(pause)
        pause = min(2.0 * pause, pause_max)
    report.output_off_attempts = attempts
    for text in dict.fromkeys(failures):  # each distinct failure once, with its count
        count = failures.count(text)
        report.failures.append(text if count == 1 else f"{text} (x{count})")
    if report.output_off_confirmed:
        if attempts > 1:
            logger.warning("safe state: cycler output confirmed off at attempt %d, %.1f s after the first",
                           attempts, clock.now_s() - start)
        return
    report.failures.append(f"output NOT confirmed off after {attempts} attempts over {clock.now_s() - start:.0f} s")
    logger.critical("CYCLER OUTPUT NOT CONFIRMED OFF after %d attempts over %.0f s: only the cycler's own "
                    "protection (OVP, voltage limit) holds now; switch it off at the instrument", attempts,
                    clock.now_s() - start)


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
                     safe_setpoint_c: float = SAFE_SETPOINT_C,
                     output_off_deadline_s: float = OUTPUT_OFF_DEADLINE_S) -> SafeStateReport:
    """Run the sequence; ``fault_time_s`` is the test time (s) of the sample that showed the fault."""
    report = SafeStateReport()
    wall_start = time.perf_counter()
    _output_off_confirmed(bench, report, output_off_deadline_s)
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
