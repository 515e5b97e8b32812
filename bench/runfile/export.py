"""Export a run file as Battery Data Format (BDF) files: CSV or Parquet, plus EIS and metadata.

BDF (Battery Data Alliance, Linux Foundation Energy) fixes the column labels and units of cycler
time series: required ``Test Time / s``, ``Voltage / V``, ``Current / A``; recommended
``Unix Time / s``, ``Cycle Count / 1``, ``Step Count / 1``, ``Ambient Temperature / degC``;
optional ``Step Index / 1``, capacities, energies, ``Power / W``, ``Surface Temperature T1 /
degC``... The header row carries the preferred labels, one file holds one cell, and metadata
goes in a parallel file. Current is positive when charging, as in the run file, so no sign
change is needed (the run file's convention is the BDF one).

Files written for ``runs/x.h5`` (``-o`` names the first; the others take its stem):

* ``x.bdf.csv`` or ``x.bdf.parquet``: the samples, BDF labels, missing values empty / null;
* ``x.eis.csv`` or ``x.eis.parquet`` (only if the run measured impedance): one row per point,
  with its spectrum's index, time, cycle and step. BDF has no impedance table yet; the labels
  follow its style (``Frequency / Hz``, ``Z Real / Ohm``, ``Z Imaginary / Ohm``);
* ``x.metadata.json``: provenance (protocol, cell, instruments, start time, status), the
  column list and the conventions.

Rows are streamed in chunks, so a month-long run exports in bounded memory.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from bench.runfile.h5open import open_swmr_reader
from bench.runfile.reader import RunFile, RunFileError

logger = logging.getLogger(__name__)

FORMATS = ("bdf-csv", "bdf-parquet")
#: Rows per chunk read from the run file and written out.
CHUNK_ROWS = 200_000

#: BDF order: required, recommended, then optional quantities (labels as in the run file).
BDF_ORDER = (
    "Test Time / s", "Voltage / V", "Current / A",
    "Unix Time / s", "Cycle Count / 1", "Step Count / 1", "Ambient Temperature / degC",
    "Step Index / 1", "Step Capacity / Ah", "Charging Capacity / Ah", "Discharging Capacity / Ah",
    "Charging Energy / Wh", "Discharging Energy / Wh", "Power / W", "Surface Temperature T1 / degC",
)

EIS_COLUMNS = (
    "Spectrum Index / 1", "Test Time / s", "Cycle Count / 1", "Step Count / 1",
    "Surface Temperature T1 / degC", "Frequency / Hz", "Z Real / Ohm", "Z Imaginary / Ohm",
    "Absolute Impedance / Ohm", "Phase Angle / deg",
)


class ExportError(ValueError):
    """Export not possible (message names the file or the missing package)."""


@dataclass
class ExportResult:
    """Files written by :func:`export_run` and their row counts."""

    samples_path: Path
    rows: int
    metadata_path: Path
    eis_path: Path | None = None
    eis_points: int = 0
    columns: list[str] = field(default_factory=list)


def sample_columns(available: tuple[str, ...]) -> list[str]:
    """The run file's sample columns in BDF order (unknown extra columns appended)."""
    ordered = [name for name in BDF_ORDER if name in available]
    return ordered + [name for name in available if name not in ordered]


def default_output(run_path: str | Path, fmt: str) -> Path:
    """``runs/x.h5`` -> ``runs/x.bdf.csv`` / ``runs/x.bdf.parquet``."""
    run_path = Path(run_path)
    return run_path.with_name(run_path.stem + (".bdf.csv" if fmt == "bdf-csv" else ".bdf.parquet"))


def _stem(path: Path) -> Path:
    name = path.name
    for suffix in (".bdf.csv", ".bdf.parquet", ".bdf", ".csv", ".parquet"):
        if name.endswith(suffix):
            return path.with_name(name[: -len(suffix)])
    return path


