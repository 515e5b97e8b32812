"""``bench run`` delegated on a served Arbin and a served Maccor (issue 29 item 4), as a lab runs it:
the systems on loopback TCP (``serve_multichannel(cycler="arbin_schedule" | "maccor_procedure")``, what
``bench sim serve`` serves), the bench config they write, the production runner: the protocol compiled
to the vendor's file, uploaded / sent, started, polled and supervised, its claim judged."""

from __future__ import annotations

import pytest

from bench.cli import main
from bench.runfile.reader import RunFile
from bench.simulated.multichannel import serve_multichannel, to_toml

pytestmark = pytest.mark.timeout(180)
PROTOCOL = """\
name: delegated_vendor
description: A rest, a 1 A discharge for 5 minutes and a rest, on a cycler that runs its own file.
cell: {preset: nmc_21700}
sampling:
  period_s: 1
steps:
  - Rest for 1 minute
  - Discharge at 1 A for 5 minutes
  - Rest for 1 minute
claims:
  - name: charge counted from the cycler's records
    claim: discharge_capacity_ah >= 0.0825
    source: 1 A for 300 s is 0.0833 Ah; at least 99 % of it counted
"""


@pytest.mark.parametrize("driver, fmt", [
    ("arbin_schedule", "arbin_schedule"),
    ("maccor_procedure", "maccor_procedure"),
])
def test_a_protocol_runs_delegated_on_the_served_system_with_its_claim(driver, fmt, tmp_path, capsys):
    (tmp_path / "p.yaml").write_text(PROTOCOL)
    with serve_multichannel(1, speed=100.0, cycler=driver) as served:
        (tmp_path / "b.toml").write_text(to_toml(served.config))
        code = main(["run", str(tmp_path / "p.yaml"), "--bench", str(tmp_path / "b.toml"),
                     "--out", str(tmp_path / "run.h5"), "--no-progress"])
        assert code == 0, capsys.readouterr()
    with RunFile(tmp_path / "run_ch00.h5") as run:
        attrs, events = run.attrs, run.events
        times = run.column("Test Time / s")
    assert (attrs["execution"], attrs["step_format"], attrs["status"]) == ("delegated", fmt, "completed")
    assert [e["kind"] for e in events].count("step_end") == 3 and times[-1] >= 419.0
