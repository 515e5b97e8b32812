"""Run-file throughput: logging rows/s, and a per-cycle summary of a 10-million-row run.

Logging: rows appended one at a time through :meth:`RunWriter.append_sample_row` (the engine's
path: buffered, appended in batches, flushed at least every second), and whole blocks through
:meth:`RunWriter.append_sample_block` (the batched HDF5 append alone).

Analysis: a synthetic cycling run (1 s samples, 2 h cycles) of ``rows`` samples plus its step
table is written with the production writer, then timed: the per-cycle summary from every sample
(:mod:`bench.analysis.fast_cycles`: capacity, energy, temperature extremes per cycle), plus for
reference :func:`cycle_table` (from ``/steps``) and the naive whole-table pass.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.runfile.layout import SAMPLE_DTYPE

CYCLE_S = 7200  # samples per synthetic cycle: 1 h charge + 1 h discharge at 1 s


def synthetic_samples(start: int, count: int) -> np.ndarray:
    """Rows ``start .. start+count`` of a synthetic 1 C cycling run (5 Ah cell), SAMPLE_DTYPE."""
    t = np.arange(start, start + count, dtype=np.float64)
    phase = t % CYCLE_S
    charging = phase < CYCLE_S / 2
    current = np.where(charging, 5.0, -5.0)
    soc = np.where(charging, phase / (CYCLE_S / 2), 1.0 - (phase - CYCLE_S / 2) / (CYCLE_S / 2))
    voltage = 3.0 + 1.2 * soc + 0.05 * np.sign(current)
    rows = np.zeros(count, dtype=SAMPLE_DTYPE)
    rows["Test Time / s"] = t
    rows["Unix Time / s"] = 1.7e9 + t
    rows["Voltage / V"] = voltage
    rows["Current / A"] = current
    rows["Power / W"] = voltage * current
    rows["Cycle Count / 1"] = (t // CYCLE_S).astype(np.int32)
    rows["Step Count / 1"] = (t // (CYCLE_S / 2)).astype(np.int32)
    rows["Step Index / 1"] = np.where(charging, 0, 1)
    rows["Step Capacity / Ah"] = np.where(charging, phase, phase - CYCLE_S / 2) * 5.0 / 3600.0
    rows["Charging Capacity / Ah"] = np.minimum(phase, CYCLE_S / 2) * 5.0 / 3600.0
    rows["Discharging Capacity / Ah"] = np.maximum(phase - CYCLE_S / 2, 0) * 5.0 / 3600.0
    rows["Charging Energy / Wh"] = rows["Charging Capacity / Ah"] * 3.7
    rows["Discharging Energy / Wh"] = rows["Discharging Capacity / Ah"] * 3.6
    rows["Surface Temperature T1 / degC"] = 25.0 + 3.0 * soc
    rows["Ambient Temperature / degC"] = 25.0
    return rows


def measure_logging(rows: int = 1_000_000) -> dict[str, Any]:
    """Rows/s through the per-sample append path and through block appends."""
    from bench.runfile.writer import RunWriter

    block = synthetic_samples(0, rows)
    tuples = block.tolist()
    with tempfile.TemporaryDirectory(prefix="cellbench-perf-log-") as tmp:
        writer = RunWriter(Path(tmp) / "rows.h5", {"protocol": "perf_logging"})
        append = writer.append_sample_row
        t0 = time.perf_counter()
        for row in tuples:
            append(row)
        writer.flush()
        per_row_s = time.perf_counter() - t0
        writer.close()
        writer = RunWriter(Path(tmp) / "block.h5", {"protocol": "perf_logging"})
        chunk = 65536
        t0 = time.perf_counter()
        for start in range(0, rows, chunk):
            writer.append_sample_block(block[start:start + chunk])
        block_s = time.perf_counter() - t0
        writer.close()
    return {
        "rows": rows,
        "log_rows_per_s": round(rows / per_row_s),
        "log_us_per_row": round(per_row_s / rows * 1e6, 3),
        "log_block_rows_per_s": round(rows / block_s),
        "block_rows": chunk,
    }


def write_cycling_run(path: Path, rows: int) -> None:
    """A run file of ``rows`` synthetic samples and the matching step table."""
    from bench.runfile.writer import RunWriter

    writer = RunWriter(path, {"protocol": "perf_synthetic_cycling"})
    try:
        chunk = 1_000_000
        for start in range(0, rows, chunk):
            writer.append_sample_block(synthetic_samples(start, min(chunk, rows - start)))
        half = CYCLE_S // 2
        for step in range((rows + half - 1) // half):
            cycle, charging = divmod(step, 2)
            t0, t1 = step * half, min((step + 1) * half, rows) - 1
            ah = (t1 - t0 + 1) * 5.0 / 3600.0
            writer.append("steps", (
                step + 1, charging, cycle, "cc", "Charge at 1C for 1 hour" if charging == 0 else "Discharge at 1C for 1 hour",
                float(t0), float(t1), "time", ah if charging == 0 else 0.0, ah if charging else 0.0,
                ah * 3.7 if charging == 0 else 0.0, ah * 3.6 if charging else 0.0,
                3.0, 4.2, 5.0, 28.0, 25.0, 25.0, float("nan"), 0.0, 0.0), flush=False)
    finally:
        writer.close()


def per_cycle_from_samples(run: Any) -> dict[str, np.ndarray]:
    """Per cycle, from every sample: max charge and discharge Ah and Wh, temperature max/min."""
    samples = run.samples  # one read of the table (a column read would touch every row anyway)
    cycle = samples["Cycle Count / 1"]
    bounds = np.flatnonzero(np.diff(cycle)) + 1
    starts = np.concatenate(([0], bounds))
    out = {"cycle": cycle[starts]}
    for label, key, reduce in (("Charging Capacity / Ah", "charge_ah", np.maximum),
                               ("Discharging Capacity / Ah", "discharge_ah", np.maximum),
                               ("Charging Energy / Wh", "charge_wh", np.maximum),
                               ("Discharging Energy / Wh", "discharge_wh", np.maximum),
                               ("Surface Temperature T1 / degC", "temperature_max_c", np.fmax),
                               ("Surface Temperature T1 / degC", "temperature_min_c", np.fmin)):
        out[key] = reduce.reduceat(samples[label], starts)
    return out


def measure_analysis(rows: int = 10_000_000, compare_naive: bool = True) -> dict[str, Any]:
    """Seconds to summarise every cycle of a ``rows``-sample run file from its samples.

    The figure (``analysis_s``) is :func:`bench.analysis.fast_cycles.fast_cycle_summary`: open,
    chunk-wise raw read of ``/samples``, per-cycle reductions. Also timed: ``cycle_table_s`` (the
    report's per-cycle table from ``/steps``) and, with ``compare_naive``, ``naive_sample_pass_s``
    (whole-table read + reductions, the previous way). The two per-cycle results are checked to
    agree (cycle count, charge Ah) so the fast figure cannot come from a wrong answer.
    """
    from bench.analysis.cycles import cycle_table
    from bench.analysis.fast_cycles import fast_cycle_summary
    from bench.runfile.reader import RunFile

    with tempfile.TemporaryDirectory(prefix="cellbench-perf-an-") as tmp:
        path = Path(tmp) / "cycling.h5"
        t0 = time.perf_counter()
        write_cycling_run(path, rows)
        write_s = time.perf_counter() - t0
        size_mb = path.stat().st_size / 1e6
        t0, cpu0 = time.perf_counter(), time.process_time()
        fast = fast_cycle_summary(path)
        fast_s, fast_cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
        t0 = time.perf_counter()
        with RunFile(path) as run:
            table = cycle_table(run)
            table_s = time.perf_counter() - t0
            naive_s = None
            if compare_naive:
                t0 = time.perf_counter()
                naive = per_cycle_from_samples(run)
                naive_s = round(time.perf_counter() - t0, 3)
                if not (np.array_equal(naive["cycle"], fast["cycle"])
                        and np.allclose(naive["charge_ah"], fast["charge_ah"])):
                    raise RuntimeError("fast per-cycle summary disagrees with the whole-table pass")
    if len(fast["cycle"]) != len(table):
        raise RuntimeError(f"fast summary has {len(fast['cycle'])} cycles, /steps has {len(table)}")
    return {
        "rows": rows,
        "cycles": len(table),
        "cycles_from_samples": int(len(fast["cycle"])),
        "analysis_s": round(fast_s, 3),
        "analysis_cpu_s": round(fast_cpu_s, 3),  # both threads' CPU (a loaded machine's comparable figure)
        "method": "bench.analysis.fast_cycles: raw chunks 64 at a time (read_direct_chunk) into two alternating "
                  "buffers; a worker thread checks Fletcher-32 sum1 vectorised and reduces per cycle "
                  "(np.flatnonzero + reduceat) while the next block is read",
        "cycle_table_s": round(table_s, 3),
        "naive_sample_pass_s": naive_s,
        "file_mb": round(size_mb, 1),
        "write_s": round(write_s, 2),
    }
