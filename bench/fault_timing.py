"""Refuse a ``--fault`` timed after the protocol's end before the run starts (issue 26 defect 10).

A fault scheduled at ``@200h`` on a ten-hour protocol never takes effect; the run would end
"passed" with the operator believing the fault was tested. The protocol's end is its estimated
duration (:func:`protocols.estimate.estimate`, what ``bench validate`` prints). The estimate is
approximate (loops that end on measured values are counted as the estimate sees them, a CV hold's
taper is modelled), so a fault is refused only when it starts after :data:`END_MARGIN` times the
estimate; a truncated estimate (a protocol longer than the estimator follows) refuses nothing.

Units: seconds of test time.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.fault_specs import FaultSpec
from protocols.steps import Protocol

#: A fault starting later than this multiple of the estimated duration is refused.
END_MARGIN = 2.0


def fault_after_end(faults: Sequence[FaultSpec], protocol: Protocol) -> str | None:
    """One line naming the first time-based fault that starts after the protocol's estimated end
    (with margin), or None when every fault can take effect."""
    timed = [f for f in faults if f.condition is None]
    if not timed:
        return None
    from protocols.estimate import estimate
    from protocols.quantities import format_duration

    result = estimate(protocol)
    if result.truncated or result.duration_s <= 0:
        return None
    for fault in timed:
        if fault.time_s > END_MARGIN * result.duration_s:
            return (f"--fault {fault.text}: starts at {format_duration(fault.time_s)}, after the end of "
                    f"{protocol.name} (estimated ~{format_duration(result.duration_s)}, see bench validate); "
                    "it would never take effect")
    return None
