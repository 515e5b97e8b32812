"""Issue 24 item 4: a cell's identity (``--cell-id``) in the run file, the catalog (SQLite and
PostgreSQL), the report and the BDF export; its history (``bench runs list --cell-id``) with its
last measured capacity and fade; and the warning when a cell is already running elsewhere."""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from pathlib import Path

import h5py
import pytest
from sqlalchemy import inspect, text

from bench.cli import main
from bench.lab.catalog import Catalog

#: A capacity check in a few simulated hours (well under a wall second): CC-CV to full, discharge
#: to the cut-off at {rate}.
CHECK = """\
name: capacity_short
cell: {preset: nmc_21700}
parameters: {rate: 1C}
sampling: {period_s: 10}
steps:
  - Charge at 0.5C until {cell.voltage_max_v} V
  - Hold at {cell.voltage_max_v} V until C/5
  - Discharge at {rate} until {cell.voltage_min_v} V
"""


@pytest.fixture
def check(tmp_path: Path) -> Path:
    path = tmp_path / "capacity_short.yaml"
    path.write_text(CHECK, encoding="utf-8")
    return path


def _json_out(capsys, argv: list[str]):
    capsys.readouterr()
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_cell_id_reaches_the_run_file_report_export_and_catalog(catalog_url, check, tmp_path, capsys):
    out = tmp_path / "run.h5"
    assert main(["run", str(check), "--cell-id", "LG-M50-2291-0042", "--out", str(out), "--no-progress",
                 "--catalog", catalog_url]) == 0
    assert "Cell: LG-M50-2291-0042" in capsys.readouterr().out  # the report printed by bench run
    with h5py.File(out, "r") as f:
        assert f.attrs["cell_id"] == "LG-M50-2291-0042"
        assert json.loads(f.attrs["cell"])["cell_id"] == "LG-M50-2291-0042"
    report = _json_out(capsys, ["report", str(out), "--json"])
    assert report["cell_id"] == "LG-M50-2291-0042"
    assert main(["report", str(out)]) == 0
    assert "Cell: LG-M50-2291-0042" in capsys.readouterr().out
    assert main(["export", str(out), "--format", "bdf-csv", "-o", str(tmp_path / "run.csv")]) == 0
    meta = json.loads((tmp_path / "run.metadata.json").read_text())
    assert meta["cell_id"] == "LG-M50-2291-0042"
    with Catalog(catalog_url) as catalog:
        (row,) = catalog.list_runs()
    assert row["cell_id"] == "LG-M50-2291-0042" and row["status"] == "completed"
    # the capacity the run measured is its capacity check's, as the report gives it
    assert row["capacity_ah"] == pytest.approx(report["metrics"]["capacity_check_ah"])
    assert row["rated_capacity_ah"] == pytest.approx(report["conditions"]["cell"]["capacity_ah"])


def test_runs_list_cell_id_shows_the_cells_runs_in_order_with_capacity_and_fade(catalog_url, check, tmp_path,
                                                                                   capsys):
    runs = [("first.h5", "SN-7", "0.5C"), ("other.h5", "SN-8", "0.5C"), ("second.h5", "SN-7", "1C")]
    for name, cell_id, rate in runs:
        assert main(["run", str(check), "--cell-id", cell_id, "--set", f"rate={rate}", "--out", str(tmp_path / name),
                     "--no-progress", "--catalog", catalog_url]) == 0
    capacity = {}
    for name, _cell, _rate in runs:
        capacity[name] = _json_out(capsys, ["report", str(tmp_path / name), "--json"])["metrics"]["capacity_check_ah"]
    history = _json_out(capsys, ["runs", "list", "--cell-id", "SN-7", "--catalog", catalog_url, "--json"])
    assert [Path(r["run_file"]).name for r in history["runs"]] == ["first.h5", "second.h5"]  # time order, SN-7 only
    assert history["capacity_ah"] == pytest.approx(capacity["second.h5"])  # the last check's
    assert history["first_capacity_ah"] == pytest.approx(capacity["first.h5"])
    # fade = 1 - last / first measured capacity; the 1C check gives less than the 0.5C one
    assert history["fade_pct"] == pytest.approx(100.0 * (1.0 - capacity["second.h5"] / capacity["first.h5"]), abs=1e-3)
    assert history["fade_pct"] > 0
    assert main(["runs", "list", "--cell-id", "SN-7", "--catalog", catalog_url]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listing[1:3]] == [r["run_id"][:8] for r in history["runs"]]
    assert f"last measured capacity {capacity['second.h5']:.4f} Ah" in listing[-1]
    assert f"fade {history['fade_pct']:.2f} %" in listing[-1]
    alone = _json_out(capsys, ["runs", "list", "--cell-id", "SN-8", "--catalog", catalog_url, "--json"])
    assert alone["fade_pct"] is None and alone["capacity_ah"] == pytest.approx(capacity["other.h5"])


