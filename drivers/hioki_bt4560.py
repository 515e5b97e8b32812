"""Hioki BT4560 / BT4560-50 Battery Impedance Meter as the bench's impedance analyzer.

Command set after the Hioki "BT4560 Battery Impedance Meter Communication Command Instruction
Manual" (BT4560A987), ch. 1 "Message Format" (NR1/NR2/NR3 data, ``;`` joins messages, header
on/off), "Event Registers" (IEEE 488.2 standard event status register read with ``*ESR?``; the
BT4560 has no SCPI error queue: a bad header sets CME, bad data sets EXE) and ch. 2 command
reference: ``:FUNCtion RV|ZV|R|Z|V``, ``:FREQuency`` (measurement frequency), ``:RESistance:
RANGe`` / ``:AUTorange``, ``:SAMPle:RATE Z|V,FAST|MED|SLOW``, ``:SAMPle:DELay:MODE WAVE`` /
``:SAMPle:DELay:WAVE`` (settling waves before a measurement), ``:TRIGger:SOURce IMM|EXT``,
``:INITiate:CONTinuous ON|OFF``, ``:FETCh?`` (latest measured values, ≤ 4 ms: "Command
Execution Time" table), ``:SYSTem:HEADer ON|OFF``. With ``:FUNC RV`` a reading is
``R,X,V`` in NR3 (Ω, Ω, V). Instrument facts from the BT4560 Instruction Manual (BT4560A981)
specifications: measurement frequency 0.1 Hz to 1050 Hz, four-terminal-pair AC method with a
constant AC measurement current per range (3 mΩ: 1.5 A, 10 mΩ: 500 mA, 100 mΩ: 50 mA), RS-232C
or USB virtual COM port, CR LF terminators.

The BT4560 has no built-in frequency sweep: the host steps ``:FREQ`` through the list (how
Hioki's own Cole-Cole plot procedure works, Instruction Manual appendix "Creating Cole-Cole
Plots"). In free-run mode (``:TRIG:SOUR IMM``, ``:INIT:CONT ON``) the meter measures back to
back; after a frequency change the driver waits for a complete fresh measurement (on the clock it
is given: the bench's, virtual on the simulated bench), then ``:FETCh?``. The frequency the
meter actually uses is read back with ``:FREQ?`` and returned.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from drivers.errors import InstrumentCommandError, InstrumentReplyError, SetpointOutOfRange
from drivers.scpi import ScpiInstrument, on_off, parse_bool, parse_floats, scpi_property
from drivers.transport import MessageTransport

logger = logging.getLogger(__name__)

#: Measurement frequency limits, Hz (Instruction Manual, specifications).
FREQUENCY_RANGE_HZ = (0.1, 1050.0)
#: Resistance ranges, Ω, with the AC measurement current each applies, A rms (specifications).
RANGES: tuple[tuple[float, float], ...] = ((3e-3, 1.5), (10e-3, 0.5), (100e-3, 0.05))
#: The largest reading a range displays, as a multiple of the range name (overrange above).
FULL_SCALE_FACTOR = 1.2
#: Replies at or above this magnitude are the meter's overrange / contact-fault codes, not data.
INVALID_READING = 1e8
#: Host-side wait model: measurement periods integrated per sampling speed. A wait covers the
#: settling waves plus these periods, twice (a measurement under way when the frequency
#: changed may finish first), plus the 4 ms fetch time. Conservative: a longer wait costs
#: only time, a shorter one would return a stale value.
WAVES_PER_SPEED = {"FAST": 1.0, "MED": 2.0, "SLOW": 4.0}


def sweep_frequencies(frequency_start_hz: float, frequency_stop_hz: float, points_per_decade: int) -> list[float]:
    """Log-spaced frequencies from start to stop (either order), ``points_per_decade`` per decade, Hz."""
    if frequency_start_hz <= 0 or frequency_stop_hz <= 0:
        raise SetpointOutOfRange(f"sweep frequencies must be > 0 Hz, got {frequency_start_hz:g}-{frequency_stop_hz:g}")
    if points_per_decade < 1:
        raise SetpointOutOfRange(f"points per decade must be >= 1, got {points_per_decade}")
    a, b = math.log10(frequency_start_hz), math.log10(frequency_stop_hz)
    count = max(2, int(round(abs(b - a) * points_per_decade)) + 1) if a != b else 1
    if count == 1:
        return [frequency_start_hz]
    return [10 ** (a + (b - a) * i / (count - 1)) for i in range(count)]


class HiokiBT4560(ScpiInstrument):
    """Hioki BT4560 Battery Impedance Meter (0.1 Hz-1050 Hz, 3/10/100 mΩ ranges, galvanostatic)."""

    idn_models = ("BT4560",)
    frequency_range_hz = FREQUENCY_RANGE_HZ

    function = scpi_property(":FUNC", values=("RV", "ZV", "R", "Z", "V"), doc="Measured quantities")
    frequency_hz = scpi_property(":FREQ", limits=FREQUENCY_RANGE_HZ, unit="Hz", doc="Measurement frequency")
    auto_range = scpi_property(":AUT", parse=parse_bool, format=on_off, doc="Automatic resistance range")
    sample_delay_waves = scpi_property(":SAMP:DEL:WAVE", limits=(0.0, 100.0), unit="waves",
                                       doc="Settling waves before each measurement")

    def __init__(self, transport: MessageTransport, *, name: str = "impedance") -> None:
        super().__init__(transport, name=name)
        #: How the driver waits for a measurement, seconds -> None. The bench sets its clock's
        #: ``sleep`` (virtual on the simulated bench); real time by default.
        self.sleep: Callable[[float], None] = time.sleep
        self.speed = "MED"
        self.delay_waves = 1.0
        self.range_ohm: float | None = None

    # -- IEEE 488.2 status instead of an error queue -----------------------------------------
    def check_errors(self, context: str = "") -> None:
        """``*ESR?`` (reading clears it); CME/EXE/DDE/QYE bits raise InstrumentCommandError."""
        reply = self.query("*ESR?")
        try:
            esr = int(reply.strip())
        except ValueError:
            raise InstrumentReplyError(f"{self.where}: *ESR? answered {reply!r}") from None
        names = [n for bit, n in ((32, "command error (CME)"), (16, "execution error (EXE)"),
                                  (8, "device error (DDE)"), (4, "query error (QYE)")) if esr & bit]
        if names:
            after = f" after {context}" if context else ""
            raise InstrumentCommandError(f"{self.where}: instrument error{after}: {', '.join(names)} (*ESR? {esr})")

    # -- setup ---------------------------------------------------------------------------------
    def configure(self, *, speed: str = "MED", delay_waves: float = 1.0) -> None:
        """Impedance + voltage readings without headers, free-running, ``speed`` FAST|MED|SLOW."""
        speed = speed.upper()
        if speed not in WAVES_PER_SPEED:
            raise SetpointOutOfRange(f"{self.where}: sampling speed {speed!r} is not one of FAST, MED, SLOW")
        self.write("*CLS")
        self.write(":SYST:HEAD OFF")
        self.write(":FUNC RV")
        self.write(f":SAMP:RATE Z,{speed}")
        self.write(":SAMP:DEL:MODE WAVE")
        self.write(f":SAMP:DEL:WAVE {delay_waves:g}")
        self.write(":TRIG:SOUR IMM")
        self.write(":INIT:CONT ON")
        self.check_errors("configure")
        self.speed, self.delay_waves = speed, delay_waves

    def set_range(self, range_ohm: float | None) -> None:
        """Fix the resistance range (3e-3, 10e-3 or 100e-3 Ω), or ``None`` for auto-range."""
        if range_ohm is None:
            self.write(":AUT ON")
        else:
            if not any(math.isclose(range_ohm, r) for r, _ in RANGES):
                raise SetpointOutOfRange(f"{self.where}: range {range_ohm:g} Ω is not one of "
                                         f"{', '.join(f'{r:g}' for r, _ in RANGES)} Ω")
            self.write(":AUT OFF")
            self.write(f":RES:RANG {range_ohm:.0E}")
        self.check_errors("set_range")
        self.range_ohm = range_ohm

    def measurement_time_s(self, frequency_hz: float) -> float:
        """How long the driver waits after a frequency change before fetching, s."""
        waves = self.delay_waves + WAVES_PER_SPEED.get(self.speed, 4.0)
        return 2.0 * waves / frequency_hz + 0.05

    def sweep_time_s(self, frequency_start_hz: float, frequency_stop_hz: float, points_per_decade: int) -> float:
        """Bench time a :meth:`sweep` with these settings waits for measurements, s (the engine's
        watchdog and stale-data allowance for a sweep without cycler samples)."""
        return sum(self.measurement_time_s(f) for f in
                   sweep_frequencies(frequency_start_hz, frequency_stop_hz, points_per_decade))

    # -- measuring ---------------------------------------------------------------------------
    def fetch(self) -> tuple[float, float, float]:
        """Latest reading ``(r_ohm, x_ohm, voltage_v)``; overrange values come back as ``nan``."""
        values = parse_floats(self.query(":FETC?"), 3, where=f"{self.where} :FETC?")
        return tuple(math.nan if abs(v) >= INVALID_READING else v for v in values)  # type: ignore[return-value]  # count=3: 3 values, typed tuple[float, ...]

    def measure_at(self, frequency_hz: float) -> tuple[float, float, float]:
        """Set ``frequency_hz``, wait for a fresh measurement; ``(actual_frequency_hz, r_ohm, x_ohm)``."""
        self.frequency_hz = round(frequency_hz, 6)
        actual = self.frequency_hz
        self.sleep(self.measurement_time_s(actual))
        r_ohm, x_ohm, _voltage = self.fetch()
        return actual, r_ohm, x_ohm

    def range_for(self, amplitude: float, galvanostatic: bool) -> float | None:
        """The range a requested excitation allows (``None`` = auto-range).

        Galvanostatic: ``amplitude`` is the largest AC current the cell may see, A rms; auto-range
        when it covers every range's current, else the most sensitive range within it.
        Potentiostatic: ``amplitude`` bounds the cell's voltage response, V rms; every range keeps
        it below its full scale times its current (about 5 mV), so auto-range when that fits.
        """
        if amplitude <= 0:
            raise SetpointOutOfRange(f"{self.where}: EIS amplitude must be > 0, got {amplitude:g}")
        if galvanostatic:
            allowed = [(r, i) for r, i in RANGES if i <= amplitude + 1e-12]
            if not allowed:
                raise SetpointOutOfRange(
                    f"{self.where}: the BT4560 applies {min(i for _, i in RANGES) * 1000:g} mA at least; "
                    f"requested {amplitude * 1000:g} mA")
            if len(allowed) == len(RANGES):
                return None
            return max(allowed, key=lambda ri: ri[1])[0]
        worst_v = max(r * FULL_SCALE_FACTOR * i for r, i in RANGES)
        if amplitude + 1e-12 < worst_v:
            raise SetpointOutOfRange(
                f"{self.where}: the BT4560's response reaches {worst_v * 1000:.1f} mV at full scale; "
                f"requested {amplitude * 1000:g} mV (use >= {worst_v * 1000:.1f} mV or a current amplitude)")
        return None

    def sweep(
        self,
        frequency_start_hz: float,
        frequency_stop_hz: float,
        points_per_decade: int,
        amplitude: float,
        galvanostatic: bool = True,
    ) -> tuple[list[float], list[float], list[float]]:
        """Step the measurement frequency from start to stop; ``(frequencies_hz, z_real_ohm, z_imag_ohm)``.

        Frequencies outside 0.1-1050 Hz are refused before anything is sent. Overrange points
        are ``nan`` (the cell's impedance exceeded the range at that frequency).
        """
        low, high = self.frequency_range_hz
        f_min, f_max = sorted((frequency_start_hz, frequency_stop_hz))
        if f_min < low - 1e-9 or f_max > high + 1e-9:
            raise SetpointOutOfRange(f"{self.where}: sweep {frequency_start_hz:g}-{frequency_stop_hz:g} Hz is "
                                     f"outside the BT4560's {low:g}-{high:g} Hz")
        frequencies = sweep_frequencies(frequency_start_hz, frequency_stop_hz, points_per_decade)
        self.set_range(self.range_for(amplitude, galvanostatic))
        out_f: list[float] = []
        out_re: list[float] = []
        out_im: list[float] = []
        for frequency in frequencies:
            actual, r_ohm, x_ohm = self.measure_at(frequency)
            out_f.append(actual)
            out_re.append(r_ohm)
            out_im.append(x_ohm)
        invalid = sum(1 for r in out_re if math.isnan(r))
        if invalid:
            logger.warning("%s: %d of %d points over range", self.where, invalid, len(out_re))
        return out_f, out_re, out_im
