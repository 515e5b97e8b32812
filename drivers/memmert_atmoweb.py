"""Memmert ovens (UF / UN plus class, ControlCOCKPIT) through the AtmoWEB REST interface.

Facts from Memmert's interface manual D33477 "AtmoWEB REST interface" (07/2020), by section:

* "General Information": ``GET http://HOST[:PORT]/atmoweb?Param=`` reads a parameter,
  ``Param=value`` sets it, parameters are joined with ``&``; the reply is one ``"Param": value,``
  fragment per parameter (a JSON object's members with a trailing comma).
* "Special Answers": ``"N/A"`` for what the device lacks.
* "Temperature": ``Temp1Read`` (chamber air, sensor 1), ``TempSet`` and ``TempSet_Range``,
  monitoring limits ``AlTempLo`` / ``AlTempHi``.
* "Program Mode": ``CurOp`` (``Manual``, ``Program``, ``Timer``, ``Idle``).
* "Misc": ``DevType``, ``SN``, ``SWRev``, ``RC`` (remote-control permission set on the device's
  menu: ``r`` read, ``w`` write, ``a`` alarm; writes need ``w``).

An oven heats only: :meth:`stop` sets the set point to the bottom of ``TempSet_Range`` (20 °C on a
UF plus), below any lab temperature, so the heater stays off; the oven then cools passively.
A set value the oven does not apply (out of range, write not permitted) comes back as the value
it holds: the driver compares and raises.
"""

from __future__ import annotations

import json
import math
from typing import Any

from drivers.errors import InstrumentCommandError, InstrumentReplyError, SetpointOutOfRange
from drivers.http_transport import GetTransport


class MemmertAtmoWeb:
    """A Memmert oven (``ThermalChamber`` role) over AtmoWEB; ``transport`` does the HTTP GETs."""

    #: Set-point range before :meth:`verify_identity` reads ``TempSet_Range``, °C (UF plus: 20-300).
    setpoint_range_c: tuple[float, float] = (20.0, 300.0)

    def __init__(self, transport: GetTransport, *, name: str = "chamber") -> None:
        self.transport = transport
        self.name = name

    @property
    def where(self) -> str:
        """``name (resource)`` for messages."""
        return f"{self.name} (Memmert AtmoWEB {self.transport.resource})"

    def query(self, **params: Any) -> dict[str, Any]:
        """One GET with ``params`` (``None``: read; a value: set); the parsed reply, ``"N/A"``
        kept as is. InstrumentReplyError naming the oven for a reply that is not the fragments."""
        parts = [f"{key}=" if value is None else f"{key}={value}" for key, value in params.items()]
        path = "atmoweb?" + "&".join(parts)
        body = self.transport.get(path)
        text = body.strip().rstrip(",")
        try:
            reply = json.loads("{" + text + "}")
        except ValueError:
            raise InstrumentReplyError(f"{self.where}: GET /{path} answered {body[:80]!r}, "
                                       "not AtmoWEB '\"Param\": value,' fragments") from None
        missing = [key for key in params if key not in reply]
        if missing:
            raise InstrumentReplyError(f"{self.where}: GET /{path} answered without {', '.join(missing)}")
        return dict(reply)

    def _number(self, reply: dict[str, Any], key: str) -> float:
        value = reply[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InstrumentReplyError(f"{self.where}: {key} answered {value!r}, expected a number")
        return float(value)

    def verify_identity(self) -> str:
        """``DevType``, ``SN``, ``SWRev``, ``RC`` and ``TempSet_Range``: checks the device is an
        oven the bench may write to and takes its set-point range from it."""
        reply = self.query(DevType=None, SN=None, SWRev=None, RC=None, TempSet_Range=None)
        if reply["DevType"] == "N/A" or not isinstance(reply["DevType"], str):
            raise InstrumentReplyError(f"{self.where}: DevType answered {reply['DevType']!r}, not a Memmert device")
        rc = str(reply["RC"])
        if "w" not in rc:
            raise InstrumentCommandError(
                f"{self.where}: remote control permits {rc!r} only; set the oven's remote control to "
                "write + read (ControlCOCKPIT setup menu) so the bench can set its temperature")
        span = reply["TempSet_Range"]
        try:
            low, high = float(span["min"]), float(span["max"])
        except (TypeError, KeyError, ValueError):
            raise InstrumentReplyError(f"{self.where}: TempSet_Range answered {span!r}") from None
        self.setpoint_range_c = (low, high)
        return f"Memmert,{reply['DevType']},{reply['SN']},{reply['SWRev']}"

    def set_setpoint_c(self, temperature_c: float) -> None:
        """Temperature set point (``TempSet``), °C, 0.1 K resolution; refused outside the range."""
        low, high = self.setpoint_range_c
        if not (low <= temperature_c <= high):
            raise SetpointOutOfRange(f"{self.where}: setpoint {temperature_c:g} °C is outside [{low:g}, {high:g}] °C")
        wanted = round(temperature_c, 1)
        held = self._number(self.query(TempSet=f"{wanted:.1f}"), "TempSet")
        if abs(held - wanted) > 0.05:
            raise InstrumentCommandError(f"{self.where}: TempSet={wanted:.1f} not applied (the oven holds {held:g} °C)")

    def read_setpoint_c(self) -> float:
        """Set point the oven holds, °C."""
        return self._number(self.query(TempSet=None), "TempSet")

    def read_air_c(self) -> float:
        """Chamber air temperature (``Temp1Read``), °C."""
        return self._number(self.query(Temp1Read=None), "Temp1Read")

    def start(self) -> None:
        """Check the oven is in manual operation (it then controls to ``TempSet``)."""
        mode = self.query(CurOp=None)["CurOp"]
        if mode not in ("Manual", "Idle"):
            raise InstrumentCommandError(f"{self.where}: the oven is in {mode!r} operation; end it so that "
                                         "the bench's set point applies")

    def stop(self) -> None:
        """Heater off: the set point to the bottom of the range (the oven cools passively)."""
        self.set_setpoint_c(self.setpoint_range_c[0])

    def alarm(self) -> str:
        """Air outside ``AlTempLo``..``AlTempHi`` or door open, as text (``""`` when none)."""
        reply = self.query(Temp1Read=None, AlTempLo=None, AlTempHi=None, DoorOpen=None)
        air = self._number(reply, "Temp1Read")
        found = []
        if reply["AlTempHi"] != "N/A" and air > self._number(reply, "AlTempHi"):
            found.append(f"air {air:g} °C above AlTempHi {reply['AlTempHi']}")
        if reply["AlTempLo"] != "N/A" and air < self._number(reply, "AlTempLo"):
            found.append(f"air {air:g} °C below AlTempLo {reply['AlTempLo']}")
        if reply["DoorOpen"] not in ("N/A", 0):
            found.append("door open")
        return "; ".join(found)
