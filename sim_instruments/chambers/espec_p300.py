"""Simulated Espec temperature chamber controller (P-300 / SCP-220 ASCII protocol).

After the Espec "Communication Manual" for the P-300 / SCP-220 controllers (ch. 3, command
list): messages are ASCII terminated by CR LF; a query is a keyword with ``?``, a setting is
``KEYWORD, value``; settings answer ``OK: <echo>``, refusals answer ``NA: <reason>``.
Implemented: ``TYPE?``, ``ROM?``, ``TEMP?``, ``TEMP, S<v>``, ``TEMP, H<v>``, ``TEMP, L<v>``,
``MODE?``, ``MODE, CONSTANT|STANDBY|OFF``, ``MON?``, ``ALARM?``, ``POWER, ON|OFF``.
"""

from __future__ import annotations

from sim_instruments.world.sim_world import SimWorld


class EspecChamberSim:
    """An Espec SH-series chamber with a P-300 style controller, on the world's chamber model."""

    def __init__(self, world: SimWorld, model: str = "SH-242") -> None:
        self.world = world
        self.model = model
        self.mode = "STANDBY"
        self.high_alarm_c = 100.0
        self.low_alarm_c = -45.0
        self.alarms: list[int] = []

    def handle_line(self, line: str) -> str | None:
        """Execute one command line; every command gets exactly one reply line."""
        self.world.sync()
        text = line.strip()
        if not text:
            return "NA: COMMAND ERR"
        keyword, sep, args = text.partition(",")
        keyword = keyword.strip().upper()
        args = args.strip()
        try:
            if keyword.endswith("?") and not sep:
                return self._query(keyword)
            if not sep:
                return "NA: COMMAND ERR"
            return self._setting(keyword, args)
        except ValueError:
            return "NA: PARAMETER ERR"

    def _query(self, keyword: str) -> str:
        chamber = self.world.chamber
        if keyword == "TYPE?":
            return f"T,{self.model},S2,-45.0,100.0"
        if keyword == "ROM?":
            return "P300 ROM VER 1.12 (CellBench simulator)"
        if keyword == "TEMP?":
            return (f"{chamber.air_c:.1f},{chamber.setpoint_c:.1f},"
                    f"{self.high_alarm_c:.1f},{self.low_alarm_c:.1f}")
        if keyword == "MODE?":
            return self.mode
        if keyword == "MON?":
            return f"{chamber.air_c:.1f},,{self.mode},{len(self._alarm_codes())}"
        if keyword == "ALARM?":
            codes = self._alarm_codes()
            return ",".join([str(len(codes))] + [str(c) for c in codes])
        return "NA: COMMAND ERR"

    def _alarm_codes(self) -> list[int]:
        codes = list(self.alarms)
        air = self.world.chamber.air_c
        if air > self.high_alarm_c or air < self.low_alarm_c:
            codes.append(12)  # temperature deviation alarm
        return codes

    def _setting(self, keyword: str, args: str) -> str:
        chamber = self.world.chamber
        if keyword == "TEMP":
            code, value_text = args[:1].upper(), args[1:].strip()
            value = float(value_text)
            if code == "S":
                if not (self.low_alarm_c <= value <= self.high_alarm_c):
                    return "NA: DATA OUT OF RANGE"
                chamber.setpoint_c = value
            elif code == "H":
                self.high_alarm_c = value
            elif code == "L":
                self.low_alarm_c = value
            else:
                return "NA: PARAMETER ERR"
            return f"OK: TEMP, {code}{value:.1f}"
        if keyword == "MODE":
            word = args.upper()
            if word not in ("CONSTANT", "STANDBY", "OFF"):
                return "NA: PARAMETER ERR"
            self.mode = word
            chamber.running = word == "CONSTANT"
            return f"OK: MODE, {word}"
        if keyword == "POWER":
            word = args.upper()
            if word not in ("ON", "OFF"):
                return "NA: PARAMETER ERR"
            if word == "OFF":
                self.mode = "OFF"
                chamber.running = False
            else:
                self.mode = "STANDBY"
            return f"OK: POWER, {word}"
        return "NA: COMMAND ERR"
