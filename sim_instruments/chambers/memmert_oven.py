"""Simulated Memmert oven (UF plus class, ControlCOCKPIT) behind its AtmoWEB REST interface.

After Memmert document D33477 "AtmoWEB REST interface" (07/2020):

* "General Information": the device answers HTTP ``GET http://HOST[:PORT]/atmoweb?<query>``;
  ``Param=`` (empty value) reads a parameter, ``Param=value`` sets it, several parameters are
  joined with ``&``. The reply body holds one ``"Param": value,`` fragment per parameter, in the
  order asked (numbers bare, texts in double quotes), so ``{`` + body without its last comma +
  ``}`` is a JSON object.
* "Parameter Description": a ``_Range`` suffix reads the allowed range of a set value, answered
  here as ``{"min": m, "max": M}``.
* "Special Answers": ``"N/A"`` for a parameter the device does not have.
* "Temperature": ``Temp1Read``..``Temp4Read`` (chamber sensor 1 and the optional Pt100s),
  ``TempSet`` and ``TempSet_Range``, the monitoring alarm limits ``AlTempLo`` / ``AlTempHi``
  with their ``_Range``.
* "Flap", "Fan", "Door": ``FlapSet``, ``FanSet`` / ``FanRead`` / ``FanSet_Range``, ``DoorOpen``.
* "Program Mode": ``CurOp`` (``"Manual"``, ``"Program"``, ``"Timer"``, ``"Idle"``).
* "Misc": ``DevType``, ``SN``, ``SWRev``, ``Time`` (ISO 8601), ``RC`` (remote-control
  permission set on the device: letters ``r`` read, ``w`` write, ``a`` alarm).

What the document leaves open and this simulator decides: a set value outside its range, or any
set while ``RC`` lacks ``w``, is not applied and the reply carries the value the oven holds (a
client sees the refusal by comparing); an unknown parameter answers ``"N/A"``. The air follows
the world's chamber model, which for an oven is heater-only (:func:`oven_model`).
"""

from __future__ import annotations

import datetime as _dt
import json
from urllib.parse import unquote_plus

from sim_instruments.wire.manual_commands import ManualCommand
from sim_instruments.world.chamber_air import ChamberModel
from sim_instruments.world.sim_world import SimWorld

DOC = "Memmert D33477 AtmoWEB REST interface"
#: Set-point range of a UF plus oven, °C (Memmert UF plus datasheet: "+20 to +300 °C").
TEMPSET_RANGE_C = (20.0, 300.0)
FAN_RANGE_PCT = (0.0, 100.0)
#: The oven's clock at world time zero (the simulated device time advances with the world).
EPOCH = _dt.datetime(2026, 1, 1, tzinfo=_dt.UTC)

MANUAL_COMMANDS: tuple[ManualCommand, ...] = (
    ManualCommand("Temp1Read", f"{DOC}, Temperature", "implemented", "atmoweb?Temp1Read="),
    ManualCommand("Temp2Read..Temp4Read", f"{DOC}, Temperature", "implemented", "atmoweb?Temp2Read=",
                  "answered \"N/A\": the simulated oven has no optional Pt100 sensors"),
    ManualCommand("TempSet", f"{DOC}, Temperature", "implemented", "atmoweb?TempSet=200.0"),
    ManualCommand("TempSet_Range", f"{DOC}, Parameter Description / Temperature", "implemented",
                  "atmoweb?TempSet_Range="),
    ManualCommand("AlTempLo / AlTempHi", f"{DOC}, Temperature", "implemented", "atmoweb?AlTempHi="),
    ManualCommand("AlTempLo_Range / AlTempHi_Range", f"{DOC}, Temperature", "implemented",
                  "atmoweb?AlTempLo_Range="),
    ManualCommand("FanSet / FanRead / FanSet_Range", f"{DOC}, Fan", "implemented", "atmoweb?FanRead="),
    ManualCommand("FlapSet", f"{DOC}, Flap", "implemented", "atmoweb?FlapSet="),
    ManualCommand("DoorOpen", f"{DOC}, Door", "implemented", "atmoweb?DoorOpen="),
    ManualCommand("CurOp", f"{DOC}, Program Mode", "implemented", "atmoweb?CurOp="),
    ManualCommand("DevType / SN / SWRev", f"{DOC}, Misc", "implemented", "atmoweb?DevType=&SN=&SWRev="),
    ManualCommand("Time", f"{DOC}, Misc", "implemented", "atmoweb?Time="),
    ManualCommand("RC", f"{DOC}, Misc", "implemented", "atmoweb?RC="),
    ManualCommand("HumRead / VacRead / CO2Read / O2Read", f"{DOC}, Humidity / Vacuum / CO2 / O2",
                  "unsupported", "atmoweb?HumRead=", "an oven without these options: \"N/A\""),
    ManualCommand("ProgStart / ProgExit / ProgList", f"{DOC}, Program Mode", "unsupported",
                  "atmoweb?ProgList=", "no stored programs: \"N/A\""),
)


