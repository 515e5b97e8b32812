"""Multi-channel cycler systems (Maccor, Arbin): one connection, many channel handles.

A :class:`CyclerSystem` owns the byte-stream link to one tester and serialises every exchange on
it (a lock: channel handles may be driven from several engine threads). Its channel handles each
implement the ``Cycler`` role (:mod:`drivers.roles`) for one channel number.

Lost link (item 6 of issue 20): when an exchange times out or the connection breaks, the system
bumps its :attr:`CyclerSystem.link_epoch` and closes the stream. Every channel handle remembers the
epoch it was armed in (:meth:`SystemChannel.arm`, done by ``configure_protection``); a handle whose
system lost its link since then refuses ``measure`` / ``set_current`` / ``set_voltage`` /
``output_on`` with :class:`~drivers.transport.InstrumentConnectionLost` naming the system and the
channel, so *every* channel of that system reports the failure and its bench safes it, while
other systems (other connections) keep running. ``output_off`` is always attempted: the next
exchange reconnects once (bounded by the timeout) so the safe state reaches the tester when it can.

:class:`SystemPool` hands out channel handles that share one system per resource string: what a
bench config with several ``[[cycler]]`` entries naming the same resource needs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

from drivers.errors import InstrumentError
from drivers.stream import ByteStream, TcpStream
from drivers.transport import InstrumentConnectionLost

logger = logging.getLogger(__name__)



class WallClock:
    """Monotonic wall-clock seconds and a real sleep (the default clock of the driver)."""

    def now_s(self) -> float:
        return time.monotonic()

    def sleep(self, duration_s: float) -> None:
        if duration_s > 0:
            time.sleep(duration_s)


class NoSuchChannel(InstrumentError, ValueError):
    """A channel number the system does not have (a bench config error)."""


class CyclerSystem:
    """Base of a multi-channel tester reached through one :class:`~drivers.stream.ByteStream`."""

    #: Channel numbers as the tester's own software shows them start at this value.
    first_channel = 1
    #: Names the system in messages and as the pool's connection name (each subclass sets it).
    system_label: ClassVar[str]
    #: The channel handle class (the ``Cycler`` role); each driver module sets it after the class.
    channel_class: ClassVar[type[SystemChannel]]

    def __init__(self, stream: ByteStream, *, name: str = "cycler system") -> None:
        self.stream = stream
        self.name = name
        self.lock = threading.RLock()
        #: Bumped at every lost link; channel handles armed in an older epoch refuse to act.
        self.link_epoch = 0
        self._broken = False
        #: Number of channels the system reports (set by the subclass when it connects).
        self.channel_count = 0
        #: Role name of each channel's handle (``cycler3``), for messages.
        self.handle_names: dict[int, str] = {}

    @property
    def where(self) -> str:
        """``name (resource)`` for messages."""
        return f"{self.name} ({self.stream.resource})"

    def where_channel(self, channel: int | None) -> str:
        """``role: name (resource) channel N`` for messages (the system alone when ``channel`` is None)."""
        if channel is None:
            return self.where
        role = self.handle_names.get(channel)
        return f"{role}: {self.where} channel {channel}" if role else f"{self.where} channel {channel}"

    def check_channel(self, channel: int) -> None:
        """NoSuchChannel unless ``channel`` is one of the system's channel numbers."""
        last = self.first_channel + self.channel_count - 1
        if not isinstance(channel, int) or isinstance(channel, bool) or not self.first_channel <= channel <= last:
            raise NoSuchChannel(f"{self.where}: no channel {channel!r}; the system has channels "
                                f"{self.first_channel}..{last}")

    # -- the link ----------------------------------------------------------------------------------
    def _ensure_link(self, channel: int | None) -> None:
        """Reopen a link lost earlier (one attempt); InstrumentConnectionLost when that fails."""
        if not self._broken:
            return
        try:
            self.stream.reopen()
        except OSError as exc:
            raise InstrumentConnectionLost(f"{self.where_channel(channel)}: link lost, reconnect failed: {exc}") from exc
        self._broken = False
        logger.info("%s: reconnected", self.where)
        self.after_reconnect()

    def after_reconnect(self) -> None:
        """Hook: what a fresh connection needs before use (a login); raises InstrumentError."""

    def lose_link(self, channel: int | None, what: str, detail: object) -> InstrumentConnectionLost:
        """Mark the link lost (every channel handle will report it); the exception to raise."""
        self._broken = True
        self.link_epoch += 1
        try:
            self.stream.close()
        except OSError:
            logger.debug("%s: close after a lost link failed", self.where, exc_info=True)
        logger.warning("%s: %s: link lost (%s); every channel of this system must be re-armed",
                       self.where, what, detail)
        return InstrumentConnectionLost(f"{self.where_channel(channel)}: {what}: link lost: {detail}")

    def exchange(self, channel: int | None, what: str, io: Callable[[ByteStream], Any]) -> Any:
        """Run ``io(stream)`` (one request and its reply) under the lock, mapping link failures:
        a timeout or a broken connection loses the link (see the module docstring)."""
        with self.lock:
            self._ensure_link(channel)
            try:
                return io(self.stream)
            except TimeoutError as exc:
                raise self.lose_link(channel, what, "no reply (timeout)") from exc
            except OSError as exc:
                raise self.lose_link(channel, what, exc) from exc

    def close(self) -> None:
        """Close the connection."""
        with self.lock:
            self.stream.close()


