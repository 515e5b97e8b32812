"""Keysight DAQ970A / 34970A data acquisition with thermocouples, SCPI.

Commands after the Keysight DAQ970A Programming Guide, "Command reference":
``CONFigure:TEMPerature TC,<type>,(@<ch_list>)``, ``UNIT:TEMPerature C``, ``ROUTe:SCAN``,
``READ?`` (one reading per scanned channel, comma separated), ``SYSTem:ERRor?``. An open
thermocouple reads +9.9E+37 (overload), reported here as ``nan``.
"""

from __future__ import annotations

import math

from drivers.scpi import ScpiInstrument, parse_floats
from drivers.transport import MessageTransport

OVERLOAD = 9.0e37


class KeysightDaq970a(ScpiInstrument):
    """DAQ970A (or 34970A/34972A) with a multiplexer card, type-K thermocouples."""

    idn_models = ("DAQ970A", "34970A", "34972A")

    def __init__(self, transport: MessageTransport, *, name: str = "thermometer", thermocouple_type: str = "K") -> None:
        super().__init__(transport, name=name)
        self.thermocouple_type = thermocouple_type
        self.channels: tuple[int, ...] = ()

    def configure(self, channels: tuple[int, ...]) -> None:
        """Scan ``channels`` (e.g. ``(101, 102)``) as thermocouples in °C."""
        channel_list = ",".join(str(c) for c in channels)
        self.write(f"CONF:TEMP TC,{self.thermocouple_type},(@{channel_list})")
        self.write("UNIT:TEMP C")
        self.check_errors("configure")
        self.channels = tuple(channels)

    def read_c(self) -> list[float]:
        """One scan: a temperature per configured channel, °C (``nan`` for an open thermocouple)."""
        return self.query_parsed("READ?", self._parse_scan)

    def _read_where(self) -> str:
        return f"{self.where} READ?"

    def _parse_scan(self, reply: str) -> list[float]:
        """The temperatures in a ``READ?`` reply, °C, an overload (open thermocouple) as ``nan``."""
        # Fast path (every sample): one number per channel, each strictly within ±OVERLOAD (so no
        # NaN, inf or overload). Anything else goes through parse_floats' checks and errors.
        # The checks run in C (no Python loop per channel): min / max bound every value (an inf
        # fails them) and a NaN makes the sum NaN (within the bounds the sum of a few values
        # stays finite).
        parts = reply.split(",")
        if len(parts) == len(self.channels):
            try:
                values = list(map(float, parts))
            except ValueError:
                pass
            else:
                if -OVERLOAD < min(values) and max(values) < OVERLOAD and (total := sum(values)) == total:
                    return values
        values = parse_floats(reply, len(self.channels), where=self._read_where)
        return [math.nan if abs(v) >= OVERLOAD else v for v in values]