def export_run(run_path: str | Path, fmt: str, output: str | Path | None = None, *,
               overwrite: bool = False) -> ExportResult:
    """Write the BDF files of ``run_path``; see the module docstring for names and contents."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose {' or '.join(FORMATS)}")
    out = Path(output) if output is not None else default_output(run_path, fmt)
    stem = _stem(out)
    ext = ".csv" if fmt == "bdf-csv" else ".parquet"
    eis_out = stem.with_name(stem.name + ".eis" + ext)
    meta_out = stem.with_name(stem.name + ".metadata.json")
    if fmt == "bdf-parquet":
        _require_pyarrow()
    with RunFile(run_path) as run, open_swmr_reader(run.path) as handle:
        spectra = run.guarded("table /eis/spectra", lambda: handle["eis/spectra"][()]) \
            if "eis/spectra" in handle else np.empty(0)
        targets = [out, meta_out] + ([eis_out] if len(spectra) else [])
        for target in targets:
            if target.exists() and not overwrite:
                raise ExportError(f"{target}: exists (use --force to replace it)")
        out.parent.mkdir(parents=True, exist_ok=True)
        dataset = handle["samples"]
        columns = sample_columns(tuple(dataset.dtype.names or ()))
        trusted = run.trusted_rows()
        n = dataset.shape[0] if trusted is None else min(dataset.shape[0], trusted)
        try:  # all files or none: a failure removes what this export wrote
            chunks = _sample_chunks(run, dataset, columns, n)
            rows = _write_csv(out, columns, chunks) if fmt == "bdf-csv" else _write_parquet(
                out, columns, chunks, _metadata(run, columns, None))
            eis_points = 0
            if len(spectra):
                eis = _eis_columns(spectra, run.guarded("table /eis/points", lambda: handle["eis/points"][()]))
                eis_points = len(eis[EIS_COLUMNS[0]])
                one = iter([eis])
                if fmt == "bdf-csv":
                    _write_csv(eis_out, list(EIS_COLUMNS), one)
                else:
                    _write_parquet(eis_out, list(EIS_COLUMNS), one, {"source": str(run.path)})
            meta = _metadata(run, columns, eis_out.name if len(spectra) else None)
            meta.update({"rows": rows, "samples_file": out.name, "eis_points": eis_points})
            tmp = meta_out.with_name(meta_out.name + ".partial")
            # strict JSON: a NaN or infinity (an unmeasured figure) is null, never a bare NaN
            tmp.write_text(json.dumps(strict_json(meta), indent=2, default=str, allow_nan=False) + "\n")
            tmp.replace(meta_out)
        except BaseException:
            for target in targets:
                target.unlink(missing_ok=True)
            raise
    logger.info("exported %s: %d rows -> %s", run_path, rows, out)
    return ExportResult(out, rows, meta_out, eis_out if len(spectra) else None, eis_points, columns)


def _sample_chunks(run: RunFile, dataset: h5py.Dataset, columns: list[str], n: int) -> Iterator[dict[str, np.ndarray]]:
    """The first ``n`` (trustworthy) rows in blocks; a read error is a DamagedRunFileError."""
    for start in range(0, max(n, 1), CHUNK_ROWS):  # one (empty) chunk for a run without samples
        stop = min(n, start + CHUNK_ROWS)

        def rows(a: int = start, b: int = stop) -> np.ndarray:
            return dataset[a:b]

        block = run.guarded(f"/samples rows {start}-{stop - 1}", rows)
        yield {name: block[name] for name in columns}


def _eis_columns(spectra: np.ndarray, points: np.ndarray) -> dict[str, np.ndarray]:
    """One row per impedance point with its spectrum's time, cycle, step and temperature."""
    by_index = {int(s["spectrum"]): s for s in spectra}
    known = np.array([int(p) in by_index for p in points["spectrum"]], dtype=bool)
    points = points[known]

    def spectrum_field(name: str, dtype: str) -> np.ndarray:
        return np.array([by_index[int(p)][name] for p in points["spectrum"]], dtype=dtype)

    real = points["Z Real / Ohm"].astype("f8")
    imag = points["Z Imaginary / Ohm"].astype("f8")
    return {
        "Spectrum Index / 1": points["spectrum"].astype("i4"),
        "Test Time / s": spectrum_field("time_s", "f8"),
        "Cycle Count / 1": spectrum_field("cycle", "i4"),
        "Step Count / 1": spectrum_field("step_count", "i4"),
        "Surface Temperature T1 / degC": spectrum_field("temperature_c", "f8"),
        "Frequency / Hz": points["Frequency / Hz"].astype("f8"),
        "Z Real / Ohm": real,
        "Z Imaginary / Ohm": imag,
        "Absolute Impedance / Ohm": np.hypot(real, imag),
        "Phase Angle / deg": np.degrees(np.arctan2(imag, real)),
    }


