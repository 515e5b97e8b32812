"""Every simulator's manual command table has tests (issue 25 item 1).

Walks the ``sim_instruments`` package, imports every module and collects its ``MANUAL_COMMANDS``
(:class:`sim_instruments.wire.manual_commands.ManualCommand` rows): each implemented row's
``example`` (a literal command line) must appear in a test file under ``tests/`` other than this
one, so a command declared as implemented is sent by a test; each unsupported row must be listed
in docs/simulators.md (its header text). A new simulator's table is picked up without changes here.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

import sim_instruments
from sim_instruments.wire.manual_commands import ManualCommand

ROOT = Path(__file__).resolve().parents[2]
THIS = Path(__file__).resolve()


def tables() -> dict[str, tuple[ManualCommand, ...]]:
    """``module name -> MANUAL_COMMANDS`` of every module under sim_instruments that has one."""
    found: dict[str, tuple[ManualCommand, ...]] = {}
    for info in pkgutil.walk_packages(sim_instruments.__path__, prefix="sim_instruments."):
        module = importlib.import_module(info.name)
        table = getattr(module, "MANUAL_COMMANDS", None)
        if table is not None:
            found[info.name] = table
    return found


def test_tables_are_found_and_well_formed():
    found = tables()
    assert {"sim_instruments.cyclers.keithley2460_commands", "sim_instruments.cyclers.keysight_n6700_commands",
            "sim_instruments.cyclers.ea_psb_commands"} <= set(found)
    for name, table in found.items():
        assert table, f"{name}: empty MANUAL_COMMANDS"
        for row in table:
            assert isinstance(row, ManualCommand), f"{name}: {row!r}"
            assert row.status in ("implemented", "unsupported"), f"{name}: {row.header}"
            assert row.header and row.section and row.example, f"{name}: incomplete row {row!r}"
            if row.status == "unsupported":
                assert row.note, f"{name}: {row.header}: an unsupported row says why"


def _test_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "tests").rglob("*.py"))
                     if p.resolve() != THIS)


def test_every_implemented_command_is_sent_by_a_test():
    text = _test_text()
    missing = [f"{name}: {row.header} (example {row.example!r})" for name, table in tables().items()
               for row in table if row.status == "implemented" and row.example not in text]
    assert not missing, "implemented commands no test sends:\n" + "\n".join(missing)


def test_every_unsupported_command_is_listed_in_the_docs():
    docs = (ROOT / "docs" / "simulators.md").read_text(encoding="utf-8")
    missing = [f"{name}: {row.header}" for name, table in tables().items() for row in table
               if row.status == "unsupported" and row.header not in docs]
    assert not missing, "unsupported commands docs/simulators.md does not list:\n" + "\n".join(missing)


def test_the_check_would_catch_an_untested_row():
    """The meta-test is not vacuous: a row whose example no other test file sends is reported
    (this file is left out of the text searched, so the example here does not count)."""
    fake = ManualCommand(":BOGus:NODE", "nowhere", "implemented", ":BOG:NODE 12345.678")
    assert fake.example not in _test_text()


@pytest.mark.parametrize("name", sorted(tables()))
def test_examples_are_unique_per_table(name):
    examples = [row.example for row in tables()[name]]
    assert len(examples) == len(set(examples)), f"{name}: repeated examples"
