"""bench export: BDF CSV and Parquet from a real simulated run, EIS spectra and metadata."""

from __future__ import annotations

import csv
import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from bench.cli import main
from bench.runfile.export import BDF_ORDER, EIS_COLUMNS, ExportError, export_run
from bench.runfile.reader import RunFile
from bench.runfile.writer import RunWriter
from sim_instruments.cell.impedance_spectrum import impedance_ohm


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    """A short run on the simulated bench: charge, rest, discharge (current changes sign)."""
    from bench.engine.runner import execute
    from bench.simulated.builtin_bench import build_sim_bench
    from protocols.loader import parse_protocol

    path = tmp_path_factory.mktemp("export") / "run.h5"
    protocol = parse_protocol(
        "name: signs\ncell: {capacity_ah: 5, voltage_max_v: 4.2, voltage_min_v: 2.5, current_max_a: 7}\n"
        "steps:\n  - Charge at 1 A for 5 minutes\n  - Rest for 2 minutes\n  - Discharge at 2 A for 5 minutes\n",
        file="signs.yaml")
    bench = build_sim_bench("nmc_21700", soc=0.5)
    try:
        execute(protocol, bench, path, operator="tech")
    finally:
        bench.close()
    return path


def _eis_run(path):
    """A run file holding two impedance spectra of a Randles-type cell (plus a few samples)."""
    freqs = np.logspace(3, -1, 21)
    with RunWriter(path, {"protocol": "eis", "status": "completed"}) as writer:
        for i in range(3):
            writer.append_sample_row((float(i), 1.7e9 + i, 3.7, 0.0, 0.0, 1, 1, 0) + (0.0,) * 5 + (25.0, float("nan")))
        for spectrum, (r0, rct) in enumerate([(0.020, 0.015), (0.024, 0.021)]):
            z = impedance_ohm(freqs, r0, [(rct, 1e-3, 0.9)], 0.004)
            writer.append("eis/spectra", (spectrum, 100.0 * spectrum, 1, 2 + spectrum, 25.0, 0.5, 0.005, "galvanostatic"))
            for f, zi in zip(freqs, z, strict=True):
                writer.append("eis/points", (spectrum, f, zi.real, zi.imag), flush=False)
    return freqs


