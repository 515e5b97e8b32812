"""What a cycler channel that runs its own step files offers the bench (Neware BTS, Arbin
schedules, Maccor procedures).

The delegated runner only uses this interface; each driver implements it over its vendor's
published API (section cited in the driver).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ChannelSample:
    """One record of a channel: test time (s, the cycler's own clock from the start of the test),
    voltage (V), current (A, positive charges), temperature (°C, NaN without a probe), the
    cycler's step and cycle index, the step's capacity (Ah)."""

    test_time_s: float
    voltage_v: float
    current_a: float
    temperature_c: float
    step_index: int
    cycle_index: int
    capacity_ah: float = 0.0


@dataclass(frozen=True)
class ChannelStatus:
    """A channel's state: ``idle``, ``running``, ``paused``, ``finished``, ``stopped``,
    ``alarm``, ``offline``; ``test_id`` names the test the cycler is running (for reattaching);
    ``detail`` is the cycler's own words for an alarm."""

    state: str
    test_id: str = ""
    step_index: int = -1
    cycle_index: int = -1
    detail: str = ""


class DelegatedChannel(Protocol):
    """A cycler channel that downloads, starts and runs a step file on its own."""

    #: The step-file format it accepts (``neware_xml``, ``arbin_schedule``, ``maccor_procedure``).
    step_format: str

    def download(self, step_file: bytes, name: str) -> None:
        """Send the step file; raises with the cycler's reason if the cycler rejects it."""

    def start(self, test_id: str) -> None:
        """Start the downloaded step file under ``test_id``."""

    def stop(self) -> None:
        """Stop the channel (output off)."""

    def status(self) -> ChannelStatus:
        """The channel's present state."""

    def latest(self) -> ChannelSample:
        """The channel's latest reading."""

    # Optional (added for the runner, issue 29): ``poll() -> tuple[ChannelStatus, ChannelSample]``,
    # the state and the latest reading from one query where the cycler answers both at once
    # (Neware ``inquire``); the runner uses it when a driver has it, else status() then latest().

    def records_since(self, test_time_s: float) -> list[ChannelSample]:
        """The cycler's stored records after ``test_time_s`` (for backfilling after a reattach)."""
