"""Role interfaces: what the bench needs of a cycler, a chamber, a temperature meter, an EIS meter.

Small typed Protocols; any driver that has these methods can fill the role. Units are in the
names. Current is positive when charging the cell (Battery Data Format convention).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class ProtectionLimits:
    """Limits the instrument itself enforces, set before any output is enabled.

    ``voltage_max_v`` / ``voltage_min_v`` bound the cell voltage, ``current_max_a`` the current
    magnitude; ``watchdog_s`` (if the instrument has one) turns the output off when the host stops
    talking for that long.
    """

    voltage_max_v: float
    voltage_min_v: float
    current_max_a: float
    watchdog_s: float | None = None


@runtime_checkable
class Cycler(Protocol):
    """A source/measure channel that charges and discharges one cell."""

    name: str
    #: (min, max) current the instrument can force, A.
    current_range_a: tuple[float, float]
    #: (min, max) voltage the instrument can force or measure, V.
    voltage_range_v: tuple[float, float]

    def verify_identity(self) -> str: ...

    def configure_protection(self, limits: ProtectionLimits) -> None: ...

    def set_current(self, current_a: float, voltage_limit_v: float) -> None:
        """Force ``current_a`` (A, + = charge); the terminal voltage may not pass ``voltage_limit_v``."""

    def set_voltage(self, voltage_v: float, current_limit_a: float) -> None:
        """Force ``voltage_v`` (V) with the current magnitude limited to ``current_limit_a`` (A)."""

    def output_on(self) -> None: ...

    def output_off(self) -> None: ...

    def measure(self) -> tuple[float, float]:
        """One measurement: (voltage_v, current_a)."""

    def protection_tripped(self) -> str:
        """Name of an instrument-side protection that tripped the output ("" when none)."""


@runtime_checkable
class ThermalChamber(Protocol):
    """A temperature chamber holding the cell's ambient air.

    Setpoint ramps ("Soak at -20 °C ramping at 1 K/min") are made by the bench on any chamber
    (bench/engine/chamber_ramp.py: the setpoint moved in 0.1 K steps), so drivers need no ramp command.
    """

    name: str
    #: (min, max) setpoint the chamber accepts, °C.
    setpoint_range_c: tuple[float, float]

    def verify_identity(self) -> str: ...

    def set_setpoint_c(self, temperature_c: float) -> None: ...

    def read_air_c(self) -> float:
        """Measured chamber air temperature, °C."""

    def start(self) -> None:
        """Run: control the air to the setpoint."""

    def stop(self) -> None:
        """Stop controlling (standby)."""

    def alarm(self) -> str:
        """Active alarm description ("" when none)."""


@runtime_checkable
class TemperatureMeter(Protocol):
    """Thermocouple or RTD readings."""

    name: str

    def verify_identity(self) -> str: ...

    def configure(self, channels: tuple[int, ...]) -> None: ...

    def read_c(self) -> list[float]:
        """One reading per configured channel, °C; ``nan`` for an open or failed sensor."""


@runtime_checkable
class ImpedanceAnalyzer(Protocol):
    """Electrochemical impedance spectroscopy on one cell."""

    name: str

    def verify_identity(self) -> str: ...

    def sweep(
        self,
        frequency_start_hz: float,
        frequency_stop_hz: float,
        points_per_decade: int,
        amplitude: float,
        galvanostatic: bool = True,
    ) -> tuple[list[float], list[float], list[float]]:
        """Run a sweep; returns (frequencies_hz, z_real_ohm, z_imag_ohm)."""