def test_bdf_csv_has_the_labels_units_and_sign_convention(real_run, tmp_path):
    out = tmp_path / "x.bdf.csv"
    result = export_run(real_run, "bdf-csv", out)
    with open(out, newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    assert header[:3] == ["Test Time / s", "Voltage / V", "Current / A"]  # BDF required, first
    assert header[3:7] == ["Unix Time / s", "Cycle Count / 1", "Step Count / 1", "Ambient Temperature / degC"]
    assert set(header) <= set(BDF_ORDER)
    with RunFile(real_run) as run:
        samples = run.samples
    assert len(body) == len(samples) == result.rows
    col = {name: np.array([float(r[i]) if r[i] else np.nan for r in body]) for i, name in enumerate(header)}
    for name in header:  # every value round-trips exactly (shortest repr floats)
        np.testing.assert_array_equal(col[name], samples[name].astype(float))
    current, step = col["Current / A"], col["Step Count / 1"]
    assert np.all(current[(step == 1)][1:] > 0.99)  # charging: positive
    assert np.all(current[(step == 3)][1:] < -1.99)  # discharging: negative
    meta = json.loads(result.metadata_path.read_text())
    assert meta["protocol"] == "signs" and meta["operator"] == "tech" and meta["rows"] == len(body)
    assert meta["conventions"]["current_sign"].startswith("positive when charging")
    assert "MODEL 2460" in meta["instruments"]["cycler"]
    assert result.eis_path is None and not (tmp_path / "x.eis.csv").exists()


def test_bdf_parquet_matches_the_run_file(real_run, tmp_path):
    result = export_run(real_run, "bdf-parquet", tmp_path / "x.bdf.parquet")
    table = pq.read_table(result.samples_path)
    with RunFile(real_run) as run:
        samples = run.samples
    assert table.column_names[:3] == ["Test Time / s", "Voltage / V", "Current / A"]
    assert table.num_rows == len(samples)
    for name in table.column_names:
        np.testing.assert_array_equal(table.column(name).to_numpy(zero_copy_only=False), samples[name])
    assert str(table.schema.field("Cycle Count / 1").type) == "int32"
    meta = json.loads(table.schema.metadata[b"cellbench"])
    assert meta["protocol"] == "signs"


@pytest.mark.parametrize("fmt", ["bdf-csv", "bdf-parquet"])
def test_eis_spectra_are_exported_with_their_conditions(tmp_path, fmt):
    run = tmp_path / "eis.h5"
    freqs = _eis_run(run)
    result = export_run(run, fmt)
    assert result.samples_path.name == ("eis.bdf.csv" if fmt == "bdf-csv" else "eis.bdf.parquet")
    assert result.eis_path is not None and result.eis_points == 42
    if fmt == "bdf-csv":
        with open(result.eis_path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        get = {name: np.array([float(r[name]) for r in rows]) for name in EIS_COLUMNS}
        # the missing ambient temperature of the samples is an empty field, not "nan"
        sample_rows = list(csv.DictReader(open(result.samples_path, newline="")))
        assert sample_rows[0]["Ambient Temperature / degC"] == ""
    else:
        table = pq.read_table(result.eis_path)
        get = {name: table.column(name).to_numpy() for name in EIS_COLUMNS}
        assert pq.read_table(result.samples_path).column("Ambient Temperature / degC").null_count == 3
    second = get["Spectrum Index / 1"] == 1
    np.testing.assert_allclose(get["Frequency / Hz"][second], freqs)
    z = impedance_ohm(freqs, 0.024, [(0.021, 1e-3, 0.9)], 0.004)
    np.testing.assert_allclose(get["Z Real / Ohm"][second], z.real)
    np.testing.assert_allclose(get["Z Imaginary / Ohm"][second], z.imag)
    np.testing.assert_allclose(get["Absolute Impedance / Ohm"][second], np.abs(z))
    assert np.all(get["Test Time / s"][second] == 100.0) and np.all(get["Cycle Count / 1"][second] == 3)
    assert json.loads(result.metadata_path.read_text())["eis_file"] == result.eis_path.name


def test_export_cli_and_errors(real_run, tmp_path, capsys):
    out = tmp_path / "cli.bdf.csv"
    assert main(["export", str(real_run), "--format", "bdf-csv", "-o", str(out)]) == 0
    assert "BDF columns" in capsys.readouterr().out and out.exists()
    assert main(["export", str(real_run), "--format", "bdf-csv", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cli.bdf.csv: exists" in err
    assert main(["export", str(real_run), "--format", "bdf-csv", "-o", str(out), "--force"]) == 0
    capsys.readouterr()
    assert main(["export", str(tmp_path / "none.h5"), "--format", "bdf-csv"]) == 2
    assert "none.h5: no such run file" in capsys.readouterr().err
    with pytest.raises(ExportError, match="unknown format"):
        export_run(real_run, "xlsx")


def test_csv_without_pyarrow_gives_the_same_values(real_run, tmp_path, monkeypatch):
    fast = export_run(real_run, "bdf-csv", tmp_path / "fast.bdf.csv")
    monkeypatch.setitem(__import__("sys").modules, "pyarrow", None)  # import pyarrow -> ImportError
    slow = export_run(real_run, "bdf-csv", tmp_path / "slow.bdf.csv")
    with pytest.raises(ExportError, match="needs pyarrow"):
        export_run(real_run, "bdf-parquet", tmp_path / "p.bdf.parquet")
    a = list(csv.reader(open(fast.samples_path, newline="")))
    b = list(csv.reader(open(slow.samples_path, newline="")))
    assert a[0] == b[0] and len(a) == len(b) == fast.rows + 1
    assert all(float(x or "nan") == float(y or "nan") or (x == y == "") for ra, rb in zip(a[1:], b[1:], strict=True)
               for x, y in zip(ra, rb, strict=True))