def test_a_cell_already_running_elsewhere_warns_and_the_run_goes_on(catalog_url, check, tmp_path, caplog):
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with Catalog(catalog_url) as catalog:  # channel 3 of another rig is testing A1; B1's run died long ago
        for cell_id, run_id in (("A1", "a1-running"), ("B1", "b1-stale")):
            catalog.upsert_run({"run_id": run_id, "protocol": "cycle_life", "status": "running", "cell_id": cell_id,
                                "bench": "rig-2 ch3", "host": "pc-2", "started_utc": now})
            catalog.heartbeat_run(run_id, {"step": 4})
        with catalog.engine.begin() as conn:
            conn.execute(text("UPDATE runs SET heartbeat_s = 0 WHERE run_id = 'b1-stale'"))
    caplog.set_level(logging.WARNING)
    assert main(["run", str(check), "--cell-id", "A1", "--out", str(tmp_path / "a.h5"), "--no-progress",
                 "--catalog", catalog_url]) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "cell A1" in r.getMessage()]
    assert len(warnings) == 1 and "already running: run a1-runni (cycle_life) on rig-2 ch3 at pc-2" in warnings[0]
    caplog.clear()
    assert main(["run", str(check), "--cell-id", "B1", "--out", str(tmp_path / "b.h5"), "--no-progress",
                 "--catalog", catalog_url]) == 0
    assert not [r for r in caplog.records if "already running" in r.getMessage()]  # a stale heartbeat: not running
    caplog.clear()
    assert main(["run", str(check), "--channels", "2", "--cell-id", "C1", "--cell-id", "C1",
                 "--out", str(tmp_path / "m.h5"), "--no-progress", "--catalog", catalog_url]) == 0
    assert any("cell C1 is given for more than one channel" in r.getMessage() for r in caplog.records)


def test_multichannel_cell_ids_go_one_per_channel(check, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    out = tmp_path / "m.h5"
    assert main(["run", str(check), "--channels", "2", "--cell-id", "A1", "--out", str(out), "--no-progress",
                 "--catalog", url]) == 2
    assert "1 id for a 2-channel bench" in capsys.readouterr().err
    assert not list(tmp_path.glob("m_ch*.h5"))  # nothing ran
    assert main(["run", str(check), "--channels", "2", "--cell-id", "A1,A2", "--out", str(out), "--no-progress",
                 "--catalog", url]) == 0
    for channel, cell_id in ((0, "A1"), (1, "A2")):
        with h5py.File(tmp_path / f"m_ch{channel:02d}.h5", "r") as f:
            assert f.attrs["cell_id"] == cell_id
    with Catalog(url) as catalog:
        assert {Path(r["run_file"]).name: r["cell_id"] for r in catalog.list_runs()} == {
            "m_ch00.h5": "A1", "m_ch01.h5": "A2"}


@pytest.mark.parametrize("value", ["bad id", "", "x" * 65, "A1,,A2"])
def test_a_bad_cell_id_is_refused_before_anything_runs(value, check, tmp_path, capsys):
    assert main(["run", str(check), "--cell-id", value, "--out", str(tmp_path / "r.h5"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--cell-id" in err
    assert not (tmp_path / "r.h5").exists()


def test_the_cell_index_and_capacity_columns_come_with_migration_3(catalog_url):
    from bench.lab.db import open_engine
    from bench.lab.migrations import upgrade

    engine = open_engine(catalog_url)
    assert upgrade(engine, target=2) == 2
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO runs (run_id, protocol, status, cell_id) VALUES (:id, 'capacity_check', "
                          "'completed', 'OLD-1')"), {"id": str(uuid.uuid4())})
    assert upgrade(engine) == 3
    with engine.connect() as conn:
        inspector = inspect(conn)
        assert {"capacity_ah", "rated_capacity_ah"} <= {c["name"] for c in inspector.get_columns("runs")}
        assert any(i["name"] == "ix_runs_cell" and i["column_names"] == ["cell_id", "started_utc"]
                   for i in inspector.get_indexes("runs"))
        assert conn.execute(text("SELECT cell_id, capacity_ah FROM runs")).one() == ("OLD-1", None)
    engine.dispose()
