"""``bench validate``: step tree, estimated duration and Ah for a valid protocol; one
``file:line:col: message (suggestion)`` line and exit 2 otherwise."""

from __future__ import annotations

from bench.cli import main

CELL = "cell: {capacity_ah: 5, voltage_max_v: 4.2, voltage_min_v: 2.5, current_max_a: 7}\n"


def test_valid_protocol_prints_tree_and_estimates(tmp_path, capsys):
    path = tmp_path / "life.yaml"
    path.write_text("name: life\ncell: {preset: nmc_21700}\nsteps:\n  - Charge at 0.5C until 4.2 V\n"
                    "  - Hold at 4.2 V until C/20\n  - step: Discharge at 1C until 2.5 V\n"
                    "    record: {reference_ah: discharge_ah}\n  - repeat: 100\n"
                    "    until: discharge capacity < 80 % of reference_ah\n"
                    "    steps: [Charge at 0.5C until 4.2 V, Discharge at 1C until 2.5 V]\n")
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "life: valid" in out and "[2] line   6  Discharge at 1C until 2.5 V" in out
    assert "-> reference_ah = discharge_ah" in out
    assert "repeat 100, until discharge capacity < 80 % of reference_ah" in out and "x100" in out
    assert "estimated duration: ~" in out and "203 steps, 101 cycle(s)" in out
    assert "estimated throughput:" in out and "an estimate" in out


def test_shipped_protocol_and_python_protocol(tmp_path, capsys):
    assert main(["validate", "capacity_check"]) == 0
    out = capsys.readouterr().out
    assert "[4] line" in out and "estimated duration: ~" in out
    path = tmp_path / "gen.py"
    path.write_text('CELL = {"preset": "nmc_21700"}\n\ndef protocol(ctx):\n    for n in range(100):\n'
                    '        ctx.next_cycle()\n        yield "Discharge at 1C for 1 minute"\n'
                    '        yield "Charge at 0.5C for 2 minutes"\n')
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "cycle 1   line   6  Discharge at 1C for 1 minute" in out and "  ...\n" in out
    assert "200 steps, 100 cycle(s)" in out


def test_errors_are_one_line_with_place_and_suggestion(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("cell: {preset: nmc_21700}\nsteps:\n  - Rest for 1 minute\n  - Discharge at 1C untill 2.5 V\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}:4:" in err
    path.write_text("cell: {preset: nmc_21700}\nsteps:\n  - EIS from 10 kHz to 1 Hz, 10 points per decade, 5 mA\n")
    assert main(["validate", str(path)]) == 2
    assert f"{path}:3:5: " in capsys.readouterr().err  # beyond the simulated analyzer's range
    bench = tmp_path / "lab.toml"
    bench.write_text('[cycler]\ndriver = "keithley2450"\nresource = "TCPIP::192.0.2.1::5025::SOCKET"\n')
    path.write_text(CELL + "steps:\n  - Discharge at 2 A for 1 minute\n  - Soak at 5 °C for 1 hour\n")
    assert main(["validate", str(path), "--bench", str(bench)]) == 2
    assert "2 A is beyond the cycler's range ±1.05 A" in capsys.readouterr().err
    path.write_text(CELL + "steps:\n  - Soak at 5 °C for 1 hour\n")
    assert main(["validate", str(path), "--bench", str(bench)]) == 2
    assert "has no thermal chamber (bind a [chamber] in the bench config)" in capsys.readouterr().err