def strict_json(value: Any) -> Any:
    """``value`` with every non-finite float (and NumPy scalar) made JSON-safe: NaN and
    infinities become None, NumPy scalars plain Python numbers."""
    if isinstance(value, dict):
        return {str(k): strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _metadata(run: RunFile, columns: list[str], eis_file: str | None) -> dict[str, Any]:
    attrs = run.attrs
    keep = ("protocol", "protocol_sha256", "cell_id", "cell", "limits", "parameters", "operator", "instruments",
            "bench_description", "software", "start_time_utc", "end_time_utc", "status", "status_message",
            "test_time_s", "sampling_period_s", "recording", "faults", "format_version")
    meta: dict[str, Any] = {key: attrs[key] for key in keep if key in attrs}
    meta.update({
        "format": "Battery Data Format (BDF) time series, preferred labels",
        "source_run_file": str(run.path),
        "columns": columns,
        "conventions": {
            "current_sign": "positive when charging the cell",
            "time": "Test Time / s since run start; Unix Time / s absolute (UTC)",
            "step_count": "1 for the first step run, +1 per step (observation after a safety trip included)",
            "step_index": "0-based position of the step in the unrolled protocol (-1: observation after a trip)",
            "capacities": "Charging/Discharging Capacity and Energy count within the cycle; "
                          "Step Capacity is the net charge of the present step",
            "missing": "empty (CSV) or null (Parquet) where a sensor gave no value",
        },
    })
    if eis_file:
        meta["eis_file"] = eis_file
    return meta


def _write_csv(path: Path, columns: list[str], chunks: Iterator[dict[str, np.ndarray]]) -> int:
    """Header of BDF labels (unquoted), then rows; floats in shortest round-trip form."""
    if any(c in label for label in columns for c in ',"\n'):
        raise ExportError(f"{path}: a column label needs CSV quoting: {columns}")
    rows = 0
    tmp = path.with_name(path.name + ".partial")
    try:
        try:
            import pyarrow as pa
            import pyarrow.csv as pacsv
        except ImportError:
            pa = None  # type: ignore[assignment]  # pyarrow is optional (export extra): csv fallback
        with open(tmp, "wb") as handle:
            handle.write((",".join(columns) + "\n").encode())
            for chunk in chunks:
                if pa is not None:
                    table = pa.table({name: pa.array(chunk[name], from_pandas=True) for name in columns})
                    pacsv.write_csv(table, handle, pacsv.WriteOptions(include_header=False))
                    rows += table.num_rows
                else:
                    rows += _write_csv_rows(handle, columns, chunk)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return rows


def _write_csv_rows(handle: Any, columns: list[str], chunk: dict[str, np.ndarray]) -> int:
    """Fallback without pyarrow (the ``export`` extra): the csv module, same output."""
    import io

    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    n = len(chunk[columns[0]]) if columns else 0
    lists = [chunk[name].tolist() for name in columns]
    for i in range(n):
        writer.writerow(["" if isinstance(v[i], float) and math.isnan(v[i]) else v[i] for v in lists])
    handle.write(text.getvalue().encode())
    return n


def _write_parquet(path: Path, columns: list[str], chunks: Iterator[dict[str, np.ndarray]],
                   metadata: dict[str, Any]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = 0
    tmp = path.with_name(path.name + ".partial")
    writer = None
    try:
        for chunk in chunks:
            table = pa.table({name: pa.array(chunk[name], from_pandas=True) for name in columns})
            if writer is None:
                schema = table.schema.with_metadata(
                    {"cellbench": json.dumps(strict_json(metadata), default=str, allow_nan=False)})
                writer = pq.ParquetWriter(tmp, schema)
            writer.write_table(table.cast(writer.schema))  # type: ignore[arg-type]  # stubs say ParquetSchema; it is the Schema given
            rows += table.num_rows
        if writer is not None:
            writer.close()
        tmp.replace(path)
    except BaseException:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
        raise
    return rows


def _require_pyarrow() -> None:
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise ExportError("--format bdf-parquet needs pyarrow: pip install 'cellbench[export]'") from None


__all__ = ["FORMATS", "ExportError", "ExportResult", "export_run", "default_output", "RunFileError"]
