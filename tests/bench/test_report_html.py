"""Per-cycle summaries, dQ/dV and the HTML report page of a short real run with impedance spectra."""

from __future__ import annotations

import struct

import pytest

from bench.analysis.cycles import cycle_table, dqdv, throughput
from bench.cli import main
from bench.engine.runner import execute
from bench.report.html import claims, write_html_report
from bench.report.verdict import build_report
from bench.runfile.reader import RunFile
from bench.simulated.builtin_bench import build_sim_bench, cell_datasheet
from protocols.loader import load_protocol

PROTOCOL = """\
name: short_cycles_eis
cell: {preset: nmc_21700, capacity_ah: 5.0, voltage_max_v: 4.2, voltage_min_v: 2.5, current_max_a: 7.0,
       current_max_charge_a: 3.4}
limits: {stale_data_s: 60}   # the sweep takes ~12 s of bench time without cycler samples
parameters: {cooling: forced air 2 m/s}
steps:
  - Rest for 1 minute
  - EIS from 1 kHz to 1 Hz, 3 points per decade, 10 mV
  - repeat: 2
    steps:
      - Discharge at 1C until 3.4 V
      - Rest for 5 minutes (60 second period)
      - Charge at 0.5C for 30 minutes (10 second period)
      - Rest for 5 minutes (60 second period)
"""


@pytest.fixture(scope="module")
def run_path(tmp_path_factory):
    folder = tmp_path_factory.mktemp("html")
    (folder / "short.yaml").write_text(PROTOCOL, encoding="utf-8")
    protocol = load_protocol(str(folder / "short.yaml"), cell_defaults=cell_datasheet)
    bench = build_sim_bench(protocol.cell.preset, soc=0.6)
    try:
        execute(protocol, bench, folder / "run.h5")
    finally:
        bench.close()
    return folder / "run.h5"


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_cycle_table_and_dqdv_follow_the_step_table(run_path):
    with RunFile(run_path) as run:
        table = cycle_table(run)
        steps = run.steps
        curve = dqdv(run)
    assert [row["cycle"] for row in table] == sorted({s["cycle"] for s in steps})
    for row in table:
        mine = [s for s in steps if s["cycle"] == row["cycle"]]
        # the cycle moved the steps' throughput (their figures at a voltage crossing + what came after)
        assert row["discharge_ah"] == pytest.approx(sum(throughput(s)["discharge_ah"] for s in mine), abs=1e-6)
        assert row["charge_wh"] == pytest.approx(sum(throughput(s)["charge_wh"] for s in mine), abs=1e-6)
        assert row["discharge_capacity_ah"] == pytest.approx(
            sum(s["discharge_ah"] for s in mine if s["discharge_ah"] > s["charge_ah"]), abs=1e-6)
    full = [row for row in table if row["charge_ah"] > 1 and row["discharge_ah"] > 1]
    assert full and all(row["coulombic_efficiency"] == pytest.approx(
        row["discharge_ah"] / row["charge_ah"]) for row in full)
    # dQ/dV of the last discharge to 3.4 V integrates back to the charge it moved
    last = [s for s in steps if s["text"] == "Discharge at 1C until 3.4 V"][-1]
    assert curve["step_count"] == last["step_count"] and curve["direction"] == "discharge"
    area = sum(curve["dqdv_ah_per_v"]) * curve["bin_v"]
    assert area == pytest.approx(last["discharge_ah"], rel=0.05)


def test_html_page_has_plots_claims_with_conditions_and_tables(run_path, tmp_path):
    with RunFile(run_path) as run:
        report = build_report(run)
        curve = dqdv(run)
    page = write_html_report(run_path, tmp_path / "report", report, dqdv=curve)
    text = page.read_text(encoding="utf-8")
    for name in ("overview.png", "capacity.png", "nyquist.png", "dqdv.png"):
        width, height = _png_size(tmp_path / "report" / name)
        assert width >= 800 and height >= 400
        assert f"src='{name}'" in text
    (entry,) = report["eis"]
    assert entry["valid_points"] == 10 and entry["kk_valid"] is True
    sentences = claims(report)
    eis_claim = next(s for s in sentences if s.startswith("Impedance spectrum 0"))
    assert "0.01 V potentiostatic" in eis_claim and "1000-1 Hz" in eis_claim and "SOC" in eis_claim
    assert "Per-cycle summary" in text and "Impedance spectra" in text and "forced air 2 m/s" in text
    assert f"{1000 * entry['r0_ohm']:.3f} mΩ" in text


def test_report_cli_writes_html_and_names_a_bad_directory(run_path, tmp_path, capsys):
    assert main(["report", str(run_path), "--html", str(tmp_path / "page"), "--dqdv"]) == 0
    out = capsys.readouterr()
    assert (tmp_path / "page" / "index.html").exists() and "report page:" in out.err
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main(["report", str(run_path), "--html", str(blocker / "sub")]) == 2
    assert str(blocker / "sub") in capsys.readouterr().err
    assert main(["report", str(run_path), "--dqdv", "999"]) == 2
    assert "no step 999" in capsys.readouterr().err
