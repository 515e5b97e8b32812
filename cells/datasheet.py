"""One cell type's datasheet: ratings, windows, mass and size, and where each number comes from.

Units are in the names (A, V, Ah, °C, kg, mm, L, m²). Currents are magnitudes. A number the
datasheet does not state is absent (``None``), never guessed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

#: The words that mark a datasheet (or one number) as a plausible member of a cell class, not a product.
CLASS_MEMBER = "class member, not a product"

#: Keys of ``rating:`` (nominal capacity, the rate it is rated at, voltage window, currents).
RATING_KEYS = ("capacity_ah", "capacity_rate_c", "voltage_max_v", "voltage_min_v",
               "charge_current_max_a", "discharge_current_max_a",
               "charge_pulse_current_max_a", "discharge_pulse_current_max_a", "pulse_duration_s")
#: Keys of ``temperature:`` (cell temperature windows, °C).
TEMPERATURE_KEYS = ("charge_min_c", "charge_max_c", "discharge_min_c", "discharge_max_c",
                    "storage_min_c", "storage_max_c")
#: Keys of ``dimensions:`` (a cylinder: diameter and height; a prism or pouch: three sides), mm.
DIMENSION_KEYS = ("diameter_mm", "height_mm", "length_mm", "width_mm", "thickness_mm")
#: Other top-level numbers.
OTHER_NUMBER_KEYS = ("mass_kg", "volume_l", "electrode_area_m2")
#: Numbers every datasheet must state (a protocol cannot run without them).
REQUIRED_RATING = ("capacity_ah", "voltage_max_v", "voltage_min_v", "charge_current_max_a",
                   "discharge_current_max_a")


@dataclass(frozen=True)
class Number:
    """A datasheet number and its source: ``"<title>, <revision>, p. N (section)"`` or
    :data:`CLASS_MEMBER`; ``where`` is ``file:line:col`` of the number in the YAML file."""

    value: float
    source: str
    where: str = ""


@dataclass(frozen=True)
class Datasheet:
    """A cell type as its maker (or the class it belongs to) states it."""

    name: str
    maker: str
    model: str
    chemistry: str
    form_factor: str
    #: The document the numbers come from (title, revision), or :data:`CLASS_MEMBER`.
    document: str
    #: ``rating.X``, ``temperature.X``, ``dimensions.X``, ``mass_kg``, ... -> Number.
    numbers: dict[str, Number]
    aliases: tuple[str, ...] = ()
    notes: str = ""
    path: str = ""
    shipped: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def class_member(self) -> bool:
        """True when the datasheet describes a class member, not a product."""
        return self.document == CLASS_MEMBER

    def get(self, key: str) -> float | None:
        """The value of ``key`` (e.g. ``"rating.capacity_ah"``), None when not stated."""
        number = self.numbers.get(key)
        return None if number is None else number.value

    def volume_l(self) -> float | None:
        """Volume, L: stated, or from the dimensions (cylinder π d² h / 4, or a box); None if neither."""
        stated = self.get("volume_l")
        if stated is not None:
            return stated
        d, h = self.get("dimensions.diameter_mm"), self.get("dimensions.height_mm")
        if d is not None and h is not None:
            return round(math.pi * d ** 2 / 4.0 * h * 1e-6, 6)
        sides = [self.get(f"dimensions.{k}") for k in ("length_mm", "width_mm", "thickness_mm")]
        if all(s is not None for s in sides):
            a, b, c = (float(s) for s in sides if s is not None)
            return round(a * b * c * 1e-6, 6)
        return None

    def cell_values(self) -> dict[str, tuple[Any, str]]:
        """The datasheet in the protocol's ``cell:`` keys, each as (value, source): capacity,
        voltage window, continuous current maxima, chemistry, temperature windows, mass, volume,
        electrode area."""
        out: dict[str, tuple[Any, str]] = {}

        def put(cell_key: str, sheet_key: str) -> None:
            number = self.numbers.get(sheet_key)
            if number is not None:
                out[cell_key] = (number.value, number.source)

        put("capacity_ah", "rating.capacity_ah")
        put("voltage_max_v", "rating.voltage_max_v")
        put("voltage_min_v", "rating.voltage_min_v")
        put("current_max_a", "rating.discharge_current_max_a")
        put("current_max_charge_a", "rating.charge_current_max_a")
        put("temperature_min_charge_c", "temperature.charge_min_c")
        put("temperature_max_charge_c", "temperature.charge_max_c")
        put("temperature_min_discharge_c", "temperature.discharge_min_c")
        put("temperature_max_discharge_c", "temperature.discharge_max_c")
        highs = [n for n in (self.numbers.get("temperature.charge_max_c"),
                             self.numbers.get("temperature.discharge_max_c")) if n is not None]
        if highs:
            top = max(highs, key=lambda n: n.value)
            out["temperature_max_c"] = (top.value, top.source)
        put("mass_kg", "mass_kg")
        put("electrode_area_m2", "electrode_area_m2")
        volume = self.volume_l()
        if volume is not None:
            number = self.numbers.get("volume_l")
            out["volume_l"] = (volume, number.source if number is not None else
                               f"from the dimensions ({self.numbers[_dimension_key(self)].source})")
        if self.chemistry:
            out["chemistry"] = (self.chemistry, self.document)
        return out

    def summary(self) -> str:
        """One line: name, maker model, capacity, voltage window, currents."""
        cap, vmax, vmin = self.get("rating.capacity_ah"), self.get("rating.voltage_max_v"), self.get("rating.voltage_min_v")
        chg, dis = self.get("rating.charge_current_max_a"), self.get("rating.discharge_current_max_a")
        kind = "class member" if self.class_member else f"{self.maker} {self.model}"
        return (f"{self.name:<20} {cap:g} Ah {vmin:g}-{vmax:g} V, charge {chg:g} A, discharge {dis:g} A; "
                f"{self.chemistry}, {self.form_factor} ({kind})")


def _dimension_key(sheet: Datasheet) -> str:
    for key in ("dimensions.diameter_mm", "dimensions.length_mm"):
        if key in sheet.numbers:
            return key
    return next(k for k in sheet.numbers if k.startswith("dimensions."))
