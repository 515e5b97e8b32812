"""Run files are data (issue 26 item 5, defects 1 and 7).

* ``bench resume`` never executes the Python held in a run file's ``protocol_text``: a Python
  protocol is compiled only from its file on disk, and only when that file's SHA-256 is the one
  the run file recorded; otherwise one line on stderr and exit 2.
* Secrets in the bench TOML (the Arbin CTI ``password``) never reach the run file, the catalog,
  a log line or an export.
"""

from __future__ import annotations

import logging
from pathlib import Path

import h5py
import pytest

from bench.cli import main

pytestmark = pytest.mark.timeout(120)

PY_PROTOCOL = '''\
NAME = "tiny_py"
CELL = {"preset": "nmc_21700"}
SAMPLING = {"period_s": 10}


def protocol(ctx):
    yield "Rest for 1 minute"
    yield "Discharge at 1C for 2 minutes"
'''


def _interrupted_py_run(tmp_path: Path, capsys) -> tuple[Path, Path]:
    """A finished run of a Python protocol whose status is set back to ``running`` (as a kill -9
    leaves it), so that ``bench resume`` gets as far as rebuilding its protocol."""
    protocol = tmp_path / "tiny_py.py"
    protocol.write_text(PY_PROTOCOL, encoding="utf-8")
    run = tmp_path / "run.h5"
    assert main(["run", str(protocol), "--out", str(run), "--no-progress"]) in (0, 1)
    capsys.readouterr()
    with h5py.File(run, "r+") as handle:
        assert handle.attrs["protocol_path"] == str(protocol)
        handle.attrs["status"] = "running"
    return run, protocol


def _plant_code(run: Path, marker: Path) -> None:
    """Replace the run file's copy of the protocol with code that leaves ``marker`` when executed."""
    evil = PY_PROTOCOL + f"\nopen({str(marker)!r}, 'w').write('executed')\n"
    with h5py.File(run, "r+") as handle:
        handle.attrs["protocol_text"] = evil


def test_resume_never_executes_the_run_files_copy_of_a_missing_protocol(tmp_path: Path, capsys) -> None:
    run, protocol = _interrupted_py_run(tmp_path, capsys)
    marker = tmp_path / "executed.txt"
    _plant_code(run, marker)
    protocol.unlink()
    assert main(["resume", str(run), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert not marker.exists(), "the run file's protocol_text was executed"
    assert len(err.strip().splitlines()) == 1 and "not on disk" in err and str(protocol) in err


def test_resume_refuses_a_protocol_file_whose_hash_differs(tmp_path: Path, capsys) -> None:
    run, protocol = _interrupted_py_run(tmp_path, capsys)
    protocol.write_text(PY_PROTOCOL.replace("1 minute", "2 minutes"), encoding="utf-8")
    assert main(["resume", str(run), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "changed since the run started" in err


def test_resume_compiles_the_file_on_disk_not_the_run_files_copy(tmp_path: Path, capsys) -> None:
    run, _protocol = _interrupted_py_run(tmp_path, capsys)
    marker = tmp_path / "executed.txt"
    _plant_code(run, marker)
    main(["resume", str(run), "--no-progress"])   # the run already finished: whatever it ends with
    capsys.readouterr()
    assert not marker.exists(), "the run file's protocol_text was executed"


SECRET = "Zq7-s3cret-Pa55w0rd"


def test_a_bench_password_reaches_no_run_file_catalog_log_or_export(tmp_path: Path, capsys, caplog) -> None:
    """A run over a served Arbin CTI system whose bench TOML holds the CTI password: the password
    logs the driver in (the run gets samples) and is found nowhere afterwards."""
    from bench.simulated.multichannel import serve_multichannel, to_toml

    protocol = tmp_path / "short.yaml"
    protocol.write_text("name: short\ncell: {preset: nmc_21700, capacity_ah: 4.9, voltage_max_v: 4.2, voltage_min_v: 2.5, "
                        "current_max_a: 7}\nsampling: {period_s: 1}\n"
                        "steps:\n  - Rest for 20 seconds\n", encoding="utf-8")
    out, catalog = tmp_path / "run.h5", tmp_path / "catalog.db"
    caplog.set_level(logging.DEBUG)
    with serve_multichannel(1, speed=20.0, cycler="arbin_cti") as servers:
        servers.servers[0].sim.users = {"admin": SECRET}
        config = servers.config
        for entry in config["cycler"]:
            entry["password"] = SECRET
        bench_file = tmp_path / "arbin.toml"
        bench_file.write_text(to_toml(config), encoding="utf-8")
        assert SECRET in bench_file.read_text(encoding="utf-8")
        code = main(["run", str(protocol), "--bench", str(bench_file), "--out", str(out),
                     "--catalog", f"sqlite:///{catalog}", "--no-progress"])
    captured = capsys.readouterr()
    assert code in (0, 1), captured.err
    runs = sorted(tmp_path.glob("run*.h5"))
    assert runs, "no run file"
    export = tmp_path / "run.csv"
    assert main(["export", str(runs[0]), "--format", "bdf-csv", "-o", str(export)]) == 0
    capsys.readouterr()
    with h5py.File(runs[0], "r") as handle:
        assert len(handle["samples"]) > 0   # the password did log the driver in
    places = {str(p): p.read_bytes() for p in [*runs, catalog, export]}
    places["log"] = caplog.text.encode()
    places["stdout+stderr"] = (captured.out + captured.err).encode()
    leaked = [where for where, data in places.items() if SECRET.encode() in data]
    assert leaked == []
