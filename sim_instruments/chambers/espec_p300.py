"""Simulated Espec temperature chamber controller (P-300 / SCP-220 ASCII protocol).

After the Espec communication manual for the P-300 / SCP-220 instrumentation (ch. 3, command list;
ch. 2 "Response" for the NA messages): messages are ASCII terminated by CR LF; a query is a keyword
with ``?`` (some take a parameter after a comma, ``MODE?,DETAIL``), a setting is ``KEYWORD,
value``. Settings answer ``OK: <echo>``; refusals answer ``NA:<reason>`` with the manual's reasons:
``NA:CMD ERR`` (not a command), ``NA:PARA ERR`` (missing or unreadable parameter), ``NA:DATA OUT
OF RANGE`` (a set point beyond the high or low alarm), ``NA:CONT NOT READY-1`` (a humidity command
to a chamber without humidity control), ``NA:CONT NOT READY-4`` (key lock while power is OFF). The
command table with sections is :data:`sim_instruments.chambers.espec_p300_manual.MANUAL_COMMANDS`.

The simulated chamber has temperature control only (no humidity system, one heater, no product
temperature control); its heater output (``%?``) follows the world's chamber air: 100 % while
ramping up, otherwise the share of the heater's power that balances the leak to the lab.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sim_instruments.chambers.espec_p300_manual import MANUAL_COMMANDS
from sim_instruments.world.sim_world import SimWorld

__all__ = ["MANUAL_COMMANDS", "EspecChamberSim"]

CMD_ERR = "NA:CMD ERR"
PARA_ERR = "NA:PARA ERR"
OUT_OF_RANGE = "NA:DATA OUT OF RANGE"
NO_HUMIDITY = "NA:CONT NOT READY-1"
KEYLOCK_POWER_OFF = "NA:CONT NOT READY-4"
#: Days of the week as the DATE command writes them.
_DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
#: Heater power of the simulated chamber, W (holds +100 °C against the default 15 W/K leak).
HEATER_W = 1200.0


class EspecChamberSim:
    """An Espec temperature chamber with a P-300 controller, on the world's chamber model."""

    def __init__(self, world: SimWorld, model: str = "SU-242", *, max_c: float = 100.0, min_c: float = -45.0) -> None:
        """``max_c``/``min_c``: the chamber's temperature range, °C (``TYPE?`` reports the maximum)."""
        self.world = world
        self.model = model
        self.max_c = max_c
        self.min_c = min_c
        self.mode = "STANDBY"
        self.high_alarm_c = max_c
        self.low_alarm_c = min_c
        self.alarms: list[int] = []
        self.key_protect = False
        #: Controller calendar = this instant + simulated seconds since construction.
        self._calendar_start = dt.datetime.now().replace(microsecond=0)
        self._calendar_at_s = world.now_s
        self._queries: dict[str, Callable[[str], str]] = {
            "TYPE?": lambda _a: f"T,S2,{self.max_c:.1f}",
            "ROM?": lambda _a: "P300 ROM VER 1.12 (CellBench simulator)",
            "TEMP?": lambda _a: self._temp(),
            "HUMI?": lambda _a: NO_HUMIDITY,
            "MODE?": self._mode_query,
            "MON?": self._mon,
            "ALARM?": lambda _a: self._alarm(),
            "KEYPROTECT?": lambda _a: "ON" if self.key_protect else "OFF",
            "DATE?": lambda _a: self._now().strftime("%y.%m/%d. ") + _DAYS[self._now().weekday()],
            "TIME?": lambda _a: self._now().strftime("%H:%M:%S"),
            "%?": lambda _a: f"1,{self._heater_percent():.1f}",
            "CONSTANT SET?": self._constant_set,
        }
        self._settings: dict[str, Callable[[str], str]] = {
            "TEMP": self._set_temp,
            "HUMI": lambda _a: NO_HUMIDITY,
            "MODE": self._set_mode,
            "POWER": self._set_power,
            "KEYPROTECT": self._set_key_protect,
            "DATE": self._set_date,
            "TIME": self._set_time,
        }

    def handle_line(self, line: str) -> str | None:
        """Execute one command line; every command gets exactly one reply line."""
        self.world.sync()
        text = line.strip()
        keyword, sep, args = text.partition(",")
        keyword = " ".join(keyword.upper().split())
        args = args.strip()
        try:
            if keyword.endswith("?"):
                query = self._queries.get(keyword)
                return CMD_ERR if query is None else query(args)
            setting = self._settings.get(keyword)
            if setting is None:
                return CMD_ERR
            return setting(args) if sep and args else PARA_ERR
        except ValueError:
            return PARA_ERR

    # -- queries -----------------------------------------------------------------------------
    def _temp(self) -> str:
        chamber = self.world.chamber
        return f"{chamber.air_c:.1f},{chamber.setpoint_c:.1f},{self.high_alarm_c:.1f},{self.low_alarm_c:.1f}"

    def _mode_query(self, args: str) -> str:
        """``MODE?`` and ``MODE?,DETAIL`` (the detail adds program states; none run here)."""
        if args and args.upper() != "DETAIL":
            return PARA_ERR
        return self.mode

    def _mon(self, args: str) -> str:
        """``MON?[,DETAIL]``: ``temperature,humidity(empty),mode,alarm count``."""
        if args and args.upper() != "DETAIL":
            return PARA_ERR
        return f"{self.world.chamber.air_c:.1f},,{self.mode},{len(self._alarm_codes())}"

    def _constant_set(self, args: str) -> str:
        """``CONSTANT SET?,TEMP`` -> ``<set point>,ON``; HUMI -> no humidity system."""
        word = args.upper()
        if word == "TEMP":
            return f"{self.world.chamber.setpoint_c:.1f},ON"
        if word == "HUMI":
            return NO_HUMIDITY
        return PARA_ERR

    def _alarm(self) -> str:
        """``ALARM?``: ``count[,code...]``."""
        codes = self._alarm_codes()
        return ",".join([str(len(codes)), *map(str, codes)])

    def _alarm_codes(self) -> list[int]:
        codes = list(self.alarms)
        air = self.world.chamber.air_c
        if air > self.high_alarm_c or air < self.low_alarm_c:
            codes.append(12)  # temperature deviation alarm
        return codes

    def _heater_percent(self) -> float:
        """Heater output, % of HEATER_W: full while the air ramps up towards the set point, else
        what balances the leak to the lab (0 when stopped or when the air is below the lab)."""
        chamber = self.world.chamber
        if not chamber.running:
            return 0.0
        if chamber.target_c() - chamber.air_c > 0.5:
            return 100.0
        balance_w = chamber.leak_w_per_k * (chamber.air_c - chamber.lab_c)
        return min(100.0, max(0.0, 100.0 * balance_w / HEATER_W))

    def _now(self) -> dt.datetime:
        return self._calendar_start + dt.timedelta(seconds=self.world.now_s - self._calendar_at_s)

    # -- settings ----------------------------------------------------------------------------
    def _set_temp(self, args: str) -> str:
        """``TEMP, S<sp> [H<high>] [L<low>]`` in any combination; the set point must lie within the
        (new) alarm limits (NA:DATA OUT OF RANGE, manual ch. 2) and the limits within the chamber's
        range, low below high."""
        values: dict[str, float] = {}
        for token in args.upper().split():
            code, number = token[:1], token[1:]
            if code not in ("S", "H", "L") or code in values:
                return PARA_ERR
            values[code] = float(number)
        high = values.get("H", self.high_alarm_c)
        low = values.get("L", self.low_alarm_c)
        setpoint = values.get("S", self.world.chamber.setpoint_c)
        if not (self.min_c <= low < high <= self.max_c):
            return OUT_OF_RANGE
        if "S" in values and not (low <= setpoint <= high):
            return OUT_OF_RANGE
        self.high_alarm_c, self.low_alarm_c = high, low
        if "S" in values:
            self.world.chamber.setpoint_c = setpoint
        return "OK: TEMP, " + " ".join(f"{code}{values[code]:.1f}" for code in values)

    def _set_mode(self, args: str) -> str:
        word = args.upper()
        if word not in ("CONSTANT", "STANDBY", "OFF"):
            return PARA_ERR
        self.mode = word
        self.world.chamber.running = word == "CONSTANT"
        return f"OK: MODE, {word}"

    def _set_power(self, args: str) -> str:
        """``POWER, ON`` starts the chamber in constant mode; ``POWER, OFF`` turns control off."""
        word = args.upper()
        if word not in ("ON", "OFF"):
            return PARA_ERR
        self.mode = "CONSTANT" if word == "ON" else "OFF"
        self.world.chamber.running = word == "ON"
        return f"OK: POWER, {word}"

    def _set_key_protect(self, args: str) -> str:
        word = args.upper()
        if word not in ("ON", "OFF"):
            return PARA_ERR
        if word == "ON" and self.mode == "OFF":
            return KEYLOCK_POWER_OFF
        self.key_protect = word == "ON"
        return f"OK: KEYPROTECT, {word}"

    def _set_date(self, args: str) -> str:
        """``DATE, yy.mm/dd. DOW`` (the day of the week is checked against the date)."""
        date_text, _, day = args.partition(". ")
        when = dt.datetime.strptime(date_text.strip(), "%y.%m/%d")
        if day.strip().upper() not in _DAYS:
            return PARA_ERR
        now = self._now()
        self._shift_calendar(now.replace(year=when.year, month=when.month, day=when.day) - now)
        return f"OK: DATE, {args}"

    def _set_time(self, args: str) -> str:
        """``TIME, hh:mm:ss``."""
        when = dt.datetime.strptime(args.strip(), "%H:%M:%S")
        now = self._now()
        self._shift_calendar(now.replace(hour=when.hour, minute=when.minute, second=when.second) - now)
        return f"OK: TIME, {args}"

    def _shift_calendar(self, delta: dt.timedelta) -> None:
        self._calendar_start += delta
