"""The run catalog on SQLite and PostgreSQL: migrations, registration from run files, queries."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import uuid

import h5py
import pytest
from sqlalchemy import inspect, text

from bench.cli import main
from bench.lab.catalog import Catalog, runs
from bench.lab.db import open_engine
from bench.lab.migrations import HEAD, CatalogVersionError, current_version, upgrade
from bench.lab.provenance import file_sha256
from bench.lab.schema import metadata


def test_v1_catalog_is_upgraded_in_place(catalog_url):
    engine = open_engine(catalog_url)
    assert upgrade(engine, target=1) == 1
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO runs (run_id, protocol, status, cell_id, run_file) "
                          "VALUES ('old-run', 'cold_capacity', 'completed', 'LOT-7', '/data/old.h5')"))
    engine.dispose()
    with Catalog(catalog_url) as catalog:
        with catalog.engine.connect() as conn:
            assert current_version(conn) == HEAD
            inspector = inspect(conn)
            for table in metadata.sorted_tables:  # the upgraded catalog has exactly the newest schema
                assert {c["name"] for c in inspector.get_columns(table.name)} == {c.name for c in table.c}, table.name
        old = catalog.run("old-run")
        assert (old["protocol"], old["status"], old["cell_id"], old["run_file"]) == (
            "cold_capacity", "completed", "LOT-7", "/data/old.h5")
        catalog.heartbeat_run("old-run", {"step": 2})  # a v2 column on a v1 row
        assert catalog.run("old-run")["status"] == "completed"  # a late heartbeat never reopens a run


def test_newer_catalog_is_refused_not_touched(catalog_url):
    engine = open_engine(catalog_url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO schema_version (version, description, applied_utc) "
                          "VALUES (99, 'from the future', '2030-01-01 00:00:00')"))
    with pytest.raises(CatalogVersionError, match="newer than this CellBench"):
        upgrade(engine)
    engine.dispose()


def _variant(src, dst, **attrs):
    """A copy of a run file made into another run (a copy of a file is the same run: same run_id)."""
    attrs.setdefault("run_id", str(uuid.uuid4()))
    shutil.copy2(src, dst)
    with h5py.File(dst, "r+") as handle:
        for key, value in attrs.items():
            handle.attrs[key] = value if isinstance(value, str | int | float) else json.dumps(value)
    return dst


def test_sync_registers_files_from_their_provenance_and_queries_filter(catalog_url, run_dir):
    first = next(run_dir.glob("*.h5"))
    _variant(first, run_dir / "lot7.h5", cell_id="LOT-7-001", start_time_utc="2026-11-03T08:00:00+00:00",
             operator="ada")
    _variant(first, run_dir / "trip.h5", status="safety_trip", start_time_utc="2026-11-20T23:10:00+00:00",
             protocol="nail_penetration")
    (run_dir / "sub").mkdir()
    (run_dir / "sub" / "junk.h5").write_bytes(b"not hdf5")
    with Catalog(catalog_url) as catalog:
        counts = catalog.sync(run_dir)
        assert (counts["registered"], counts["unchanged"], len(counts["errors"])) == (3, 0, 1)
        assert "junk.h5" in counts["errors"][0]
        assert catalog.sync(run_dir)["unchanged"] == 3  # seen: not registered twice
        rows = catalog.list_runs()
        assert len(rows) == 3
        original = catalog.list_runs(protocol="sweep_short", cell="nmc_21700", since="2026-12-01")
        assert [r["run_file"] for r in original] == [str(first.resolve())]
        row = original[0]
        assert row["status"] == "completed" and row["verdict"] == "pass"
        assert row["run_file_sha256"] == file_sha256(first)
        assert row["claims"][0]["metric"] == "discharge_capacity_ah" and row["claims"][0]["passed"] is True
        assert row["metrics"]["discharge_capacity_ah"] > 0.3
        assert row["instruments"]["cycler"].startswith("KEITHLEY")
        assert row["parameters"]["rate"] == "1 A"
        trip = catalog.list_runs(status="tripped")
        assert [(r["protocol"], r["verdict"]) for r in trip] == [("nail_penetration", "safety_trip")]
        assert [r["cell_id"] for r in catalog.list_runs(until="2026-11-03")] == ["LOT-7-001"]
        assert [r["cell_id"] for r in catalog.list_runs(cell="LOT-7*")] == ["LOT-7-001"]
        assert [r["operator"] for r in catalog.list_runs(text="ADA")] == ["ada"]
        assert catalog.list_runs(protocol="nail*", verdict="pass") == []
        assert catalog.run(row["run_id"][:8])["run_id"] == row["run_id"]
        with pytest.raises(ValueError, match="unknown run filter 'colour'"):
            catalog.list_runs(colour="red")
    frame = runs(catalog_url, protocol="sweep_short", limit=10)
    assert [name.rsplit("/", 1)[1] for name in frame["run_file"]] == ["short.h5", "lot7.h5"]  # newest first
    assert {"run_id", "verdict", "metrics", "started_utc"} <= set(frame.columns)
    assert frame["started_utc"].min() == dt.datetime(2026, 11, 3, 8, 0)


def test_runs_commands(catalog_url, run_dir, capsys):
    assert main(["runs", "sync", str(run_dir), "--catalog", catalog_url]) == 0
    assert "1 registered" in capsys.readouterr().out
    assert main(["runs", "list", "--catalog", catalog_url, "--protocol", "sweep_short", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert len(listed) == 1 and listed[0]["verdict"] == "pass"
    run_id = listed[0]["run_id"]
    assert main(["runs", "show", run_id[:6], "--catalog", catalog_url]) == 0
    shown = capsys.readouterr().out
    assert "claim [met] discharge_capacity_ah >= 0.3" in shown and run_id in shown
    assert main(["runs", "search", "keithley", "--catalog", catalog_url, "--json"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == [run_id]
    assert main(["runs", "list", "--catalog", catalog_url, "--since", "yesterday"]) == 2
    assert "since: 'yesterday' is not a date" in capsys.readouterr().err
    assert main(["runs", "show", "nope", "--catalog", catalog_url]) == 2


def test_a_run_that_stops_heartbeating_is_marked_interrupted_and_revives(catalog_url):
    with Catalog(catalog_url) as catalog:
        catalog.upsert_run({"run_id": "r1", "protocol": "p", "status": "running"})
        catalog.heartbeat_run("r1", {"step": 1})
        assert catalog.reap_runs(3600.0) == 0
        assert catalog.reap_runs(-1.0) == 1  # every heartbeat is older than "one second in the future"
        assert catalog.run("r1")["status"] == "interrupted"
        catalog.heartbeat_run("r1", {"step": 2})  # the run was only cut off from the catalog
        assert catalog.run("r1")["status"] == "running"
        catalog.upsert_run({"run_id": "r1", "status": "completed", "verdict": "pass"})
        catalog.upsert_run({"run_id": "r1", "status": "running"})  # a stale start row replayed late
        assert catalog.run("r1")["status"] == "completed"


def test_default_catalog_is_the_users_sqlite_file_in_wal_mode_wherever_bench_runs(tmp_path, monkeypatch):
    """One place for the lab's catalog (issue 28): the XDG data directory, not the working
    directory (a catalog that followed the current directory listed nothing elsewhere)."""
    data_home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_DATA_HOME", str(data_home))
    monkeypatch.delenv("CELLBENCH_CATALOG", raising=False)
    for cwd in (tmp_path / "a", tmp_path / "b"):
        cwd.mkdir()
        monkeypatch.chdir(cwd)
        with Catalog() as catalog:
            assert catalog.url == f"sqlite:///{data_home / 'cellbench' / 'catalog.sqlite'}"
            with catalog.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert not (cwd / "runs").exists()
    assert (data_home / "cellbench" / "catalog.sqlite").is_file()
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with Catalog() as catalog:
        assert catalog.url == f"sqlite:///{tmp_path / 'home' / '.local' / 'share' / 'cellbench' / 'catalog.sqlite'}"


def test_a_bench_file_names_its_lab_catalog(tmp_path):
    """Issue 28: the user's catalog unless a bench TOML ([bench] catalog) or CELLBENCH_CATALOG says
    otherwise; --catalog wins over both (bench run passes ``args.catalog or bench_catalog(config)``)."""
    from bench.config import bench_catalog, load_bench_config

    toml = tmp_path / "lab.toml"
    toml.write_text('[cycler]\ndriver = "keithley2460"\nresource = "TCPIP::127.0.0.1::5025::SOCKET"\n'
                    f'[bench]\nname = "rig"\ncatalog = "sqlite:///{tmp_path / "lab.sqlite"}"\n', encoding="utf-8")
    config = load_bench_config(toml)
    assert bench_catalog(config) == f"sqlite:///{tmp_path / 'lab.sqlite'}"
    assert bench_catalog({"bench": {"name": "rig"}}) is None and bench_catalog(None) is None
