"""The CLI contract: exit codes and one-line errors naming where."""

from __future__ import annotations

import json

from bench.cli import main


def test_protocol_typo_exits_2_with_file_and_line(tmp_path, capsys):
    path = tmp_path / "typo.yaml"
    path.write_text("name: t\ncell: {preset: nmc_21700}\nsteps:\n  - Rest for 1 minute\n  - Dischrage at 1C until 2.5 V\n")
    code = main(["run", str(path), "--out", str(tmp_path / "r.h5"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0
    assert f"{path}:5:5: unknown step 'Dischrage' (did you mean 'Discharge'?)" in err
    assert not (tmp_path / "r.h5").exists()


def test_setpoint_beyond_the_cell_exits_2(tmp_path, capsys):
    path = tmp_path / "big.yaml"
    path.write_text("cell: {preset: nmc_21700}\nsteps:\n  - Charge at 20 A for 1 minute\n")
    assert main(["validate", str(path)]) == 2
    assert "big.yaml:3:5" in capsys.readouterr().err


def test_unknown_parameter_and_missing_file(tmp_path, capsys):
    assert main(["run", "capacity_check", "--set", "rat=1C", "--out", str(tmp_path / "x.h5")]) == 2
    assert "did you mean 'rate'?" in capsys.readouterr().err
    assert main(["run", "capacity_chek"]) == 2
    assert "did you mean 'capacity_check'?" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "none.h5")]) == 2


def test_run_and_report_json(tmp_path, capsys):
    path = tmp_path / "quick.yaml"
    path.write_text("name: quick\ncell: {preset: nmc_21700}\nparameters: {rate: 1C}\nsteps:\n"
                    "  - Discharge at {rate} for 20 minutes\npass: [discharge_capacity_ah >= 1.5]\n")
    out = tmp_path / "q.h5"
    assert main(["run", str(path), "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["report", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"protocol", "verdict", "conditions", "metrics", "safety_events"} <= set(report)
    assert report["verdict"] == "pass" and report["protocol"] == "quick"
    # the same run with a stricter criterion fails with exit 1
    assert main(["run", str(path), "--out", str(tmp_path / "q2.h5"), "--set", "rate=C/2", "--no-progress"]) == 1
