"""What the SCPI cyclers (Keithley 24xx, Keysight N6700 channels, EA PSB 10000) share, as data.

A cycler declares its source properties with :class:`drivers.scpi.scpi_property` (command,
limits named per model, unit) and the commands that select each source function
(:attr:`ScpiCycler.function_commands`); :meth:`ScpiCycler.set_current` and
:meth:`ScpiCycler.set_voltage` are built from those declarations, so a model differs from another
only in its data. Protection settings are a list of ``(property, value)`` pairs
(:meth:`ScpiCycler.protection_settings`) that :func:`apply_and_verify` validates, sends, checks
against the error queue and then reads back: a protection the instrument did not take raises
:class:`drivers.errors.ProtectionNotTaken` before any output is on (bench exit code 4).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from drivers.errors import ProtectionNotTaken
from drivers.roles import ProtectionLimits
from drivers.scpi import ScpiTarget, scpi_property

#: One protection setting: the property and the value it must hold.
Setting = tuple[scpi_property[Any], Any]


def apply_and_verify(target: ScpiTarget, settings: Sequence[Setting], context: str) -> None:
    """Validate every setting (nothing is sent if one is out of range), send them in order, read
    the error queue, then read each back and compare; a difference is ProtectionNotTaken."""
    for prop, value in settings:
        prop.validate(value, target.where, target)
    for prop, value in settings:
        target.write(f"{prop.command} {prop.text(value)}")
    target.check_errors(context)
    for prop, value in settings:
        read = prop.__get__(target)
        if not prop.agrees(read, value):
            unit = f" {prop.unit}" if prop.unit else ""
            raise ProtectionNotTaken(f"{target.where}: {context}: {prop.command} set to {prop.text(value)}{unit} "
                                     f"but the instrument reads back {read!r}; not taken, no output switched on")


class ScpiCycler:
    """Set-current / set-voltage / protection of a SCPI cycler from its declarations.

    A subclass (also a :class:`drivers.scpi.ScpiTarget`) declares ``source_current_a``,
    ``voltage_limit_v``, ``source_voltage_v`` and ``current_limit_a`` as scpi_property, the
    commands that select each source function, and :meth:`protection_settings`.
    """

    #: Commands that select each source function (``"CURR"`` / ``"VOLT"``), sent when it changes.
    function_commands: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: The instrument's present source function as this driver last set it ("" = unknown).
    _function = ""

    # Declared by the subclass (scpi_property); typed here for the shared methods.
    source_current_a: ClassVar[scpi_property[float]]
    voltage_limit_v: ClassVar[scpi_property[float]]
    source_voltage_v: ClassVar[scpi_property[float]]
    current_limit_a: ClassVar[scpi_property[float]]

    if TYPE_CHECKING:  # provided by the ScpiTarget the subclass also is (listed first in its bases)
        @property
        def where(self) -> str: ...
        def write(self, command: str) -> None: ...
        def query(self, command: str) -> str: ...
        def check_errors(self, context: str = "") -> None: ...

    def protection_settings(self, limits: ProtectionLimits) -> list[Setting]:
        """The ``(property, value)`` protection settings for ``limits``, in sending order."""
        raise NotImplementedError

    def configure_protection(self, limits: ProtectionLimits) -> None:
        """Set the instrument-side protection from the protocol limits and read it back (output off)."""
        apply_and_verify(self, self.protection_settings(limits), "configure_protection")

    def _select(self, function: str) -> None:
        if self._function != function:
            for command in self.function_commands[function]:
                self.write(command)
            self._function = function

    def set_current(self, current_a: float, voltage_limit_v: float) -> None:
        """Force ``current_a`` A (+ = charge) with the terminal voltage limited to ``voltage_limit_v`` V."""
        cls = type(self)
        where = self.where
        cls.source_current_a.validate(current_a, where, self)
        cls.voltage_limit_v.validate(voltage_limit_v, where, self)
        self._select("CURR")
        self.write(f"{cls.voltage_limit_v.command} {voltage_limit_v:.6g}")
        self.write(f"{cls.source_current_a.command} {current_a:.6g}")
        self.check_errors(f"set_current({current_a:g} A, {voltage_limit_v:g} V)")

    def set_voltage(self, voltage_v: float, current_limit_a: float) -> None:
        """Hold ``voltage_v`` V with the current magnitude limited to ``current_limit_a`` A."""
        cls = type(self)
        where = self.where
        cls.source_voltage_v.validate(voltage_v, where, self)
        cls.current_limit_a.validate(current_limit_a, where, self)
        self._select("VOLT")
        self.write(f"{cls.current_limit_a.command} {current_limit_a:.6g}")
        self.write(f"{cls.source_voltage_v.command} {voltage_v:.6g}")
        self.check_errors(f"set_voltage({voltage_v:g} V, {current_limit_a:g} A)")
