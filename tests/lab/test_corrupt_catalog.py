"""A damaged SQLite catalog (issue 26 defect 8): every lab command says so in one line naming the
catalog file and exits 2 (invalid input), never a traceback and exit 1 ("failed its claims")."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def damaged(tmp_path: Path) -> Path:
    path = tmp_path / "catalog.sqlite"
    path.write_bytes(b"this is not an SQLite database\n" * 200)
    return path


@pytest.mark.parametrize("argv", [["jobs", "list"], ["runs", "list"], ["submit", "capacity_check", "--no-validate"],
                                  ["worker", "--once"], ["runs", "sync", "{dir}"]])
def test_every_lab_command_refuses_a_damaged_catalog_in_one_line(damaged: Path, tmp_path: Path, capsys,
                                                                 argv: list[str]) -> None:
    args = [a.replace("{dir}", str(tmp_path)) for a in argv] + ["--catalog", f"sqlite:///{damaged}"]
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("bench: error: ") and "Traceback" not in err, err
    assert str(damaged) in err and "damaged" in err, err


def test_the_default_catalog_is_named_by_its_url_not_a_placeholder(damaged: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("CELLBENCH_CATALOG", f"sqlite:///{damaged}")
    assert main(["jobs", "list"]) == 2
    err = capsys.readouterr().err
    assert "<catalog URL>" not in err and str(damaged) in err, err
