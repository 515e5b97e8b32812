"""``bench run`` makes the checks ``bench validate`` makes on the built-in bench: a 50 A step on
the simulated 7.28 A NMC 21700 cell is refused by both with the same line, before any output
(issue 18, item 7)."""

from __future__ import annotations

from bench.cli import main
from bench.simulated.builtin_bench import cell_datasheet, choose_sim_cycler
from protocols.loader import parse_protocol

PROTOCOL = """
name: fifty_amps
cell: {preset: nmc_21700, current_max_a: 50}
limits: {current_max_a: 55}
steps:
  - Discharge at 50 A for 10 s
"""


def test_run_and_validate_refuse_the_same_step_with_the_same_line(tmp_path, capsys):
    path = tmp_path / "fifty_amps.yaml"
    path.write_text(PROTOCOL)
    assert main(["validate", str(path)]) == 2
    validate_err = capsys.readouterr().err
    out = tmp_path / "run.h5"
    assert main(["run", str(path), "--out", str(out), "--no-progress"]) == 2
    run_err = capsys.readouterr().err
    assert run_err == validate_err
    assert "fifty_amps.yaml:6:5" in run_err and "beyond the cycler's range" in run_err
    assert not out.exists()


def test_the_bigger_cycler_is_chosen_only_for_a_cell_that_takes_its_current():
    nmc = parse_protocol(PROTOCOL, file="p.yaml", cell_defaults=cell_datasheet)
    assert choose_sim_cycler(nmc) == "keithley2460"  # the simulated cell is a 7.28 A cell
    lfp = parse_protocol(PROTOCOL.replace("nmc_21700", "lfp_26650").replace("50 A", "40 A"),
                         file="p.yaml", cell_defaults=cell_datasheet)
    assert choose_sim_cycler(lfp) == "maccor_macnet"
