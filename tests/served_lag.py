"""Did the runner keep pace with an accelerated served world? (shared by the TCP end-to-end tests)

``bench sim serve --speed N`` advances its world in real time x N and the runner's clock follows
the written ``[bench] speed``; a process that is descheduled for a wall time ``t`` misses ``t x N``
seconds of the world. At 240x a 42 ms stall on a loaded CI machine is 10 s of world time: enough
for the step-timeout rule (a timed step still running ``max(3 periods, 10 s)`` past its duration)
or the stale-data rule (a gap between samples) to trip - correctly, since on a real bench such a
gap would be a real stale reading. Such a run did not execute the protocol as written, so it is
reported as not tested (skipped, with the measured lag), never as passed nor as a product failure.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import pytest

#: Samples more than three of their step's sampling periods apart under current (the stale-data
#: rule's own measure) mean the runner fell behind the served world: the protocol was not run as
#: written (a loaded machine at this --speed).
BEHIND_PERIODS = 3.0


def lag_in_periods(path: Path) -> float:
    """How far the runner fell behind: the largest gap between two samples under current, in sampling
    periods of the step it fell in (the protocol as the run file recorded it)."""
    import numpy as np

    from bench.engine.resume import protocol_from_attrs
    from bench.lab.provenance import read_attributes

    protocol = protocol_from_attrs(read_attributes(path))
    periods = {node.index: getattr(node, "period_s", 0.0) or protocol.period_s
               for node, _depth in protocol.walk_nodes() if hasattr(node, "index")}
    with h5py.File(path, "r") as f:
        time_s = f["samples"]["Test Time / s"][:]
        current_a = f["samples"]["Current / A"][:]
        step = f["samples"]["Step Index / 1"][:]
    if len(time_s) < 2:
        return 0.0
    period = np.array([periods.get(int(k), max(10.0, protocol.period_s)) for k in step[1:]])
    flowing = (np.abs(current_a[1:]) > 1e-3) & (step[1:] == step[:-1])
    lag = np.diff(time_s)[flowing] / period[flowing]
    return float(lag.max()) if lag.size else 0.0


def timed_step_overran(log_text: str) -> bool:
    """True when the log shows a step-timeout trip on a step ended by time (soak, rest, pulse):
    the engine ends such a step itself, so only a runner that sampled late can overrun it."""
    timed_out = [line for line in log_text.splitlines() if "SAFETY TRIP step_timeout" in line]
    return any(" for " in line.split("still running")[0] for line in timed_out)


def skip_if_runner_fell_behind(files: list[Path], log_text: str, speed: float | str, what: str = "tripped") -> None:
    """Skip the calling test as not tested when the runner fell behind the served world (samples more
    than :data:`BEHIND_PERIODS` periods apart under current, or a timed step overran); otherwise return."""
    lag = max((lag_in_periods(p) for p in files if p.exists()), default=0.0)
    late = timed_step_overran(log_text)
    if lag > BEHIND_PERIODS or late:
        pytest.skip(f"not tested: the runner fell behind the served world (samples {lag:.0f} periods apart under "
                    f"current{', a timed step overran' if late else ''} at --speed {speed}: the machine is "
                    f"too loaded), then {what}")
