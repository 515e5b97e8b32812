"""Espec temperature chambers with the P-300 / SCP-220 controller, ASCII protocol (serial or TCP).

Commands after the Espec P-300 / SCP-220 Communication Manual, chapter 3 "Commands": messages
and replies end with CR LF; ``TYPE?`` identifies the chamber, ``TEMP?`` answers
``measured,setpoint,high alarm,low alarm``, ``TEMP, S<value>`` sets the setpoint, ``MODE,
CONSTANT`` runs, ``MODE, STANDBY`` stops, ``ALARM?`` answers ``count[,code...]``. Settings are
acknowledged ``OK: ...``; refusals are ``NA:<reason>`` (ch. 2 "Response": ``NA:CMD ERR``,
``NA:PARA ERR``, ``NA:DATA OUT OF RANGE``, ...), raised with the reason.
"""

from __future__ import annotations

from drivers.errors import InstrumentCommandError, InstrumentReplyError, SetpointOutOfRange
from drivers.scpi import parse_float
from drivers.transport import MessageTransport


class EspecP300:
    """An Espec chamber (SH/SU/PL series) on a P-300 or SCP-220 controller."""

    setpoint_range_c = (-45.0, 100.0)

    def __init__(self, transport: MessageTransport, *, name: str = "chamber") -> None:
        self.transport = transport
        self.name = name

    @property
    def where(self) -> str:
        """``name (resource)`` for messages."""
        return f"{self.name} ({self.transport.resource})"

    def _setting(self, command: str) -> None:
        reply = self.transport.query(command)
        if reply.startswith("NA"):
            raise InstrumentCommandError(f"{self.where}: {command!r} refused: {reply}")
        if not reply.startswith("OK"):
            raise InstrumentReplyError(f"{self.where}: {command!r} answered {reply!r}")

    def identify(self) -> str:
        """``TYPE?`` reply (the P-300 has no ``*IDN?``)."""
        return self.transport.query("TYPE?")

    def verify_identity(self) -> str:
        """``TYPE?``, checked to look like an Espec type reply (``T,<model>,...``)."""
        reply = self.identify()
        if not reply.startswith("T,") and not reply.startswith("H,"):
            raise InstrumentReplyError(f"{self.where}: TYPE? answered {reply!r}, not an Espec controller")
        return reply

    def set_setpoint_c(self, temperature_c: float) -> None:
        """Constant-mode temperature setpoint, °C (0.1 K resolution)."""
        low, high = self.setpoint_range_c
        if not (low <= temperature_c <= high):
            raise SetpointOutOfRange(
                f"{self.where}: setpoint {temperature_c:g} °C is outside [{low:g}, {high:g}] °C")
        self._setting(f"TEMP, S{temperature_c:.1f}")

    def _temp_fields(self) -> list[float]:
        reply = self.transport.query("TEMP?")
        parts = reply.split(",")
        if len(parts) != 4:
            raise InstrumentReplyError(f"{self.where}: TEMP? answered {reply!r}, expected 4 fields")
        return [parse_float(p, where=f"{self.where} TEMP?") for p in parts]

    def read_air_c(self) -> float:
        """Measured chamber air temperature, °C."""
        return self._temp_fields()[0]

    def read_setpoint_c(self) -> float:
        """Setpoint the controller holds, °C."""
        return self._temp_fields()[1]

    def start(self) -> None:
        """Constant mode: control the air to the setpoint."""
        self._setting("MODE, CONSTANT")

    def stop(self) -> None:
        """Standby: stop controlling."""
        self._setting("MODE, STANDBY")

    def alarm(self) -> str:
        """Active alarm codes as text (``""`` when none)."""
        reply = self.transport.query("ALARM?")
        parts = reply.split(",")
        try:
            count = int(parts[0])
        except ValueError:
            raise InstrumentReplyError(f"{self.where}: ALARM? answered {reply!r}") from None
        return "" if count == 0 else "alarm " + ",".join(parts[1:])
