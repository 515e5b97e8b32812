"""Declarative SCPI instruments: one line per property, units and limits always enforced.

    class Keithley2460(ScpiInstrument):
        source_current_a = scpi_property(":SOUR:CURR", limits=(-7.35, 7.35), unit="A",
                                         doc="Source current setpoint")

Reading a property sends ``<command>?`` and parses the reply; setting it validates the value
against ``limits`` (raising :class:`SetpointOutOfRange` before anything is sent), writes
``<command> <value>`` and checks the error queue. Actuation (output on/off...) is always an
explicit method, never a property.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar, overload

from drivers.errors import (
    InstrumentCommandError,
    InstrumentError,
    InstrumentReplyError,
    InstrumentTimeout,
    SetpointOutOfRange,
)
from drivers.link_policy import LinkClock, LinkPolicy
from drivers.transport import MessageTransport

logger = logging.getLogger(__name__)

T = TypeVar("T")


def parse_float(reply: str, *, where: str) -> float:
    """Parse one SCPI number; a garbage reply raises InstrumentReplyError naming ``where``."""
    try:
        value = float(reply.strip())
    except ValueError:
        raise InstrumentReplyError(f"{where}: expected a number, got {reply!r}") from None
    if math.isnan(value):
        raise InstrumentReplyError(f"{where}: instrument returned NaN")
    return value


def parse_floats(reply: str, count: int | None, *, where: str | Callable[[], str]) -> list[float]:
    """Parse a comma-separated list of numbers (``count`` of them when given).

    ``where`` names the reply in error messages; it may be a callable, called only on an error
    (so the per-sample path does not build the text).
    """
    parts = reply.split(",")
    if count is None or len(parts) == count:
        try:
            values = [float(p) for p in parts]
        except ValueError:
            values = None
        if values is not None:
            total = sum(values)
            if total == total:  # no NaN (the slow path below decides the rare inf - inf case)
                return values
    where_text = where() if callable(where) else where
    if count is not None and len(parts) != count:
        raise InstrumentReplyError(f"{where_text}: expected {count} values, got {reply!r}")
    return [parse_float(p, where=where_text) for p in parts]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _named(exc: InstrumentError, name: str) -> InstrumentError:
    """The same error with the instrument's role name in front (``cycler: USB0::...: ...``)."""
    text = str(exc)
    if text.startswith(name):
        return exc
    return type(exc)(f"{name}: {text}")


