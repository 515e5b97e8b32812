"""Issue 26 defect 9: fault events. A link fault records ``fault_applied`` when it first meets a
message; one that no message met is reported as never taking effect; the ``fault_applied`` time
is taken in the run's test time from the world's clock at the instant it applied, so it is never
after the trip it caused (at ``--speed 500`` setting up the run takes ~40 s of world time)."""

from __future__ import annotations

import json

from bench.cli import main
from bench.runfile.reader import RunFile

PROTOCOL = """name: fault_events
cell: {preset: nmc_21700}
sampling: {period_s: 1}
steps:
  - Discharge at 1C for 4 minutes
  - Rest for 15 minutes
"""


def _run(tmp_path, capsys, *args: str) -> tuple[int, list[dict], dict]:
    protocol = tmp_path / "p.yaml"
    protocol.write_text(PROTOCOL)
    out = tmp_path / "run.h5"
    code = main(["run", str(protocol), "--out", str(out), "--no-progress", "--observe", "10s", *args])
    capsys.readouterr()
    assert main(["report", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    with RunFile(out) as run:
        return code, run.events, report


def test_a_link_fault_records_when_it_applied(tmp_path, capsys):
    code, events, _ = _run(tmp_path, capsys, "--fault", "comms_drop@60s,instrument=cycler,duration=3s")
    assert code == 0
    (applied,) = [e for e in events if e["kind"] == "fault_applied"]
    assert applied["data"]["kind"] == "comms_drop" and 60.0 <= applied["time_s"] <= 62.0
    assert not [e for e in events if e["kind"] == "fault_not_applied"]


def test_a_chamber_link_drop_nobody_talked_through_never_took_effect(tmp_path, capsys):
    code, events, report = _run(tmp_path, capsys, "--fault", "comms_drop@60s,instrument=chamber,duration=600s")
    assert code == 0
    assert not [e for e in events if e["kind"] == "fault_applied"]
    (missed,) = [e for e in events if e["kind"] == "fault_not_applied"]
    assert "never took effect" in missed["message"] and "chamber" in missed["message"]
    assert report["faults_not_applied"] == [missed["message"]]


def test_at_speed_500_a_fault_is_applied_before_the_trip_it_causes(tmp_path, capsys):
    code, events, report = _run(tmp_path, capsys, "--speed", "500",
                                "--fault", "internal_short@120s,resistance_ohm=0.01")
    assert code == 3
    (applied,) = [e for e in events if e["kind"] == "fault_applied"]
    trip = report["safety_events"][0]
    assert 120.0 <= applied["time_s"] <= trip["time_s"], (applied["time_s"], trip["time_s"])
