"""Safety: the per-sample supervisor and its rules (hard limits, dT/dt, runaway, internal-short
signatures, stale data), the watchdog thread, the safe-state sequence and abuse tests.

Layering: knows roles (``drivers.roles``), never a driver class; never the engine or the run file
writer's internals beyond appending events (abuse tests)."""
