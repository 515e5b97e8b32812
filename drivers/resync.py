"""Replies are never matched to the wrong query: resynchronising a message link after a timeout.

A query that times out leaves its reply *owed*: an instrument that was only slow (a stalled
process, a congested link, a busy firmware) still answers it later, and every later query would
then read the reply of the one before it (a voltage reading taken as the answer to ``:OUTP?``).
So a transport counts the replies it is owed and, after any timeout, resynchronises before it
trusts a reply again (:meth:`ReplySync.resync`):

1. sends the driver's probe (``*IDN?`` for SCPI instruments, see ``ScpiInstrument``), when it has one;
2. reads replies, discarding them, until it has read every owed reply and the probe's own reply,
   and that last one is the probe's answer (``accept``). Replies to earlier probes look like the
   answer too; the count tells them apart.

Edge cases:

* silence before any reply: the instrument is still stalled; the owed count stays (the probe
  included) and the transport raises :class:`~drivers.errors.InstrumentTimeout`, which the drivers'
  ride-through handles like any timeout;
* replies, then a whole timeout of silence: the instrument is alive and nothing more is coming
  (the owed replies were lost: a device clear emptied its output queue, a dropped line); the
  count restarts at zero and the last reply decides (the probe's answer: in step);
* a link reopened after it was lost: a new connection carries no old reply (count zero);
* a device clear that reaches the instrument (VXI-11, USBTMC, GPIB, the in-process simulator)
  empties its output queue (count zero); on a raw TCP socket (``::SOCKET``) a VISA clear only
  drops what the host has already received, so the count stays.

A transport using this mixin provides ``_send(message)`` and ``_read_late_reply() -> str`` (one reply,
waiting at most its timeout; :class:`InstrumentTimeout` when none came). Units: none (counts).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from drivers.errors import InstrumentError, InstrumentTimeout

logger = logging.getLogger(__name__)

#: Most replies a resync reads beyond those it is owed before it gives up (a runaway instrument).
MAX_EXTRA_REPLIES = 64


class ReplySync:
    """Owed-reply bookkeeping and resynchronisation for a message transport (see module doc)."""

    resource: str
    #: Replies the instrument may still send to queries whose reply timed out.
    _owed: int = 0
    #: True after a timeout until a resync confirmed the link is in step.
    _desync: bool = False
    #: ``(probe message, accept(reply) -> bool)`` set by the driver; None: count only.
    _sync: tuple[str, Callable[[str], bool]] | None = None

    def set_sync(self, probe: str, accept: Callable[[str], bool]) -> None:
        """The query that proves the link is in step (``*IDN?``) and the test of its reply."""
        self._sync = (probe, accept)

    @property
    def in_step(self) -> bool:
        """False after a timeout until the next resynchronisation succeeded."""
        return not self._desync

    def _send(self, message: str) -> None:  # pragma: no cover - each transport defines it
        raise NotImplementedError

    def _read_late_reply(self) -> str:  # pragma: no cover - each transport defines it
        raise NotImplementedError

    def _timed_out(self) -> None:
        """A query's reply did not come in time: it is owed, and the link is out of step."""
        self._owed += 1
        self._desync = True

    def _fresh_link(self) -> None:
        """A new connection (or a device clear that reached the instrument): nothing is owed."""
        self._owed = 0

    def resync(self) -> None:
        """Bring the link back in step (see the module doc); InstrumentTimeout while the
        instrument stays silent, InstrumentError if it never answers the probe."""
        sync = self._sync
        need = self._owed + (1 if sync is not None else 0)
        if need == 0:
            self._desync = False
            return
        if sync is not None:
            self._send(sync[0])
        accept = sync[1] if sync is not None else None
        got = 0
        last = ""
        while True:
            try:
                last = self._read_late_reply()
            except InstrumentTimeout:
                if got == 0:
                    self._owed = need
                    raise InstrumentTimeout(f"{self.resource}: no reply while resynchronising after a timeout"
                                            + (f" ({sync[0]!r} and {need - 1} owed)" if sync else "")) from None
                # Alive, then silent for a whole timeout: the other owed replies were lost.
                self._owed = 0
                if accept is None or accept(last):
                    self._synced(got - 1)
                    return
                raise InstrumentTimeout(f"{self.resource}: the probe's answer did not come while "
                                        "resynchronising after a timeout") from None
            got += 1
            if got >= need and (accept is None or accept(last)):
                self._owed = 0
                self._synced(got - (1 if sync is not None else 0))
                return
            if got > need + MAX_EXTRA_REPLIES:
                self._owed = 0
                raise InstrumentError(f"{self.resource}: {got} replies without the answer to "
                                      f"{sync[0] if sync else 'the probe'!r}; cannot resynchronise")

    def _synced(self, discarded: int) -> None:
        self._desync = False
        if discarded > 0:
            logger.warning("%s: back in step after a timeout: %d late repl%s discarded", self.resource, discarded,
                           "y" if discarded == 1 else "ies")
        else:
            logger.info("%s: back in step after a timeout", self.resource)
