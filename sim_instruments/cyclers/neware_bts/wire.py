"""Wire front end of the simulated Neware BTS: messages end with ``\\n\\n#\\r\\n`` (the BTS API's
terminator, as aurora-neware sends and reads it); one reply per request, same terminator. A server
on loopback TCP (:func:`serve_neware`) and an in-process stream (:func:`neware_stream`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sim_instruments.cyclers.neware_bts.system import TERMINATOR, NewareBtsSim
from sim_instruments.wire.stream_server import LinkState, SimByteStream, StreamServer
from sim_instruments.wire.tcp_server import LOOPBACK

#: Largest request accepted before the connection is dropped, bytes.
MAX_REQUEST_BYTES = 1 << 20
#: Wall seconds between the served simulator's own syncs (it runs its step files between queries).
TICK_S = 0.05


class BtsSession:
    """One client connection: splits the byte stream into messages and answers each."""

    def __init__(self, sim: NewareBtsSim) -> None:
        self.sim = sim
        self._buffer = bytearray()

    def feed(self, data: bytes) -> bytes:
        self._buffer += data
        out = bytearray()
        while True:
            index = self._buffer.find(TERMINATOR)
            if index < 0:
                break
            message = bytes(self._buffer[:index])
            del self._buffer[:index + len(TERMINATOR)]
            text = message.decode("utf-8", errors="replace").strip()
            if text:
                out += self.sim.handle(text).encode("utf-8") + TERMINATOR
        if len(self._buffer) > MAX_REQUEST_BYTES:
            raise ValueError(f"request over {MAX_REQUEST_BYTES} bytes without a terminator")
        return bytes(out)


@dataclass
class NewareServer:
    """A simulated BTS server on loopback TCP, with its own ticker so step files run unattended."""

    sim: NewareBtsSim
    server: StreamServer
    link: LinkState
    host: str = LOOPBACK
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._ticker = threading.Thread(target=self._tick, name="neware-ticker", daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(TICK_S):
            self.sim.sync()

    @property
    def resource(self) -> str:
        """``TCPIP::127.0.0.1::PORT::SOCKET``."""
        return f"TCPIP::{self.host}::{self.server.port}::SOCKET"

    def stop(self) -> None:
        self._stop.set()
        self.server.stop()
        self._ticker.join(2.0)


def serve_neware(sim: NewareBtsSim, *, host: str = LOOPBACK, port: int = 0) -> NewareServer:
    """Start the BTS API server of ``sim`` (a free port by default; the real BTS listens on 502)."""
    link = LinkState()
    server = StreamServer(lambda: BtsSession(sim), name="neware-bts", host=host, port=port, link=link,
                          lock=sim.world.lock).start()
    return NewareServer(sim, server, link, host)


def neware_stream(sim: NewareBtsSim, resource: str = "TCPIP::neware-sim::502::SOCKET", *,
                  link: LinkState | None = None) -> SimByteStream:
    """An in-process stream to ``sim`` (what ``drivers.neware_bts`` can be handed; virtual clock)."""
    return SimByteStream(lambda: BtsSession(sim), resource, link=link, lock=sim.world.lock)
