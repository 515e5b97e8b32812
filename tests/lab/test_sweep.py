"""Sweeps: grid parsing, and a real Dask LocalCluster running short simulated runs."""

from __future__ import annotations

import json

import pytest

from bench.cli import main
from bench.lab.catalog import Catalog
from bench.lab.sweep import SweepError, combinations, parse_grid, run_sweep


def test_grid_and_combinations():
    grid = parse_grid(["rate=1A, 2A", "soak=1h"])
    assert grid == {"rate": ["1A", "2A"], "soak": ["1h"]}
    assert combinations(grid, ["nmc_21700", "lfp_26650"]) == [
        {"rate": "1A", "soak": "1h", "cell": "nmc_21700"}, {"rate": "2A", "soak": "1h", "cell": "nmc_21700"},
        {"rate": "1A", "soak": "1h", "cell": "lfp_26650"}, {"rate": "2A", "soak": "1h", "cell": "lfp_26650"}]
    assert len(combinations(grid, repeat=3)) == 6
    for bad in (["rate"], ["rate="], ["=1A"], ["rate=1A", "rate=2A"]):
        with pytest.raises(SweepError, match="--grid"):
            parse_grid(bad)


def test_invalid_combination_refused_before_any_task(tmp_path, short_protocol, capsys):
    code = main(["sweep", str(short_protocol), "--grid", "rate=1A,99A", "--out-dir", str(tmp_path / "out"),
                 "--catalog", f"sqlite:///{tmp_path / 'c.sqlite'}"])
    assert code == 2
    assert "rate=99A" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_sweep_on_a_local_cluster(tmp_path, short_protocol, capsys):
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    code = main(["sweep", str(short_protocol), "--grid", "rate=1A,2A", "--grid", "min_discharge_ah=0.3,0.5",
                 "--workers", "2", "--out-dir", str(tmp_path / "out"), "--catalog", url, "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 1  # 1 A for 20 min is 0.33 Ah: that combination misses min_discharge_ah = 0.5
    assert (summary["runs"], summary["workers"]) == (4, 2)
    by_setting = {(r["settings"]["rate"], r["settings"]["min_discharge_ah"]): r for r in summary["results"]}
    assert {k: r["verdict"] for k, r in by_setting.items()} == {
        ("1A", "0.3"): "pass", ("2A", "0.3"): "pass", ("1A", "0.5"): "fail", ("2A", "0.5"): "pass"}
    assert by_setting[("2A", "0.3")]["metrics"]["discharge_capacity_ah"] == pytest.approx(2 * 20 / 60, rel=0.01)
    with Catalog(url) as catalog:
        rows = catalog.list_runs(protocol="sweep_short")
    assert sorted(r["run_file"] for r in rows) == sorted(r["run_file"] for r in summary["results"])
    assert {r["run_id"] for r in rows} == {r["run_id"] for r in summary["results"]}
    with pytest.raises(SweepError, match="already holds run files"):
        run_sweep(str(short_protocol), {"rate": ["1A"]}, out_dir=tmp_path / "out", catalog=url)
