"""The protocol engine and everything it runs per step: step kinds, end conditions, counters,
trips, the resume point, operator control, chamber ramps, ETA and progress; ``runner`` and
``resume`` put protocol, bench, run file and engine together for ``bench run`` / ``bench resume``.

Layering: may import ``bench.safety``, ``bench.runfile``, ``bench.report``, roles from ``drivers``
and ``protocols``; never ``sim_instruments`` (only :mod:`bench.simulated` does)."""
