"""Simulated Hioki BT4560 Battery Impedance Meter: impedance of the world's cell at one frequency.

Command subset after the Hioki "BT4560 Communication Command Instruction Manual" (BT4560A987; the
table with sections is :data:`sim_instruments.impedance.hioki_bt4560_manual.MANUAL_COMMANDS`):
``*IDN?``, ``*RST``, ``*CLS``, ``*ESR?`` (standard event status register: CME bit 5 for an
unknown header, EXE bit 4 for bad data; there is no SCPI error queue), ``*TRG``, ``:SYSTem:
HEADer``, ``:FUNCtion``, ``:FREQuency`` (0.1-1050 Hz), ``:RESistance:RANGe`` (3/10/100 mΩ),
``:AUTorange``, ``:SAMPle:RATE Z|V,FAST|MED|SLOW``, ``:SAMPle:DELay:MODE``, ``:SAMPle:DELay:
WAVE``, ``:TRIGger:SOURce IMM|EXT``, ``:INITiate:CONTinuous``, ``:INITiate``, ``:FETCh?``
(``R,X,V`` in NR3 for ``:FUNC RV``). Messages end with CR LF (RS-232C / USB virtual COM port).

Physics: Z comes from the shared cell state, ``world.channels[channel].cell.impedance_ohm``,
synced to the present instant, plus measurement noise and the range's display resolution.
Timing: measurements run back to back (free-run) or one per ``*TRG``; one takes
``(settling waves + integration periods) / f``; any setting change restarts the cycle, and
``:FETCh?`` returns the latest *completed* reading, so a host that fetches too early gets the
stale value from before its change, as on the real meter. Simulator choices (not manual facts):
the frequency is set to 3 significant figures; integration periods FAST 1, MED 2, SLOW 4;
noise 0.05 % of |Z| (x2 FAST, x0.5 SLOW) plus 2 display digits.
"""

from __future__ import annotations

import math

import numpy as np

from sim_instruments.impedance.hioki_bt4560_manual import MANUAL_COMMANDS
from sim_instruments.wire.scpi_frontend import ScpiError, ScpiFrontEnd, parse_bool, parse_number
from sim_instruments.world.sim_world import SimWorld

__all__ = ["MANUAL_COMMANDS", "HiokiBT4560Sim"]

FREQUENCY_MIN_HZ, FREQUENCY_MAX_HZ = 0.1, 1050.0
#: range (Ω) -> display resolution (Ω); the display reaches 1.2 x the range name.
RANGES = {3e-3: 1e-7, 10e-3: 1e-6, 100e-3: 1e-5}
FULL_SCALE_FACTOR = 1.2
OVERRANGE = "+9.9999E+37"
PERIODS = {"FAST": 1.0, "MED": 2.0, "SLOW": 4.0}
NOISE_FACTOR = {"FAST": 2.0, "MED": 1.0, "SLOW": 0.5}
RELATIVE_NOISE = 5e-4


