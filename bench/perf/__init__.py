"""``bench perf``: acceleration, per-sample cost by stage, PyBaMM anchor, real-time jitter and
channel count over loopback TCP, run-file logging and analysis throughput, safety latency and
kill -9 survival. :func:`bench.perf.runner.run_perf` returns the result object."""
