"""``bench run`` (single and multi-channel) and ``bench resume`` register their runs in the catalog."""

from __future__ import annotations

from pathlib import Path

from bench.cli import main
from bench.lab.catalog import Catalog

SHORT = """\
name: catalog_short
cell: {preset: nmc_21700, capacity_ah: 5.0, voltage_max_v: 4.2, voltage_min_v: 2.5, current_max_a: 7.0}
limits: {voltage_max_v: 4.25, voltage_min_v: 2.4, current_max_a: 7.35, temperature_max_c: 60}
sampling: {period_s: 5}
steps:
  - Charge at 0.5C for 10 minutes
  - Rest for 5 minutes
"""


def test_bench_run_registers_its_run_with_status_verdict_and_file(tmp_path: Path) -> None:
    protocol = tmp_path / "catalog_short.yaml"
    protocol.write_text(SHORT, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    out = tmp_path / "run.h5"
    assert main(["run", str(protocol), "--out", str(out), "--no-progress", "--catalog", url]) in (0, 1)
    assert main(["run", str(protocol), "--channels", "2", "--out", str(tmp_path / "multi.h5"), "--no-progress",
                 "--catalog", url]) in (0, 1)
    with Catalog(url) as catalog:
        rows = catalog.list_runs()
    by_file = {Path(r["run_file"]).name: r for r in rows}
    assert set(by_file) == {"run.h5", "multi_ch00.h5", "multi_ch01.h5"}
    single = by_file["run.h5"]
    assert single["protocol"] == "catalog_short" and single["status"] == "completed"
    assert single["verdict"] in ("pass", "fail") and len(single["run_file_sha256"]) == 64
