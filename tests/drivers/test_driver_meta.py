"""Meta-tests over every driver in the catalog: documented, cited, limits declared, role complete.

A new driver added to ``drivers/catalog.py`` is checked here without writing anything new:
its module docstring cites the maker's manual; it checks the identity of what it talks to; every
public method and declarative property has a docstring; every numeric ``scpi_property`` (and every
numeric Modbus register) declares a unit and limits; it has everything its role requires.
"""

from __future__ import annotations

import inspect
import re
import sys
import typing

import pytest

from drivers import roles
from drivers.catalog import DRIVERS, DriverInfo
from drivers.delegated.channel import DelegatedChannel
from drivers.scpi import ScpiInstrument, parse_bool, scpi_property
from drivers.watlow_f4t import Register

ROLE_PROTOCOLS = {"cycler": roles.Cycler, "chamber": roles.ThermalChamber, "thermometer": roles.TemperatureMeter,
                  "impedance": roles.ImpedanceAnalyzer}
INFOS = sorted(DRIVERS.values(), key=lambda info: info.name)
IDS = [info.name for info in INFOS]


def _driver_members(cls: type) -> dict[str, object]:
    """Attributes defined by the driver's classes (its MRO inside the ``drivers`` package)."""
    members: dict[str, object] = {}
    for klass in reversed(cls.__mro__):
        if klass.__module__.startswith("drivers."):
            members.update(vars(klass))
    return members


def _is_numeric(prop: scpi_property) -> bool:
    """A property whose value is a number (not an enumeration or a boolean)."""
    return prop.values is None and prop._parse is not parse_bool  # noqa: SLF001 - inspecting the declaration


@pytest.mark.parametrize("info", INFOS, ids=IDS)
def test_module_docstring_cites_the_manual_and_its_section(info: DriverInfo):
    doc = sys.modules[info.cls.__module__].__doc__ or ""
    assert re.search(r"manual|guide", doc, re.IGNORECASE), f"{info.cls.__module__}: no manual cited"
    assert re.search(r"section|chapter|command reference|table|appendix|§", doc, re.IGNORECASE), (
        f"{info.cls.__module__}: the manual citation names no section")


def _role_class(info: DriverInfo) -> type:
    """The class that fills the role: a multi-channel system's channel handle, else the driver itself."""
    return getattr(info.cls, "channel_class", info.cls) if info.transport == "system" else info.cls


@pytest.mark.parametrize("info", INFOS, ids=IDS)
def test_driver_checks_the_identity_of_its_instrument(info: DriverInfo):
    cls = _role_class(info)
    verify = getattr(cls, "verify_identity", None)
    assert callable(verify), f"{cls.__name__} has no verify_identity()"
    if issubclass(cls, ScpiInstrument):
        assert cls.idn_models, f"{cls.__name__}: idn_models is empty, *IDN? would accept anything"
    else:
        assert "verify_identity" in _driver_members(cls), f"{cls.__name__} does not check identity itself"


@pytest.mark.parametrize("info", INFOS, ids=IDS)
def test_every_public_method_and_property_has_a_docstring(info: DriverInfo):
    undocumented = []
    members = {**_driver_members(info.cls), **_driver_members(_role_class(info))}
    for name, member in members.items():
        if name.startswith("_"):
            continue
        target = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
        if inspect.isfunction(target) or isinstance(target, (property, scpi_property)):
            if not (inspect.getdoc(target) or "").strip():
                undocumented.append(name)
    assert not undocumented, f"{info.cls.__name__}: no docstring on {', '.join(sorted(undocumented))}"


@pytest.mark.parametrize("info", INFOS, ids=IDS)
def test_numeric_properties_declare_a_unit_and_limits(info: DriverInfo):
    bad = []
    for name, member in _driver_members(info.cls).items():
        if isinstance(member, scpi_property) and _is_numeric(member) and not member.readonly:
            limits = member.limits_for(info.cls) if member.limits is not None else None
            if not member.unit or limits is None or not limits[0] <= limits[1]:
                bad.append(name)
    registers = getattr(info.cls, "registers", {})
    for name, register in registers.items():
        assert isinstance(register, Register) and register.doc.strip(), f"register {name} undocumented"
        if register.kind == "float" and not register.unit:
            bad.append(f"register {name}")
        if register.kind == "float" and register.writable and register.limits is None:
            bad.append(f"register {name}")
    assert not bad, f"{info.cls.__name__}: numeric settings without unit/limits: {', '.join(bad)}"


@pytest.mark.parametrize("info", INFOS, ids=IDS)
def test_driver_has_everything_its_role_requires(info: DriverInfo):
    # a delegated-execution cycler (Neware BTS) runs step files: its role is DelegatedChannel
    protocol = DelegatedChannel if info.transport == "delegated" else ROLE_PROTOCOLS[info.role]
    required = {name for name in typing.get_type_hints(protocol)} | {
        name for name, value in vars(protocol).items() if inspect.isfunction(value) and not name.startswith("_")}
    required.discard("name")  # set per instance by the constructor
    role_cls = _role_class(info)
    if role_cls is not info.cls:  # a channel handle reads its ranges from the system when it is opened
        declared = typing.get_type_hints(role_cls)
        required = {name for name in required if not (name.endswith("_range_a") or name.endswith("_range_v"))
                    or name not in declared}
    missing = sorted(name for name in required if not hasattr(role_cls, name))
    assert not missing, f"{role_cls.__name__} ({info.role}) lacks {', '.join(missing)}"
    signature = inspect.signature(info.cls)
    assert "name" in signature.parameters, f"{info.cls.__name__}(transport, *, name=...) is the catalog contract"


@pytest.mark.parametrize("info", INFOS, ids=IDS)
def test_catalog_entry_is_consistent(info: DriverInfo):
    assert info.role in ROLE_PROTOCOLS
    assert info.transport in ("visa", "serial", "modbus", "system", "http", "delegated")
    assert info.description.strip()
    if info.transport == "system":  # one connection, channel handles (drivers.cycler_system)
        assert callable(getattr(info.cls, "channel", None)) and info.cls.system_label
    if info.role == "cycler" and hasattr(_role_class(info), "current_range_a"):
        low, high = _role_class(info).current_range_a
        assert low < 0 < high, f"{info.name}: a cycler must both charge and discharge"


def test_meta_checks_catch_a_bad_driver():
    """The checks above are not vacuous: an undocumented, unlimited property is found."""

    class Sloppy(ScpiInstrument):
        level = scpi_property("SOUR:LEV", doc="")

        def go(self) -> None:
            pass

    members = _driver_members(Sloppy)
    assert "go" not in members  # defined outside the drivers package: the helper would skip it
    Sloppy.__module__ = "drivers.sloppy"
    members = _driver_members(Sloppy)
    assert not (inspect.getdoc(members["go"]) or "")
    level = members["level"]
    assert isinstance(level, scpi_property) and _is_numeric(level) and level.limits is None and not level.unit
