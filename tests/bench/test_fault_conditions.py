"""Faults scheduled by a condition on the simulated cell (``--fault KIND@soc>=90%``)."""

from __future__ import annotations

import pytest

from bench.cli import main
from bench.fault_specs import FaultSpecError, parse_fault_spec
from bench.runfile.reader import RunFile


def test_condition_specs_parse_and_bad_ones_are_refused():
    spec = parse_fault_spec("internal_short@soc>=90%,resistance_ohm=0.1")
    assert spec.condition == ("soc", ">=", pytest.approx(0.9)) and spec.options["resistance_ohm"] == 0.1
    assert parse_fault_spec("thermocouple_open@temperature_c>30").condition == ("temperature_c", ">", 30.0)
    with pytest.raises(FaultSpecError, match="give comms_drop a time"):
        parse_fault_spec("comms_drop@soc>=0.9")
    with pytest.raises(FaultSpecError, match="'internal_short@banana'"):
        parse_fault_spec("internal_short@banana")


def test_short_injected_when_the_charging_cell_reaches_90_percent(tmp_path):
    out = tmp_path / "short.h5"
    code = main(["run", "capacity_check", "--fault", "internal_short@soc>=90%,resistance_ohm=0.1",
                 "--observe", "10min", "--out", str(out), "--no-progress"])
    assert code == 3
    with RunFile(out) as run:
        trip = next(e for e in run.events if e["kind"] == "safety_trip")
        charge = next(s for s in run.steps if s["text"].startswith("Charge"))
        hold = next((s for s in run.steps if s["text"].startswith("Hold")), None)
    assert trip["data"]["rule"].startswith("internal_short")
    # the cell started at 50 % SOC: 90 % comes late in the charge (the 0.5C CC phase ends at
    # 4.2 V near 90 % since the charge was calibrated on the DFN charges, so at the end of CC or
    # in the CV hold), never before 40 % of the cell's true capacity (4.921 Ah) went in
    last = charge if hold is None else hold
    assert charge["start_time_s"] + 0.4 * 4.9 / 2.5 * 3600 < trip["time_s"] <= last["end_time_s"]
    assert last["end_reason"] == "safety trip: internal_short"
