"""How long a driver rides through a link fault, in the bench's clock.

A dropped link (no reply), a burst of line noise (garbled replies) or a pulled cable answers an
idempotent query with a timeout or garbage. With a link clock set (:meth:`ScpiInstrument.ride_through`,
done by the bench for its instruments) the driver asks again after a back-off (0.5 s, doubling,
at most 2 s) slept on the bench clock, and goes on while the fault is younger than
``outage_limit_s``: the first attempt that starts after that limit and still fails ends the
ride as an error (bench exit code 4). So an outage shorter than the limit never ends a run, and
one that is longer ends it within ``give_up_s(timeout_s)`` of its start. A virtual clock makes
each timeout and back-off take virtual time, as on real hardware.

Units: seconds of bench time (wall seconds x speed on a paced clock).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

#: A link fault shorter than this (bench seconds) never ends a run (README, docs/safety.md).
LINK_OUTAGE_LIMIT_S = 10.0
#: First back-off between attempts and its ceiling (doubling), bench seconds.
BACKOFF_S = 0.5
BACKOFF_MAX_S = 2.0
#: The reply timeout the built-in transports use, s (VISA and serial).
DEFAULT_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class LinkPolicy:
    """The ride-through budget: ``outage_limit_s``, back-off start and ceiling (bench seconds)."""

    outage_limit_s: float = LINK_OUTAGE_LIMIT_S
    backoff_s: float = BACKOFF_S
    backoff_max_s: float = BACKOFF_MAX_S

    def give_up_s(self, timeout_s: float = DEFAULT_TIMEOUT_S) -> float:
        """Longest time from the start of a fault to the driver giving up, bench seconds: an
        attempt started just before the limit waits one timeout, the last one starts one
        back-off later and waits another."""
        return self.outage_limit_s + self.backoff_max_s + 2.0 * timeout_s


@dataclass(frozen=True)
class LinkClock:
    """The bench clock as a driver sees it: ``now_s()`` and ``sleep(s)``, and the policy."""

    now_s: Callable[[], float]
    sleep: Callable[[float], None]
    policy: LinkPolicy = LinkPolicy()


#: The policy the bench gives its instruments.
DEFAULT_POLICY = LinkPolicy()