class ScpiInstrument:
    """Base of SCPI drivers: transport, identification, error queue, retried queries.

    ``name`` labels the instrument in messages (the role it plays, e.g. ``cycler``).
    """

    #: Model names this driver accepts in the ``*IDN?`` reply (checked by :meth:`verify_identity`).
    idn_models: tuple[str, ...] = ()
    #: How many times an idempotent query is retried after a timeout.
    query_retries = 2
    #: The bench clock for riding through link faults (:meth:`ride_through`); None: only the
    #: ``query_retries`` immediate retries.
    link: LinkClock | None = None

    def __init__(self, transport: MessageTransport, *, name: str = "") -> None:
        self.transport = transport
        self.name = name or type(self).__name__
        set_sync = getattr(transport, "set_sync", None)
        if set_sync is not None:  # after a timeout the transport proves it is in step with *IDN?
            set_sync("*IDN?", self._answers_identity)

    def _answers_identity(self, reply: str) -> bool:
        """True when ``reply`` is this instrument's ``*IDN?`` answer (IEEE 488.2 10.14: four
        comma-separated fields, maker, model, serial, firmware); a measurement reply is not."""
        fields = reply.split(",")
        if len(fields) != 4:
            return False
        return bool(fields[0].strip()) and not _is_number(fields[0])

    def ride_through(self, now_s: Callable[[], float], sleep: Callable[[float], None],
                     policy: LinkPolicy | None = None) -> None:
        """Retry idempotent queries (timeouts, garbled replies) with back-off on this clock until
        the fault is older than the policy's outage limit (see :mod:`drivers.link_policy`)."""
        self.link = LinkClock(now_s, sleep, policy or LinkPolicy())

    def _give_up(self, command: str, elapsed_s: float) -> None:
        limit = self.link.policy.outage_limit_s if self.link is not None else 0.0
        logger.error("%s: %r failed for %.1f s of bench time (ride-through limit %g s): giving up", self.where,
                     command, elapsed_s, limit)

    def _ride(self, command: str, parse: Callable[[str], T] | None, first: InstrumentError) -> Any:
        """After a failed attempt of an idempotent ``command`` (``first``: its timeout or garbled
        reply), with a link clock: ask again after a back-off on the bench clock; the first
        attempt that starts after the outage limit and fails ends it with that error, named."""
        link = self.link
        assert link is not None
        policy = link.policy
        start = link.now_s()
        delay = policy.backoff_s
        error = first
        attempt = 1
        while True:
            what = "garbled reply to" if isinstance(error, InstrumentReplyError) else "timeout on"
            logger.warning("%s: %s %r, asking again in %g s (%d, %.1f s into the fault)", self.where, what,
                           command, delay, attempt, link.now_s() - start)
            self._clear_transport()
            link.sleep(delay)
            delay = min(2.0 * delay, policy.backoff_max_s)
            attempt += 1
            last = link.now_s() - start >= policy.outage_limit_s  # starts after the limit: the last one
            try:
                reply = self.transport.query(command)
            except InstrumentTimeout as exc:
                error = exc
                if last:
                    self._give_up(command, link.now_s() - start)
                    raise _named(exc, self.name) from exc
                continue
            except InstrumentError as exc:
                raise _named(exc, self.name) from exc
            if parse is None:
                if attempt > 2:
                    logger.warning("%s: %r answered again after %.1f s", self.where, command, link.now_s() - start)
                return reply
            try:
                value = parse(reply)
            except InstrumentReplyError as exc:
                error = exc
                if last:
                    self._give_up(command, link.now_s() - start)
                    raise
                continue
            logger.warning("%s: %r answered again after %.1f s", self.where, command, link.now_s() - start)
            return value

    @property
    def where(self) -> str:
        """``name (resource)`` for messages."""
        return f"{self.name} ({self.transport.resource})"

    # -- raw I/O -----------------------------------------------------------------------------
    def write(self, command: str) -> None:
        """Send a command (no reply expected)."""
        try:
            self.transport.write(command)
        except InstrumentError as exc:
            raise _named(exc, self.name) from exc

    def query(self, command: str, *, idempotent: bool = True) -> str:
        """Send a query and return its reply; timeouts are retried only for idempotent queries."""
        # Fast path: the first attempt; after a timeout, _query_from goes on with attempt 1.
        try:
            return self.transport.query(command)
        except InstrumentTimeout as exc:
            if self.link is not None and idempotent:
                return self._ride(command, None, exc)
            attempts = self._first_timeout(command, exc, idempotent)
        except InstrumentError as exc:
            raise _named(exc, self.name) from exc
        return self._query_from(1, attempts, command)

    def _first_timeout(self, command: str, exc: InstrumentTimeout, idempotent: bool) -> int:
        """After the first attempt of ``command`` timed out (called while handling ``exc``): raise
        it, named, when there are no retries; else log, clear the link and return the number of
        attempts in all."""
        attempts = 1 + (self.query_retries if idempotent else 0)
        if attempts <= 1:
            raise _named(exc, self.name) from exc
        logger.warning("%s: timeout on %r, retrying (%d)", self.where, command, 1)
        self._clear_transport()
        return attempts

    def _query_from(self, first: int, attempts: int, command: str) -> str:
        """Attempts ``first`` .. ``attempts - 1`` of :meth:`query` (0-based)."""
        for attempt in range(first, attempts):
            try:
                return self.transport.query(command)
            except InstrumentTimeout as exc:
                if attempt + 1 >= attempts:
                    raise _named(exc, self.name) from exc
                logger.warning("%s: timeout on %r, retrying (%d)", self.where, command, attempt + 1)
                self._clear_transport()
            except InstrumentError as exc:
                raise _named(exc, self.name) from exc
        raise AssertionError("unreachable")

    def _clear_transport(self) -> None:
        """Device clear before asking again, on transports that have one."""
        clear = getattr(self.transport, "clear", None)
        if clear is not None:
            clear()

    def query_parsed(self, command: str, parse: Callable[[str], T]) -> T:
        """An idempotent query whose reply goes through ``parse``; a garbled reply (``parse``
        raising InstrumentReplyError) is asked again, like a timeout, up to ``query_retries`` times.
        A reading garbled once by line noise must not end a 30-hour test."""
        # Fast path (every sample): query()'s first attempt inline, then one parse; a timeout or a
        # garbled reply goes on in _query_from / _query_parsed_from exactly as query() would.
        attempts = 0
        try:
            reply = self.transport.query(command)
        except InstrumentTimeout as exc:
            if self.link is not None:
                return self._ride(command, parse, exc)
            attempts = self._first_timeout(command, exc, True)
        except InstrumentError as exc:
            raise _named(exc, self.name) from exc
        if attempts:
            reply = self._query_from(1, attempts, command)
        try:
            return parse(reply)
        except InstrumentReplyError as exc:
            if self.link is not None:
                return self._ride(command, parse, exc)
            if self.query_retries <= 0:
                raise
            logger.warning("%s: garbled reply to %r, asking again (%d)", self.where, command, 1)
            self._clear_transport()
        return self._query_parsed_from(1, command, parse)

    def _query_parsed_from(self, first: int, command: str, parse: Callable[[str], T]) -> T:
        """Attempts ``first`` .. ``query_retries`` of :meth:`query_parsed` (0-based)."""
        for attempt in range(first, 1 + self.query_retries):
            reply = self.query(command)
            try:
                return parse(reply)
            except InstrumentReplyError:
                if attempt >= self.query_retries:
                    raise
                logger.warning("%s: garbled reply to %r, asking again (%d)", self.where, command, attempt + 1)
                self._clear_transport()
        raise AssertionError("unreachable")

    def query_float(self, command: str) -> float:
        """Query one number."""
        return parse_float(self.query(command), where=f"{self.where} {command}")

    # -- IEEE 488.2 ----------------------------------------------------------------------------
    def identify(self) -> str:
        """The ``*IDN?`` reply: maker, model, serial number, firmware."""
        return self.query("*IDN?")

    def verify_identity(self) -> str:
        """``*IDN?`` and check the model is one this driver supports; returns the reply."""
        idn = self.identify()
        if self.idn_models and not any(model in idn for model in self.idn_models):
            raise InstrumentReplyError(
                f"{self.where}: *IDN? answered {idn!r}, expected one of {', '.join(self.idn_models)}"
            )
        return idn

    def reset(self) -> None:
        """``*RST`` then ``*CLS``: power-on settings, empty error queue."""
        self.write("*RST")
        self.write("*CLS")

    def check_errors(self, context: str = "") -> None:
        """Read the error queue (``:SYST:ERR?``) until empty; raise if it held any error."""
        errors = []
        for _ in range(20):
            reply = self.query(":SYST:ERR?")
            code_text = reply.split(",", 1)[0].strip()
            try:
                code = int(code_text)
            except ValueError:
                raise InstrumentReplyError(f"{self.where}: :SYST:ERR? answered {reply!r}") from None
            if code == 0:
                break
            errors.append(reply)
        if errors:
            after = f" after {context}" if context else ""
            raise InstrumentCommandError(f"{self.where}: instrument error{after}: {'; '.join(errors)}")


