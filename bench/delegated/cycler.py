"""A delegated channel in the place of the bench's cycler role (issue 29).

The safe-state sequence (:mod:`bench.safety.safe_state`) turns a cycler's output off with
``output_off()`` and confirms it with ``is_output_on()``; for a cycler that runs its own step
file that is: stop the test, then read the channel's state back until it is no longer running.
"""

from __future__ import annotations

from typing import Any

from drivers.delegated.channel import DelegatedChannel

#: Channel states in which the cycler's output may be on.
ACTIVE_STATES = frozenset({"running", "paused"})


class ChannelAsCycler:
    """A delegated channel seen by the safe-state sequence: ``output_off`` stops the test,
    ``is_output_on`` reads the channel's state back (running / paused = on)."""

    def __init__(self, channel: DelegatedChannel) -> None:
        self.channel = channel

    def output_off(self) -> None:
        """Stop the channel's test (output off)."""
        self.channel.stop()

    def is_output_on(self) -> bool:
        """True while the channel reports a running or paused test."""
        return self.channel.status().state in ACTIVE_STATES

    def verify_identity(self) -> str:
        """The driver's identity check, if it has one; else the channel as the driver names it
        (its connection already checked the cycler answers, e.g. Neware ``getdevinfo``)."""
        verify = getattr(self.channel, "verify_identity", None)
        if verify is not None:
            return str(verify())
        return str(getattr(self.channel, "where", type(self.channel).__name__))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.channel, name)
