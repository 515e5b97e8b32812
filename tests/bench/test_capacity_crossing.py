"""Capacity at the voltage crossing (issue 30 item 6): a step that ends on a voltage limit reports
its Ah at the crossing, so halving or doubling the sample period changes the measured capacity by
less than 0.01 % (counted to the first sample past the limit it changed by up to one period of
current: 0.17 % at C/3 here).

A CC charge to the maximum voltage is taken at its crossing too, but on the flat top of the curve
(0.15-0.2 mV/s at 0.5C) the simulated readback noise (~0.3 mV) and the 1 mV end tolerance move
the crossing by seconds: 0.18 % at 0.5C between 5 and 10 s periods; not claimed here."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.analysis.cycles import cycle_table, throughput
from bench.engine.core import Engine
from bench.engine.crossing import find_crossing
from bench.runfile.layout import SAMPLE_DTYPE
from bench.runfile.reader import RunFile
from bench.runfile.writer import RunWriter
from bench.simulated.builtin_bench import build_sim_bench, cell_datasheet
from protocols.loader import parse_protocol

#: The claim: capacity independent of the sample period within this fraction.
SAME_WITHIN = 1e-4


def _steps(tmp_path, period_s: float, body: str, soc: float) -> tuple[list[dict], np.ndarray]:
    protocol = parse_protocol(f"cell: {{preset: nmc_21700}}\nsampling: {{period_s: {period_s}}}\n{body}",
                              file="p.yaml", cell_defaults=cell_datasheet)
    bench = build_sim_bench("nmc_21700", soc=soc)
    path = tmp_path / f"run_{period_s}.h5"
    try:
        with RunWriter(path, {"protocol": protocol.name}) as writer:
            Engine(protocol, bench, writer, signals=False).run()
    finally:
        bench.close()
    with RunFile(path) as run:
        return run.steps, run.table("cycles")


@pytest.mark.parametrize(("text", "soc", "key"), [
    ("Discharge at C/3 until 2.5 V", 0.3, "discharge_ah"),  # the case: 10 s at C/3 on a 5 Ah cell
    ("Discharge at 1C until 2.5 V", 0.33, "discharge_ah"),
])
def test_capacity_does_not_depend_on_the_sample_period(tmp_path, text, soc, key):
    ends = {}
    for period in (5.0, 10.0, 20.0):
        steps, _ = _steps(tmp_path, period, f"steps:\n  - {text}\n", soc)
        ends[period] = steps[0]
        assert math.isfinite(steps[0]["crossing_time_s"]), steps[0]
    reference = ends[10.0][key]
    for period, step in ends.items():
        assert abs(step[key] / reference - 1.0) <= SAME_WITHIN, (period, step[key], reference)
    # counted to the first sample past the limit, the figure would have been off by several times
    # the claim's tolerance (how much depends on where the crossing falls between two samples:
    # measured 8.5x at C/3 from 30 % SOC, 1.2 mAh of a possible 9.3 at 20 s)
    overshoot = max(abs(throughput(step)[key] - step[key]) for step in ends.values())
    assert overshoot / reference > 5 * SAME_WITHIN, overshoot


def test_cycle_table_keeps_throughput_and_the_capacity_at_the_crossing(tmp_path):
    steps, cycles = _steps(tmp_path, 10.0, """steps:
  - Discharge at 1C until 2.5 V
  - Rest for 1 minute
""", 0.2)
    discharge = steps[0]
    assert discharge["past_crossing_ah"] < 0  # the sample after the crossing counted more discharge
    assert discharge["end_time_s"] > discharge["crossing_time_s"] > discharge["start_time_s"]

    class _Run:  # cycle_table reads .steps and .attrs
        attrs = {"cell": {"capacity_ah": 5.0}}

    _Run.steps = steps  # type: ignore[attr-defined]
    row = cycle_table(_Run())[0]  # type: ignore[arg-type]
    assert row["discharge_capacity_ah"] == pytest.approx(discharge["discharge_ah"], abs=1e-6)
    assert row["discharge_ah"] == pytest.approx(discharge["discharge_ah"] - discharge["past_crossing_ah"], abs=1e-6)
    # /cycles (the engine's counters) is throughput too
    assert float(cycles["discharge_ah"][0]) == pytest.approx(row["discharge_ah"], abs=1e-6)


def _rows(t, v, i) -> np.ndarray:
    rows = np.zeros(len(t), dtype=SAMPLE_DTYPE)
    rows["Test Time / s"], rows["Voltage / V"], rows["Current / A"] = t, v, i
    q = np.concatenate([[0.0], np.cumsum(0.5 * (np.asarray(i[1:]) + np.asarray(i[:-1])) * np.diff(t)) / 3600.0])
    rows["Step Capacity / Ah"] = q
    return rows


def test_crossing_interpolated_between_samples():
    # 3.0 -> 2.0 V in 10 s steps at -2 A: 2.5 V is crossed at 15 s
    crossing = find_crossing(_rows([0.0, 10.0, 20.0], [3.0, 2.75, 2.25], [-2.0, -2.0, -2.0]), 2.5, rising=False)
    assert crossing is not None
    assert crossing.time_s == pytest.approx(15.0)
    assert crossing.past_ah == pytest.approx(-2.0 * 5.0 / 3600.0)


def test_crossing_in_compliance_is_extrapolated_from_the_cc_samples():
    # rising 10 mV / 10 s at 2 A; at 20 s the source holds 4.2 V and the current has fallen
    crossing = find_crossing(_rows([0.0, 10.0, 20.0], [4.17, 4.18, 4.2], [2.0, 2.0, 1.0]), 4.2, rising=True)
    assert crossing is not None
    assert crossing.time_s == pytest.approx(20.0)  # 4.18 + 0.01/10 s reaches 4.2 at 30 s, capped at 20 s
    crossing = find_crossing(_rows([0.0, 10.0, 20.0], [4.16, 4.18, 4.2], [2.0, 2.0, 1.0]), 4.2, rising=True)
    assert crossing is not None and crossing.time_s == pytest.approx(20.0)
    crossing = find_crossing(_rows([0.0, 10.0, 20.0], [4.1, 4.16, 4.2], [2.0, 2.0, 1.0]), 4.2, rising=True)
    assert crossing is not None
    assert crossing.time_s == pytest.approx(10.0 + 0.04 / 0.06 * 10.0)
    # the charge to the crossing is at the setpoint (2 A), not the trapezoid with the fallen current
    to_crossing_ah = 2.0 * (crossing.time_s - 10.0) / 3600.0
    counted_ah = 0.5 * (2.0 + 1.0) * 10.0 / 3600.0
    assert crossing.past_ah == pytest.approx(counted_ah - to_crossing_ah)


def test_crossing_short_of_the_limit_is_extrapolated_one_period_at_most():
    crossing = find_crossing(_rows([0.0, 10.0], [2.52, 2.5008], [-2.0, -2.0]), 2.5, rising=False)
    assert crossing is not None
    assert crossing.time_s == pytest.approx(10.0 + 0.0008 / 0.0192 * 10.0)
    assert crossing.past_ah == pytest.approx(2.0 * (crossing.time_s - 10.0) / 3600.0)
