"""Record by change: the ``sampling: record_when:`` rule of a protocol (what is written, not what
is measured).

Commercial cyclers log a point when a reading has moved since the last logged point (Maccor's
and Arbin's "ΔV / ΔI / ΔT / Δt" data-logging criteria): a long CC stretch or rest, where nothing
changes, takes a few rows instead of thousands. The bench still acquires, and the safety
supervisor still checks, every ``period_s``; the rule only decides which samples become
``/samples`` rows (the engine side: :mod:`bench.engine.recording`)::

    sampling:
      period_s: 1               # acquisition: every sample is checked by the supervisor
      record_when:              # a sample is recorded when, since the last recorded one,
        voltage: 5 mV           #   the voltage moved 5 mV or more,
        current: 1 %            #   the current moved 1 % (of the last recorded current, at
                                #   least 1 % of the cell's 1C current) -- or an absolute 10 mA / C/100,
        temperature: 0.1 K      #   the cell temperature moved 0.1 K,
        every: 60 s             #   or 60 s passed (default 60 s; "every: never" for none)

Units: V, A, K, s; a fraction for ``%``. Bad values are ``file:line:col`` errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import yaml

from protocols.quantities import QuantityError, parse_quantity
from protocols.yamldoc import Doc

#: The longest gap between two recorded rows when ``every`` is not given, s.
DEFAULT_EVERY_S = 60.0
KEYS = ("voltage", "current", "temperature", "every")


@dataclass(frozen=True)
class RecordRule:
    """When a sample becomes a run-file row (each ``inf``: that criterion is off).

    ``voltage_v``: |ΔV| since the last recorded row, V; ``current_a``: |ΔI|, A (absolute part);
    ``current_fraction``: |ΔI| as a fraction of the last recorded |I| (floored at the same
    fraction of the cell's 1C current by the engine); ``temperature_k``: |ΔT| of the cell
    temperature, K; ``every_s``: longest time between two recorded rows, s."""

    voltage_v: float = math.inf
    current_a: float = math.inf
    current_fraction: float = math.inf
    temperature_k: float = math.inf
    every_s: float = DEFAULT_EVERY_S

    def describe(self) -> str:
        """The rule in words (run file attribute, ``bench validate``)."""
        parts = []
        if math.isfinite(self.voltage_v):
            parts.append(f"V moves {self.voltage_v * 1000:g} mV")
        if math.isfinite(self.current_a):
            parts.append(f"I moves {self.current_a:g} A")
        if math.isfinite(self.current_fraction):
            parts.append(f"I moves {self.current_fraction * 100:g} %")
        if math.isfinite(self.temperature_k):
            parts.append(f"T moves {self.temperature_k:g} K")
        text = "record when " + (", ".join(parts) if parts else "nothing changes")
        return text + (f", and at least every {self.every_s:g} s" if math.isfinite(self.every_s) else "")


def parse_record_when(doc: Doc, node: yaml.Node, capacity_ah: float) -> RecordRule:
    """The ``record_when`` mapping at ``node``; ``capacity_ah`` turns a C-rate into amperes.
    Raises ProtocolError at the offending key or value."""
    items = doc.mapping(node, "sampling.record_when", KEYS)
    if not items:
        raise doc.error(node, "sampling.record_when is empty", "give voltage, current, temperature and/or every")
    values: dict[str, float] = {}
    for key, (_key_node, value_node) in items.items():
        text = doc.scalar(value_node, f"sampling.record_when.{key}")
        if key == "every" and text.strip().lower() == "never":
            values["every_s"] = math.inf
            continue
        try:
            quantity = parse_quantity(text)
        except QuantityError as exc:
            raise doc.error(value_node, f"sampling.record_when.{key}: {exc}", exc.suggestion) from None
        if not quantity.value > 0 or not math.isfinite(quantity.value):
            raise doc.error(value_node, f"sampling.record_when.{key} must be a positive change, got {text!r}")
        dim = quantity.dimension
        if key == "voltage" and dim == "voltage":
            values["voltage_v"] = quantity.value
        elif key == "current" and dim == "current":
            values["current_a"] = quantity.value
        elif key == "current" and dim == "c_rate":
            values["current_a"] = quantity.value * capacity_ah
        elif key == "current" and dim == "fraction":
            values["current_fraction"] = quantity.value
        elif key == "temperature" and dim == "temperature_difference":
            values["temperature_k"] = quantity.value
        elif key == "every" and dim == "time":
            values["every_s"] = quantity.value
        else:
            expected = {"voltage": "a voltage change (5 mV)", "current": "a current change (10 mA, C/100 or 1 %)",
                        "temperature": "a temperature change in K (0.1 K)", "every": "a time (60 s) or never"}[key]
            raise doc.error(value_node, f"sampling.record_when.{key} must be {expected}, got {text!r}")
    return RecordRule(**values)
