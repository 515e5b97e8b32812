"""A soak that ends outside its band is an event, and the cold-capacity claim that depends on it
is "not tested" (exit 1), never a pass (issue 18, item 6)."""

from __future__ import annotations

import json

import pytest

from bench.cli import main
from bench.runfile.reader import RunFile


@pytest.mark.parametrize("fault", ["chamber_cannot_cool@1h", "chamber_stuck@1h"])
def test_cold_capacity_with_a_chamber_fault_is_not_tested(tmp_path, capsys, fault):
    out = tmp_path / "cold.h5"
    code = main(["run", "cold_capacity", "--fault", fault, "--out", str(out), "--no-progress"])
    assert code == 1
    capsys.readouterr()
    main(["report", str(out), "--json"])
    report = json.loads(capsys.readouterr().out)
    with RunFile(out) as run:
        events = [e for e in run.events if e["kind"] == "soak_out_of_band"]
    assert report["verdict"] == "not tested"
    assert "retention_pct" not in report["metrics"]
    retention = [c for c in report["criteria"] if c["metric"] == "retention_pct"]  # GB/T 70 % and the advertised claim
    assert retention and all(c["passed"] is None for c in retention)
    assert any("soak ended out of band" in reason for reason in report["not_tested"])
    cold = [e for e in events if e["data"]["setpoint_c"] == -20.0]
    assert len(cold) == 1 and cold[0]["data"]["cell_temperature_c"] > 15.0 and cold[0]["data"]["band_k"] == 2.0


def test_a_healthy_cold_run_has_no_out_of_band_soak(tmp_path):
    out = tmp_path / "cold.h5"
    # exit 1: the default cell meets GB/T 31486's 70 % but not the advertised 90 % (a claim, not a threshold)
    assert main(["run", "cold_capacity", "--out", str(out), "--no-progress"]) == 1
    with RunFile(out) as run:
        assert not [e for e in run.events if e["kind"] == "soak_out_of_band"]