class HiokiBT4560Sim(ScpiFrontEnd):
    """The BT4560's remote behaviour on channel ``channel`` of ``world``."""

    def __init__(self, world: SimWorld, channel: int = 0, serial: str = "230412345", seed: int | None = 0) -> None:
        super().__init__(f"HIOKI,BT4560,{serial},V1.10")
        # The BT4560 reports errors through *ESR? only: drop the base class's :SYST:ERR? queries.
        self._commands = [c for c in self._commands if not c.pattern.startswith(":SYSTem:ERRor")]
        self.world = world
        self.channel = channel
        self.rng = np.random.default_rng(seed)
        self.esr = 0
        self._declare()
        self.reset()

    # -- state ---------------------------------------------------------------------------------
    def reset(self) -> None:
        """``*RST``: 1 kHz, auto-range, RV, MED, free-run, headers off."""
        self.header = False
        self.function = "RV"
        self.frequency_hz = 1000.0
        self.range_ohm = 100e-3
        self.auto_range = True
        self.speed = "MED"
        self.delay_mode = "WAVE"
        self.delay_waves = 1.0
        self.trigger_source = "IMM"
        self.continuous = True
        self.cycle_start_s = self.world.clock.now_s()
        self.trigger_s: float | None = None
        self.last_reading: str | None = None
        #: (time_s, frequency_hz) of every completed measurement fetched (for tests and logs).
        self.fetch_log: list[tuple[float, float]] = []

    def push_error(self, code: int, detail: str = "") -> None:
        """Errors set ESR bits: -1xx command (CME), -2xx execution (EXE), -3xx device, -4xx query."""
        bit = {1: 32, 2: 16, 3: 8, 4: 4}.get(abs(code) // 100, 32)
        self.esr |= bit

    def before_command(self) -> None:
        """Bring the physics up to now before any reply."""
        self.world.sync()

    def _changed(self) -> None:
        self.cycle_start_s = self.world.clock.now_s()
        self.trigger_s = None

    def period_s(self) -> float:
        """Time one measurement takes at the present settings, s."""
        waves = (self.delay_waves if self.delay_mode == "WAVE" else 0.0) + PERIODS[self.speed]
        return waves / self.frequency_hz + 0.004

    # -- commands ----------------------------------------------------------------------------
    def _declare(self) -> None:
        add = self.add
        add("*ESR?", self._read_esr)
        add("*TRG", self._trigger)
        add(":SYSTem:HEADer", lambda a: setattr(self, "header", parse_bool(a)))
        add(":SYSTem:HEADer?", lambda _a: self._reply(":SYST:HEAD", "ON" if self.header else "OFF"))
        add(":FUNCtion", self._set_function)
        add(":FUNCtion?", lambda _a: self._reply(":FUNC", self.function))
        add(":FREQuency", self._set_frequency)
        add(":FREQuency?", lambda _a: self._reply(":FREQ", f"{self.frequency_hz:.3E}"))
        add(":RESistance:RANGe", self._set_range)
        add(":RESistance:RANGe?", lambda _a: self._reply(":RES:RANG", f"{self.range_ohm:.1E}"))
        add(":AUTorange", self._set_auto)
        add(":AUTorange?", lambda _a: self._reply(":AUT", "ON" if self.auto_range else "OFF"))
        add(":SAMPle:RATE", self._set_rate)
        add(":SAMPle:RATE?", self._query_rate)
        add(":SAMPle:DELay:MODE", self._set_delay_mode)
        add(":SAMPle:DELay:MODE?", lambda _a: self._reply(":SAMP:DEL:MODE", self.delay_mode))
        add(":SAMPle:DELay:WAVE", self._set_delay_waves)
        add(":SAMPle:DELay:WAVE?", lambda _a: self._reply(":SAMP:DEL:WAVE", f"{self.delay_waves:.1f}"))
        add(":TRIGger:SOURce", self._set_trigger_source)
        add(":TRIGger:SOURce?", lambda _a: self._reply(":TRIG:SOUR", self.trigger_source))
        add(":INITiate:CONTinuous", self._set_continuous)
        add(":INITiate:CONTinuous?", lambda _a: self._reply(":INIT:CONT", "ON" if self.continuous else "OFF"))
        add(":INITiate[:IMMediate]", lambda _a: self._trigger(""))
        add(":FETCh?", self._fetch)

    def _reply(self, header: str, value: str) -> str:
        return f"{header} {value}" if self.header else value

    def _read_esr(self, _args: str) -> str:
        value, self.esr = self.esr, 0
        return str(value)

    def _cls(self, _args: str) -> None:
        self.esr = 0
        super()._cls(_args)

    def _set_function(self, args: str) -> None:
        word = args.strip().upper()
        if word not in ("RV", "ZV", "R", "Z", "V"):
            raise ScpiError(-224, args)
        self.function = word
        self._changed()

    def _set_frequency(self, args: str) -> None:
        value = parse_number(args, low=FREQUENCY_MIN_HZ, high=FREQUENCY_MAX_HZ)
        self.frequency_hz = float(f"{value:.3g}")
        self._changed()

    def _set_range(self, args: str) -> None:
        value = parse_number(args, low=0.0, high=1.0)
        match = next((r for r in RANGES if math.isclose(r, value, rel_tol=1e-6)), None)
        if match is None:
            raise ScpiError(-222, args)
        self.range_ohm = match
        self.auto_range = False
        self._changed()

    def _set_auto(self, args: str) -> None:
        self.auto_range = parse_bool(args)
        self._changed()

    def _set_rate(self, args: str) -> None:
        parts = [p.strip().upper() for p in args.split(",")]
        if len(parts) != 2:
            raise ScpiError(-109, args)
        quantity, speed = parts
        if quantity not in ("Z", "V") or speed not in PERIODS:
            raise ScpiError(-224, args)
        if quantity == "Z":
            self.speed = speed
        self._changed()

    def _query_rate(self, args: str) -> str:
        if args.strip().upper() not in ("Z", "V"):
            raise ScpiError(-224, args)
        return self._reply(":SAMP:RATE", self.speed)

    def _set_delay_mode(self, args: str) -> None:
        word = args.strip().upper()
        if word not in ("WAVE", "TIME"):
            raise ScpiError(-224, args)
        self.delay_mode = word
        self._changed()

    def _set_delay_waves(self, args: str) -> None:
        self.delay_waves = parse_number(args, low=0.0, high=100.0)
        self._changed()

    def _set_trigger_source(self, args: str) -> None:
        word = args.strip().upper()[:3]
        if word not in ("IMM", "EXT"):
            raise ScpiError(-224, args)
        self.trigger_source = word
        self._changed()

    def _set_continuous(self, args: str) -> None:
        self.continuous = parse_bool(args)
        self._changed()

    def _trigger(self, _args: str) -> None:
        self.trigger_s = self.world.clock.now_s()

    # -- measuring ---------------------------------------------------------------------------
    def _fresh(self, now_s: float) -> bool:
        period = self.period_s()
        if self.trigger_source == "IMM" and self.continuous:
            return now_s - self.cycle_start_s >= period - 1e-9
        return self.trigger_s is not None and now_s - self.trigger_s >= period - 1e-9

    def _fetch(self, _args: str) -> str | None:
        now = self.world.clock.now_s()
        if self._fresh(now):
            self.last_reading = self._measure()
            self.fetch_log.append((now, self.frequency_hz))
        if self.last_reading is None:
            raise ScpiError(-230, "no measurement completed yet")
        return self._reply(":FETC", self.last_reading)

    def _measure(self) -> str:
        """One reading ``R,X,V`` of the cell now (overrange code where |Z| exceeds the range)."""
        cell = self.world.channels[self.channel].cell
        z = complex(cell.impedance_ohm(np.array([self.frequency_hz]))[0])
        voltage, _current = self.world.measure(self.channel)
        sigma = RELATIVE_NOISE * NOISE_FACTOR[self.speed] * abs(z)
        size = max(abs(z.real), abs(z.imag))
        if self.auto_range:
            fitting = [r for r in sorted(RANGES) if size <= r * FULL_SCALE_FACTOR]
            range_ohm = fitting[0] if fitting else max(RANGES)
            self.range_ohm = range_ohm
        range_ohm = self.range_ohm
        volts = f"{voltage:+.5E}"
        if size > range_ohm * FULL_SCALE_FACTOR:
            return f"{OVERRANGE},{OVERRANGE},{volts}"
        digit = RANGES[range_ohm]
        sigma += 2.0 * digit
        r_ohm = round((z.real + self.rng.normal(0.0, sigma)) / digit) * digit
        x_ohm = round((z.imag + self.rng.normal(0.0, sigma)) / digit) * digit
        return f"{r_ohm:+.5E},{x_ohm:+.5E},{volts}"