def _fmt(value: object) -> str:
    """One JSON value as the device writes it (numbers with one decimal)."""
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, tuple):
        return f'{{"min": {value[0]:.1f}, "max": {value[1]:.1f}}}'
    return json.dumps(value)


class MemmertOvenSim:
    """A Memmert UF plus oven on the world's (heater-only) chamber air; see the module docstring."""

    def __init__(self, world: SimWorld, model: str = "UF110plus", serial: str = "B213.0417",
                 remote_control: str = "rw") -> None:
        self.world = world
        self.model = model
        self.serial = serial
        self.remote_control = remote_control
        self.alarm_lo_c = 0.0
        self.alarm_hi_c = TEMPSET_RANGE_C[1] + 10.0
        self.fan_pct = 100.0
        self.flap_pct = 0.0
        self.door_open = 0

    @property
    def air(self) -> ChamberModel:
        """The oven's air (the world's chamber model)."""
        return self.world.chamber

    def handle_query(self, query: str) -> str:
        """The reply body to ``GET /atmoweb?<query>``: one fragment per parameter, in order."""
        self.world.sync()
        fragments = []
        for item in query.split("&"):
            if not item:
                continue
            name, _sep, value = item.partition("=")
            name = unquote_plus(name)
            value = unquote_plus(value).strip()
            if value:
                self._set(name, value)
            fragments.append(f'"{name}": {_fmt(self._read(name))},')
        return "".join(fragments)

    def _read(self, name: str) -> object:
        air = self.air
        values: dict[str, object] = {
            "Temp1Read": round(air.air_c, 1),
            "TempSet": round(air.setpoint_c, 1),
            "TempSet_Range": TEMPSET_RANGE_C,
            "AlTempLo": self.alarm_lo_c, "AlTempHi": self.alarm_hi_c,
            "AlTempLo_Range": (0.0, TEMPSET_RANGE_C[1] + 10.0),
            "AlTempHi_Range": (0.0, TEMPSET_RANGE_C[1] + 10.0),
            "FanSet": self.fan_pct, "FanRead": self.fan_pct if air.running else 0.0,
            "FanSet_Range": FAN_RANGE_PCT, "FlapSet": self.flap_pct, "DoorOpen": self.door_open,
            "CurOp": "Manual" if air.running else "Idle",
            "DevType": self.model, "SN": self.serial, "SWRev": "2.5.3 (CellBench simulator)",
            "RC": self.remote_control,
            "Time": (EPOCH + _dt.timedelta(seconds=self.world.now_s)).strftime("%Y-%m-%dT%H:%M:%S"),
        }
        return values.get(name, "N/A")

    def _set(self, name: str, text: str) -> None:
        """Apply ``name=text`` when the oven allows it (else it is ignored: see the docstring)."""
        if "w" not in self.remote_control:
            return
        try:
            value = float(text)
        except ValueError:
            return
        if name == "TempSet" and TEMPSET_RANGE_C[0] <= value <= TEMPSET_RANGE_C[1]:
            self.air.setpoint_c = value
        elif name in ("AlTempLo", "AlTempHi") and 0.0 <= value <= TEMPSET_RANGE_C[1] + 10.0:
            setattr(self, "alarm_lo_c" if name == "AlTempLo" else "alarm_hi_c", value)
        elif name == "FanSet" and FAN_RANGE_PCT[0] <= value <= FAN_RANGE_PCT[1]:
            self.fan_pct = value
        elif name == "FlapSet" and 0.0 <= value <= 100.0:
            self.flap_pct = value