class ScpiTarget(Protocol):
    """What a :class:`scpi_property` talks through: a :class:`ScpiInstrument`, or a handle that
    addresses one channel of one (``drivers.keysight_n6700.N6781AChannel``)."""

    @property
    def where(self) -> str:
        """Names the instrument in messages."""
        ...

    def write(self, command: str) -> None:
        """Send ``command``."""
        ...

    def query(self, command: str) -> str:
        """Send ``command`` (a query) and return the reply text."""
        ...

    def check_errors(self, context: str = "") -> None:
        """Raise if the instrument's error queue holds an error."""
        ...


class scpi_property(Generic[T]):  # noqa: N801 - reads as a declaration, like `property`
    """A settable/queryable instrument property with unit and enforced limits.

    ``limits``: inclusive (low, high) for numbers, or the name of a class attribute holding that
    pair, so each model of a family gives its limit in one place and a subclass overrides it (a
    subclass must not inherit a parent model's range silently; ``tests/drivers/test_driver_meta.py``
    checks every model). ``values``: allowed words for enumerations.
    ``parse``/``format`` convert between reply text and Python values.
    """

    # The value type follows from the arguments, as __get__ does at run time: ``parse`` gives T;
    # without it, ``values`` (an enumeration) gives the reply word (str), anything else a number.
    @overload
    def __init__(
        self: scpi_property[str], command: str, *, doc: str, unit: str = "",
        limits: tuple[float, float] | str | None = None, values: tuple[str, ...], parse: None = None,
        format: Callable[[str], str] | None = None, readonly: bool = False, check_errors: bool = True,  # noqa: A002
    ) -> None: ...

    @overload
    def __init__(
        self: scpi_property[float], command: str, *, doc: str, unit: str = "",
        limits: tuple[float, float] | str | None = None, values: None = None, parse: None = None,
        format: Callable[[float], str] | None = None, readonly: bool = False, check_errors: bool = True,  # noqa: A002
    ) -> None: ...

    @overload
    def __init__(
        self, command: str, *, doc: str, unit: str = "",
        limits: tuple[float, float] | str | None = None, values: tuple[str, ...] | None = None,
        parse: Callable[[str], T], format: Callable[[T], str] | None = None,  # noqa: A002
        readonly: bool = False, check_errors: bool = True,
    ) -> None: ...

    def __init__(
        self,
        command: str,
        *,
        doc: str,
        unit: str = "",
        limits: tuple[float, float] | str | None = None,
        values: tuple[str, ...] | None = None,
        parse: Callable[[str], Any] | None = None,
        format: Callable[[Any], str] | None = None,  # noqa: A002 - mirrors `property(doc=)` style
        readonly: bool = False,
        check_errors: bool = True,
    ) -> None:
        self.command = command
        self.unit = unit
        self.limits = limits
        self.values = values
        self._parse = parse
        self._format = format
        self.readonly = readonly
        self.check = check_errors
        self.__doc__ = f"{doc} [{unit}]" if unit else doc
        self.name = command

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> scpi_property[T]: ...

    @overload
    def __get__(self, obj: ScpiTarget, objtype: type | None = None) -> T: ...

    def __get__(self, obj: ScpiTarget | None, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        reply = obj.query(f"{self.command}?")
        if self._parse is not None:
            try:
                return self._parse(reply)
            except ValueError:
                raise InstrumentReplyError(f"{obj.where} {self.command}?: cannot parse {reply!r}") from None
        if self.values is not None:
            return reply.strip().strip('"')
        return parse_float(reply, where=f"{obj.where} {self.command}?")

    def limits_for(self, owner: Any) -> tuple[float, float] | None:
        """The (low, high) limits on ``owner`` (an instrument or its class): the pair given, or
        the value of the class attribute named by ``limits``."""
        limits = self.limits
        if limits.__class__ is str:
            return getattr(owner, limits)  # the named class attribute holds the pair
        return limits  # type: ignore[return-value]  # not a str here: `__class__ is str` (kept for speed) narrows only the branch above

    def validate(self, value: Any, where: str = "", owner: Any = None) -> None:
        """Raise SetpointOutOfRange unless ``value`` is allowed on ``owner`` (instrument or class;
        needed when the limits are named by a class attribute)."""
        prefix = f"{where}: " if where else ""
        if self.limits is not None:
            if self.limits.__class__ is str and owner is None:
                raise TypeError(f"{self.name}: limits {self.limits!r} are per model; pass owner=")
            low, high = self.limits_for(owner)  # type: ignore[misc]  # limits is not None here (checked above)
            if not isinstance(value, (int, float)) or not (low <= float(value) <= high):
                raise SetpointOutOfRange(
                    f"{prefix}{self.name} = {value!r} {self.unit} is outside [{low:g}, {high:g}] {self.unit}"
                )
        if self.values is not None and str(value).upper() not in self.values:
            raise SetpointOutOfRange(f"{prefix}{self.name} = {value!r} is not one of {', '.join(self.values)}")

    def text(self, value: Any) -> str:
        """The parameter text that sets ``value`` (``4.25``, ``PROT5``, ``ON``)."""
        if self._format is not None:
            return self._format(value)
        if self.limits is not None:
            return f"{float(value):.6g}"
        return str(value)

    def agrees(self, read: Any, wanted: Any) -> bool:
        """Whether a value read back is the value set: numbers within the instrument's setting
        resolution (0.1 % or 1 mV/mA, whichever is larger), words and states exactly."""
        if isinstance(wanted, bool):
            return bool(read) == wanted
        if self.values is not None or isinstance(wanted, str):
            return str(read).strip().strip('"').upper() == str(wanted).strip().upper()
        return abs(float(read) - float(wanted)) <= max(1e-3 * abs(float(wanted)), 1e-3)

    def __set__(self, obj: ScpiTarget, value: T) -> None:
        if self.readonly:
            raise AttributeError(f"{self.name} is read-only")
        self.validate(value, obj.where, obj)
        text = self.text(value)
        obj.write(f"{self.command} {text}")
        if self.check:
            obj.check_errors(f"{self.command} {text}")


def on_off(value: bool) -> str:
    """SCPI boolean text."""
    return "ON" if value else "OFF"


def parse_bool(reply: str) -> bool:
    """``1``/``ON`` -> True, ``0``/``OFF`` -> False."""
    word = reply.strip().upper()
    if word in ("1", "ON"):
        return True
    if word in ("0", "OFF"):
        return False
    raise ValueError(reply)
