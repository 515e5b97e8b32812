"""What a bench's instruments can do, as :class:`protocols.checks.InstrumentLimits`.

From an open bench (its role instances) or from a bench config without opening anything (the
driver classes' declared ranges), so ``bench validate --bench lab.toml`` needs no hardware.
"""

from __future__ import annotations

from typing import Any

from bench.instruments import Bench
from protocols.checks import InstrumentLimits


def _current_max(cycler: Any) -> float | None:
    span = getattr(cycler, "current_range_a", None)
    return max(abs(float(span[0])), abs(float(span[1]))) if span else None


def _voltage_max(cycler: Any) -> float | None:
    span = getattr(cycler, "voltage_range_v", None)
    return max(abs(float(span[0])), abs(float(span[1]))) if span else None


def _range(obj: Any, name: str) -> tuple[float, float] | None:
    span = getattr(obj, name, None) if obj is not None else None
    return (float(span[0]), float(span[1])) if span else None


def limits_of_bench(bench: Bench) -> InstrumentLimits:
    """The ranges of an open bench's instruments."""
    return InstrumentLimits(
        description=bench.description or "this bench",
        current_max_a=_current_max(bench.cycler),
        voltage_max_v=_voltage_max(bench.cycler),
        has_chamber=bench.chamber is not None,
        chamber_range_c=_range(bench.chamber, "setpoint_range_c"),
        has_impedance=bench.impedance is not None,
        has_thermometer=bench.thermometer is not None,
        impedance_frequency_range_hz=_range(bench.impedance, "frequency_range_hz"),
        setpoint_settle_s=getattr(bench.cycler, "setpoint_settle_s", None),
    )


def limits_of_config(config: dict[str, Any], channel: int = 0) -> InstrumentLimits:
    """The ranges the drivers of a bench config declare (nothing is opened); on a multi-channel
    bench (``[[cycler]]``), those of channel ``channel`` (0-based)."""
    from drivers.catalog import DRIVERS

    def cls(role: str) -> Any:
        section = config.get(role)
        if isinstance(section, list):
            section = section[min(channel, len(section) - 1)] if role == "cycler" else section[0]
        return DRIVERS[section["driver"]].cls if section else None

    cycler, chamber, impedance = cls("cycler"), cls("chamber"), cls("impedance")
    name = config.get("bench", {}).get("name") or config.get("_path") or "this bench"
    return InstrumentLimits(
        description=str(name),
        current_max_a=_current_max(cycler),
        voltage_max_v=_voltage_max(cycler),
        has_chamber=chamber is not None,
        chamber_range_c=_range(chamber, "setpoint_range_c"),
        has_impedance=impedance is not None,
        has_thermometer=config.get("thermometer") is not None,
        impedance_frequency_range_hz=_range(impedance, "frequency_range_hz"),
        setpoint_settle_s=getattr(cycler, "setpoint_settle_s", None),
    )


def recheck_for_bench(protocol: Any, bench: Bench) -> Any:
    """``protocol`` parsed again with ``bench``'s instrument ranges checked (YAML protocols; a
    Python protocol's steps are checked as they are yielded). Raises ProtocolError (file:line)."""
    if protocol.generator is not None or not protocol.source_text:
        return protocol
    import dataclasses

    from protocols.loader import parse_any

    again = parse_any(protocol.source_text, file=protocol.source_path, overrides=dict(protocol.parameters),
                      cell_spec=protocol.cell, instrument=limits_of_bench(bench))
    return dataclasses.replace(again, cell_sources=dict(protocol.cell_sources))
