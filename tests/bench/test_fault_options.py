"""``--fault`` options are checked before the run (exit 2, one line), every scheduled and applied
fault is an event, and a fault that never took effect is said in the report and on stderr
(issue 18, item 8)."""

from __future__ import annotations

import pytest

from bench.cli import main
from bench.fault_specs import FaultSpecError, parse_fault_spec
from bench.runfile.reader import RunFile


@pytest.mark.parametrize(("spec", "says"), [
    ("internal_short@2h,resistanc_ohm=0.1", "did you mean 'resistance_ohm'"),
    ("internal_short@2h,resistance_ohm=abc", "is not a number"),
    ("internal_short@2h,resistance_ohm=0", "greater than zero"),
    ("internal_short@2h,resistance_ohm=-1", "greater than zero"),
    ("internal_short@2h,resistance_ohm=5 s", "must be a resistance"),
    ("comms_drop@30min,instrument=foo", "choose one of cycler"),
    ("comms_drop@30min,duration=abc", "is not a number"),
    ("chamber_stuck@1h,resistance_ohm=1", "takes no options"),
    ("thermocouple_open@1h,channel=x", "channel number"),
    ("internal_short@2h,resistance_ohm=1,resistance_ohm=2", "given twice"),
])
def test_bad_options_are_refused_naming_the_problem(spec, says):
    with pytest.raises(FaultSpecError, match=says):
        parse_fault_spec(spec)


def test_good_options_keep_their_si_values():
    assert parse_fault_spec("internal_short@2h,resistance_ohm=20").options == {"resistance_ohm": 20.0}
    assert parse_fault_spec("internal_short@2h,resistance_ohm=50 mΩ").options == {"resistance_ohm": 0.05}
    spec = parse_fault_spec("comms_drop@30min,instrument=chamber,duration=20s")
    assert spec.options == {"instrument": "chamber", "duration": 20.0}


def test_run_refuses_a_misspelt_option_before_anything_runs(tmp_path, capsys):
    out = tmp_path / "run.h5"
    code = main(["run", "capacity_check", "--out", str(out), "--no-progress",
                 "--fault", "internal_short@2h,resistanc_ohm=0.1"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "resistanc_ohm" in err
    assert not out.exists()


PROTOCOL = """
name: fault_events
cell: {preset: nmc_21700}
steps:
  - Charge at C/2 until 4.2 V
  - Rest for 10 minutes
"""


def test_scheduled_applied_and_never_applied_faults_are_recorded(tmp_path, capsys, caplog):
    protocol = tmp_path / "fault_events.yaml"
    protocol.write_text(PROTOCOL)
    out = tmp_path / "run.h5"
    code = main(["run", str(protocol), "--out", str(out), "--no-progress",
                 "--fault", "chamber_stuck@5min", "--fault", "internal_short@soc>=99%,resistance_ohm=20"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    with RunFile(out) as run:
        events = [e for e in run.events if e["kind"].startswith("fault_")]
    kinds = [(e["kind"], e["message"].split(":")[0]) for e in events]
    assert kinds[:2] == [("fault_scheduled", "chamber_stuck@5min"),
                         ("fault_scheduled", "internal_short@soc>=99%,resistance_ohm=20")]
    applied = [e for e in events if e["kind"] == "fault_applied"]
    assert len(applied) == 1 and applied[0]["data"]["kind"] == "chamber_stuck" and applied[0]["time_s"] == 300.0
    missed = [e for e in events if e["kind"] == "fault_not_applied"]
    assert len(missed) == 1 and "soc>=99% never held" in missed[0]["message"]
    assert "FAULT: fault 'internal_short@soc>=99%,resistance_ohm=20' never took effect" in captured.out
    assert any("never took effect" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)
