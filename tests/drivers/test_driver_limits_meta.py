"""Meta-test: every cycler model's declared ranges and its property limits agree.

A family of drivers (Keithley 2450 / 2460 / 2461, EA PSB 10000 models, the N6700 modules) shares
its command tree through subclasses; a model differs in its ranges. Each limit has one source, a
class attribute the property names (``scpi_property(..., limits="voltage_range_v")``), so a model
overrides it in one place. Checked for every cycler model in the catalog and every subclass of one:

* one source: every writable numeric property in volts or amps names its limits by a class
  attribute (a literal tuple would be inherited unchanged by a model with other ranges);
* no silent inheritance: a model that declares its own ``voltage_range_v`` (``current_range_a``)
  also declares every volt (amp) limit attribute its properties use;
* agreement: each volt (amp) limit reaches the model's range and exceeds it by at most 10 % (the
  largest over-range a catalogued maker documents: EA protections at 110 % of nominal).
"""

from __future__ import annotations

import pytest

from drivers.catalog import DRIVERS
from drivers.scpi import parse_bool, scpi_property

OVER_RANGE_MAX = 1.10
_UNIT_RANGE = {"V": "voltage_range_v", "A": "current_range_a"}


def _subclasses(cls: type) -> list[type]:
    found = [cls]
    for sub in cls.__subclasses__():
        if sub.__module__.startswith("drivers."):
            found += _subclasses(sub)
    return found


def _cycler_models() -> list[type]:
    models: dict[str, type] = {}
    for info in DRIVERS.values():
        if info.role == "cycler":
            for cls in _subclasses(info.cls):
                models[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return [models[k] for k in sorted(models)]


MODELS = _cycler_models()


def _limited_properties(cls: type) -> dict[str, scpi_property]:
    """Writable numeric properties in V or A, by attribute name."""
    found: dict[str, scpi_property] = {}
    for klass in reversed(cls.__mro__):
        for name, member in vars(klass).items():
            if (isinstance(member, scpi_property) and member.unit in _UNIT_RANGE and not member.readonly
                    and member.values is None and member._parse is not parse_bool):  # noqa: SLF001
                found[name] = member
    return found


def _declaring_class(cls: type, attribute: str) -> type:
    return next(k for k in cls.__mro__ if attribute in vars(k))


def _magnitude(pair: tuple[float, float]) -> float:
    return max(abs(pair[0]), abs(pair[1]))


def check_model(cls: type) -> list[str]:
    """Every disagreement between ``cls``'s declared ranges and its property limits."""
    problems = []
    for name, prop in _limited_properties(cls).items():
        if not isinstance(prop.limits, str):
            problems.append(f"{name}: literal limits {prop.limits!r} (name a class attribute)")
            continue
        range_attr = _UNIT_RANGE[prop.unit]
        if not isinstance(getattr(cls, prop.limits, None), tuple):
            problems.append(f"{name}: limits attribute {prop.limits!r} missing")
            continue
        range_owner = _declaring_class(cls, range_attr)
        limit_owner = _declaring_class(cls, prop.limits)
        if not issubclass(limit_owner, range_owner):
            problems.append(f"{name}: {range_attr} declared by {range_owner.__name__} but {prop.limits} "
                            f"inherited from {limit_owner.__name__}")
        declared = _magnitude(getattr(cls, range_attr))
        limit = _magnitude(prop.limits_for(cls))
        if not declared <= limit * (1 + 1e-12) or limit > declared * OVER_RANGE_MAX:
            problems.append(f"{name}: limit {limit:g} {prop.unit} does not match {range_attr} {declared:g}")
    return problems


@pytest.mark.parametrize("cls", MODELS, ids=[c.__name__ for c in MODELS])
def test_declared_ranges_and_property_limits_agree(cls: type):
    assert check_model(cls) == []


def test_the_check_finds_a_model_that_inherits_its_parents_voltage_limit():
    """The Keithley 2450 before issue 20: a ±210 V range with the 2460's 105 V limits."""
    from drivers.keithley24xx import Keithley2460

    class Keithley2450Inheriting(Keithley2460):
        current_range_a = (-1.05, 1.05)
        voltage_range_v = (-210.0, 210.0)
        current_limit_range_a = (1e-9, 1.05)

    problems = check_model(Keithley2450Inheriting)
    assert any(p.startswith("voltage_limit_v: voltage_range_v declared by Keithley2450Inheriting") for p in problems)
    assert any(p.startswith("voltage_limit_v: limit 105 V does not match voltage_range_v 210") for p in problems)

    class Literal(Keithley2460):
        source_voltage_v = scpi_property(":SOUR:VOLT", limits=(-105.0, 105.0), unit="V", doc="Source voltage")

    assert any("literal limits" in p for p in check_model(Literal))


def test_the_2450_refuses_what_the_2460_refuses_and_accepts_its_own_range():
    from drivers.errors import SetpointOutOfRange
    from drivers.keithley24xx import Keithley2450, Keithley2460

    Keithley2450.voltage_limit_v.validate(200.0, "t", Keithley2450)
    Keithley2450.source_voltage_v.validate(-200.0, "t", Keithley2450)
    with pytest.raises(SetpointOutOfRange, match=r"voltage_limit_v = 200.0 V is outside \[0.02, 105\] V"):
        Keithley2460.voltage_limit_v.validate(200.0, "t", Keithley2460)
    with pytest.raises(SetpointOutOfRange, match="source_current_a"):
        Keithley2450.source_current_a.validate(2.0, "t", Keithley2450)