class SystemChannel:
    """Bookkeeping shared by the channel handles: the system, the channel number, the arming epoch."""

    def __init__(self, system: CyclerSystem, channel: int, *, name: str) -> None:
        system.check_channel(channel)
        system.handle_names[channel] = name
        self.system = system
        self.channel = channel
        self.name = name
        self._armed_epoch: int | None = None
        #: ``transport.close()`` releases this handle (the bench's closers call it).
        self.transport = _HandleCloser(self)
        self._closed = False
        #: Called when the handle is released (a :class:`SystemPool` closes the system with its last handle).
        self.system_released: Callable[[], None] = lambda: None

    @property
    def where(self) -> str:
        """``role: system (resource) channel N`` for messages."""
        return self.system.where_channel(self.channel)

    def arm(self) -> None:
        """The channel's protection is set in the present link epoch: it may act."""
        self._armed_epoch = self.system.link_epoch

    def require_armed(self, what: str) -> None:
        """Refuse ``what`` unless protection was set since the system's link was last lost."""
        if self._armed_epoch is None:
            raise InstrumentError(f"{self.where}: {what} before configure_protection (vendor safety limits not set)")
        if self._armed_epoch != self.system.link_epoch:
            raise InstrumentConnectionLost(f"{self.where}: {what} refused: the system's link was lost "
                                           "since this channel was armed (safe it and configure again)")

    def close(self) -> None:
        """Release the handle; the system's connection closes with its last handle (see SystemPool)."""
        self._closed = True


class _HandleCloser:
    """``channel.transport`` as the bench sees it: ``resource`` and ``close()``."""

    def __init__(self, handle: SystemChannel) -> None:
        self._handle = handle

    @property
    def resource(self) -> str:
        return self._handle.system.stream.resource

    def close(self) -> None:
        self._handle.close()
        self._handle.system_released()


class SystemPool:
    """Channel handles sharing one system per ``(driver class, resource)``; close with :meth:`close`.

    ``open_stream(resource, timeout_s)`` opens the link (default :class:`~drivers.stream.TcpStream`);
    tests and the in-process simulated bench pass their own.
    """

    def __init__(self, open_stream: Callable[[str, float], ByteStream] | None = None) -> None:
        self._open_stream = open_stream or (lambda resource, timeout_s: TcpStream(resource, timeout_s=timeout_s))
        self.systems: dict[tuple[type, str], Any] = {}
        self._users: dict[tuple[type, str], int] = {}
        self._lock = threading.Lock()

    def system(self, cls: type[CyclerSystem], resource: str, *, timeout_s: float = 2.0, **options: Any) -> Any:
        """The one ``cls`` system at ``resource`` (connected on first use)."""
        key = (cls, resource)
        with self._lock:
            system = self.systems.get(key)
            if system is None:
                try:
                    stream = self._open_stream(resource, timeout_s)
                except OSError as exc:
                    raise InstrumentError(f"{resource}: cannot connect: {exc}") from exc
                try:
                    system = cls(stream, name=cls.system_label, **options)
                except BaseException:
                    stream.close()  # a refused login or an unreadable system: release the connection
                    raise
                self.systems[key] = system
                self._users[key] = 0
            return system

    def channel(self, cls: type[CyclerSystem], resource: str, channel: int, *, name: str, timeout_s: float = 2.0,
                **options: Any) -> Any:
        """A channel handle (``cls.channel_class``) of the system at ``resource``."""
        system = self.system(cls, resource, timeout_s=timeout_s, **options)
        handle = system.channel(channel, name=name)
        key = (cls, resource)
        with self._lock:
            self._users[key] += 1

        def released(key: tuple[type, str] = key) -> None:
            with self._lock:
                self._users[key] -= 1
                last = self._users[key] <= 0
                system = self.systems.pop(key) if last else None
            if system is not None:
                system.close()

        handle.system_released = released
        return handle

    def close(self) -> None:
        """Close every system's connection."""
        with self._lock:
            systems = list(self.systems.values())
            self.systems.clear()
        for system in systems:
            system.close()
