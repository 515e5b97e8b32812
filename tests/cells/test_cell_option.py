"""One way to name the cell: ``--cell NAME|FILE`` (alias ``--set cell=``), the bench TOML's ``[cell]``,
per channel ``[[cycler]] cell``; the protocol's block and ``--set cell.X=`` override single numbers;
``bench validate`` shows where each number came from; no cell named on a bench file is one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main

BENCH = """[cycler]
driver = "keithley2460"
resource = "TCPIP::127.0.0.1::1::SOCKET"

[chamber]
driver = "espec_p300"
resource = "socket://127.0.0.1:2"
"""


def _bench(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "lab.toml"
    path.write_text(BENCH + extra, encoding="utf-8")
    return path


def test_a_bench_with_no_cell_named_says_how_to_name_one_and_runs_nothing(tmp_path: Path, capsys) -> None:
    bench = _bench(tmp_path)
    out = tmp_path / "run.h5"
    assert main(["run", "capacity_check", "--bench", str(bench), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no cell named: pass --cell NAME|FILE or add [cell]" in err[0] and str(bench) in err[0]
    assert not out.exists()


def test_validate_on_a_bench_file_shows_where_each_number_came_from(tmp_path: Path, capsys) -> None:
    bench = _bench(tmp_path, '\n[cell]\nname = "lg_inr21700_m50"\ncurrent_max_a = 5.0\n')
    assert main(["validate", "capacity_check", "--bench", str(bench), "--set", "cell.mass_kg=0.07"]) == 0
    out = capsys.readouterr().out
    assert "cell lg_inr21700_m50" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ") and len(line.split()) > 2}
    assert "p. 4" in lines["capacity_ah"] and "INR21700 M50" in lines["capacity_ah"]
    assert "lab.toml [cell] current_max_a" in lines["current_max_a"]
    assert "--set cell.mass_kg=0.07" in lines["mass_kg"]


def test_cell_option_beats_the_bench_cell_and_set_cell_is_its_alias(tmp_path: Path, capsys) -> None:
    bench = _bench(tmp_path, '\n[cell]\nname = "lg_inr21700_m50"\n')
    for argv in (["--cell", "lfp_26650"], ["--set", "cell=lfp_26650"]):
        assert main(["validate", "capacity_check", "--bench", str(bench), *argv]) == 0
        out = capsys.readouterr().out
        assert "cell lfp_26650 2.3 Ah 2-3.6 V" in out


def test_a_datasheet_file_names_the_cell(tmp_path: Path, capsys) -> None:
    sheet = tmp_path / "ours.yaml"
    sheet.write_text("name: ours\nmaker: Lab\nmodel: L1\nchemistry: NMC\nform_factor: pouch\n"
                     "document: class member, not a product\n"
                     "rating: {capacity_ah: 3, voltage_max_v: 4.2, voltage_min_v: 3, charge_current_max_a: 1.5,"
                     " discharge_current_max_a: 3}\n", encoding="utf-8")
    bench = _bench(tmp_path, '\n[cell]\nfile = "ours.yaml"\n')  # relative to the bench file
    assert main(["validate", "capacity_check", "--bench", str(bench)]) == 0
    assert "cell ours 3 Ah 3-4.2 V" in capsys.readouterr().out
    assert main(["validate", "capacity_check", "--bench", str(_bench(tmp_path)), "--cell", str(sheet)]) == 0
    assert "3 Ah 3-4.2 V" in capsys.readouterr().out


def test_cells_dir_of_the_bench_file_is_searched(tmp_path: Path, capsys) -> None:
    (tmp_path / "cells").mkdir()
    (tmp_path / "cells" / "x.yaml").write_text(
        "name: lab_x\nmaker: Lab\nmodel: X\nchemistry: LFP\nform_factor: prismatic\n"
        "document: class member, not a product\n"
        "rating: {capacity_ah: 4, voltage_max_v: 3.65, voltage_min_v: 2.5, charge_current_max_a: 2,"
        " discharge_current_max_a: 4}\n", encoding="utf-8")
    bench = _bench(tmp_path, '\n[bench]\ncells_dir = "cells"\n\n[cell]\nname = "lab_x"\n')
    assert main(["validate", "capacity_check", "--bench", str(bench)]) == 0
    assert "cell lab_x 4 Ah" in capsys.readouterr().out
    assert main(["cells", "list", "--bench", str(bench)]) == 0
    assert "lab_x" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "message"), [
    (["--cell", "nosuch"], "--cell nosuch: no cell datasheet 'nosuch'"),
    (["--cell", "a123_anr26650m1b"], "has no simulator preset on the built-in bench; presets: lfp_26650"),
    (["--set", "cell.capacity=5"], "--set cell.capacity: no such cell number"),
])
def test_bad_cell_names_are_one_line_exit_2(argv: list[str], message: str, capsys) -> None:
    assert main(["validate", "capacity_check", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_the_builtin_bench_takes_a_datasheet_a_preset_models() -> None:
    import argparse

    from bench.commands.cellopts import cell_resolver
    from protocols.loader import load_protocol
    protocol = load_protocol("capacity_check", {}, cell=cell_resolver(argparse.Namespace(cell="lg_inr21700_m50"), {}, None))
    assert protocol.cell.preset == "nmc_21700" and protocol.cell.datasheet == "lg_inr21700_m50"
    assert protocol.cell.current_max_a == 7.275  # the datasheet's 1.5C of 4850 mAh


def test_bench_cells_validate_lists_every_problem(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nrating: {capacity_ah: x}\n", encoding="utf-8")
    assert main(["cells", "validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2:23: rating.capacity_ah must be a number" in err and err.count("bench: error:") >= 5
    assert main(["cells", "validate"]) == 0
    shipped = Path(__file__).parents[2] / "cells" / "datasheets"
    assert capsys.readouterr().out.count("ok ") == len(list(shipped.glob("*.yaml")))  # every shipped sheet


MULTI = """
[[cycler]]
driver = "keithley2460"
resource = "TCPIP::127.0.0.1::1::SOCKET"
thermometer = 0
thermocouple = 101
cell = "lfp_26650"

[[cycler]]
driver = "keithley2460"
resource = "TCPIP::127.0.0.1::2::SOCKET"
thermometer = 0
thermocouple = 102
cell = "lg_inr21700_m50"

[[thermometer]]
driver = "keysight_daq970a"
resource = "TCPIP::127.0.0.1::3::SOCKET"
air_channel = 320

[chamber]
driver = "espec_p300"
resource = "socket://127.0.0.1:4"
"""


def test_each_channel_of_a_multichannel_bench_names_its_cell_and_cell_option_names_them_all(tmp_path: Path) -> None:
    import argparse

    from bench.commands.run_channels import channel_protocols
    from bench.config import load_bench_config

    path = tmp_path / "multi.toml"
    path.write_text(MULTI, encoding="utf-8")
    config = load_bench_config(path)
    per_channel = channel_protocols(argparse.Namespace(cell=None, protocol="capacity_check"), {}, config)
    assert [(p.cell.datasheet, p.cell.capacity_ah) for p in per_channel] == [("lfp_26650", 2.3),
                                                                             ("lg_inr21700_m50", 5.0)]
    every = channel_protocols(argparse.Namespace(cell="xfc_nmc_pouch", protocol="capacity_check"), {}, config)
    assert {p.cell.datasheet for p in every} == {"xfc_nmc_pouch"} and every[0] is every[1]
