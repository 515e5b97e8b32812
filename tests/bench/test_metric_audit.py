"""The metric audit (issue 28): every metric a shipped protocol's report prints is listed, with its
meaning and computation, in docs/analysis.md, and the metrics are checked against an independent
computation from the samples (trapezoidal integration of the current over the step, the
temperature and time columns) or against the metrics they are made from.

The runs are the short variants of every shipped protocol (tests/bench/shipped_runs.py).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from bench.report.verdict import build_report
from bench.runfile.reader import RunFile
from tests.bench.shipped_runs import SHORT_RUNS

DOC = Path(__file__).resolve().parents[2] / "docs" / "analysis.md"


def documented_metrics() -> set[str]:
    """Metric names in the first column of docs/analysis.md's metric audit table."""
    text = DOC.read_text(encoding="utf-8")
    table = text[text.index("## Metric audit"):]
    names: set[str] = set()
    for line in table.splitlines():
        if line.startswith("| `"):
            first = line.split("|")[1]
            names.update(re.findall(r"`([a-z0-9_]+)`", first))
    return names


def _step_samples(run: RunFile, step_count: int) -> tuple[np.ndarray, np.ndarray]:
    samples = run.samples
    mask = samples["Step Count / 1"] == step_count
    return (np.asarray(samples["Test Time / s"][mask], dtype=float),
            np.asarray(samples["Current / A"][mask], dtype=float))


def _integral_ah(t: np.ndarray, i: np.ndarray) -> float:
    return float(np.sum(0.5 * (i[1:] + i[:-1]) * np.diff(t)) / 3600.0) if t.size > 1 else 0.0


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SHORT_RUNS))
def test_every_metric_is_documented_and_agrees_with_the_samples(name: str, shipped_runs) -> None:
    path = shipped_runs.get(name)
    with RunFile(path) as run:
        report = build_report(run)
        m = report["metrics"]
        undocumented = sorted(set(m) - documented_metrics())
        assert not undocumented, f"{name} prints metrics docs/analysis.md does not explain: {undocumented}"
        time_s = np.asarray(run.column("Test Time / s"), dtype=float)
        temps = np.asarray(run.column("Surface Temperature T1 / degC"), dtype=float)
        temps = temps[np.isfinite(temps)]
        assert m["samples"] == time_s.size
        assert m["test_time_s"] == pytest.approx(float(time_s[-1]), abs=1e-6)
        if "fast_charges" not in m and "eucar_hazard_level" not in m:  # run-wide extremes
            assert m["temperature_max_c"] == pytest.approx(float(temps.max()), abs=1e-3)
            assert m["temperature_min_c"] == pytest.approx(float(temps.min()), abs=1e-3)
        period_s = float(np.median(np.diff(time_s))) if time_s.size > 1 else 1.0
        steps = run.steps
        if "discharge_capacity_ah" in m:  # the last discharge, by trapezoidal integration of its samples
            discharges = [s for s in steps if s["kind"] in ("cc", "cp") and s["discharge_ah"] > s["charge_ah"]]
            last = discharges[-1]
            t, i = _step_samples(run, int(last["step_count"]))
            independent = -_integral_ah(t, i)
            one_sample_ah = abs(float(np.median(i))) * period_s / 3600.0 if i.size else 0.0
            # the counters start at the step's start and may end at the voltage crossing: within one
            # sample period of current of the samples' own integral
            assert abs(m["discharge_capacity_ah"] - independent) <= one_sample_ah + 1e-4 * independent, \
                (name, m["discharge_capacity_ah"], independent)
    if "retention_pct" in m:
        assert m["retention_pct"] == pytest.approx(100 * m["capacity_cold_ah"] / m["capacity_reference_ah"], abs=1e-3)
        assert m["energy_retention_pct"] == pytest.approx(100 * m["energy_cold_wh"] / m["energy_reference_wh"], abs=1e-3)
        assert m["cell_temperature_min_c"] >= m["temperature_min_c"] - 1e-6
    if "specific_energy_wh_per_kg" in m:
        info = report["conditions"]["energy_density"]
        assert 15.0 <= info["chamber_setpoint_c"] <= 30.0 if info["chamber_setpoint_c"] is not None else True
        assert m["specific_energy_wh_per_kg"] == pytest.approx(info["energy_wh"] / info["mass_kg"], rel=1e-3)
    if "fade_pct" in m:
        assert m["fade_pct"] == pytest.approx(
            100 * (1 - m["capacity_last_check_ah"] / m["capacity_first_check_ah"]), abs=1e-3)
    if m.get("time_10_80_s") is not None and m.get("time_20_80_s") is not None:
        assert 0 < m["time_20_80_s"] < m["time_10_80_s"]
        assert m["time_10_80_max_s"] >= m["time_10_80_s"] and m["temperature_max_all_c"] >= m["temperature_max_c"]
    if "eucar_hazard_level" in m:
        assert 0 <= m["eucar_hazard_level"] <= m["eucar_hazard_level_max"] <= 7
        assert m["fire_inferred"] <= m["runaway_confirmed"]
        assert not [k for k in m if "puncture" in k] or name == "nail_penetration"
        assert m["dtdt_max_k_per_s"] >= 0 and math.isfinite(m["dtdt_max_k_per_s"])
