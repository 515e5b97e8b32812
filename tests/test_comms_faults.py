"""Communication faults on the simulated bench: the run ends with exit 4, the bench is safed,
the error names the instrument, and every sample before the fault stays in the run file."""

from __future__ import annotations

import pytest

from bench.cli import main
from bench.runfile.reader import RunFile

PROTOCOL = """name: comms
cell: {preset: nmc_21700}
steps:
  - Discharge at 1 A for 2 hours
"""


@pytest.mark.parametrize("fault, instrument", [
    ("comms_drop@30min,instrument=cycler,duration=20s", "cycler"),
    ("comms_garbled@30min,instrument=thermometer,duration=5s", "thermometer"),
    ("comms_disconnect@30min,instrument=cycler", "cycler"),
])
def test_comms_fault_safes_the_bench_and_keeps_the_data(tmp_path, capsys, fault, instrument):
    path = tmp_path / "comms.yaml"
    path.write_text(PROTOCOL)
    out = tmp_path / "comms.h5"
    assert main(["run", str(path), "--fault", fault, "--out", str(out), "--no-progress"]) == 4
    with RunFile(out) as run:
        attrs, events = run.attrs, run.events
        time_s = run.column("Test Time / s")
    assert attrs["status"] == "instrument_failure" and attrs["status_message"].startswith(instrument)
    safe = next(e for e in events if e["kind"] == "safe_state")
    assert instrument in safe["message"]
    # every second of the half hour before the fault is in the file
    assert time_s[0] == 0.0 and time_s[-1] >= 1799.0 and len(time_s) >= 1800
