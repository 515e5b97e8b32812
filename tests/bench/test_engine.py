"""The engine on the simulated bench (virtual clock): tree walking with loop conditions, cycles
table, pulses, per-step periods and limits, EIS, operator pause / resume / abort."""

from __future__ import annotations

import numpy as np
import pytest

from bench.engine.core import Engine, RunStatus
from bench.engine.operator_control import OperatorControl
from bench.runfile.reader import RunFile
from bench.runfile.writer import RunWriter
from bench.simulated.builtin_bench import build_sim_bench
from protocols.errors import ProtocolError
from protocols.loader import parse_protocol

CELL = ("cell: {preset: nmc_21700, capacity_ah: 5, voltage_max_v: 4.2, voltage_min_v: 2.5, current_max_a: 7,"
        " current_max_charge_a: 3.4}\n")


def run(tmp_path, body: str, *, soc: float = 0.5, hooks=(), control=None, impedance=True, observe_s=0.0):
    protocol = parse_protocol(CELL + body, file="p.yaml")
    bench = build_sim_bench("nmc_21700", soc=soc)
    if not impedance:
        bench.impedance = None
    bench.simulation.world.hooks.extend(hooks)
    path = tmp_path / "run.h5"
    try:
        with RunWriter(path, {"protocol": protocol.name}) as writer:
            result = Engine(protocol, bench, writer, control=control, observe_s=observe_s, signals=False).run()
    finally:
        bench.close()
    run_file = RunFile(path)
    data = {"steps": run_file.steps, "events": run_file.events, "samples": run_file.samples,
            "cycles": run_file.table("cycles"), "journal": run_file.last_journal()}
    run_file.close()
    return result, data


def test_loop_ends_on_a_measured_value_and_cycles_are_summarised(tmp_path):
    result, data = run(tmp_path, """sampling: {period_s: 10}
steps:
  - Rest for 1 minute
  - repeat: 20
    until: v_end < 3.3 V
    steps:
      - step: Discharge at 1C for 10 minutes
        record: {v_end: voltage_end_v}
      - Charge at 0.2C for 5 minutes
""")
    assert result.status is RunStatus.COMPLETED
    steps = data["steps"]
    discharges = [s for s in steps if s["text"].startswith("Discharge")]
    ends = [s["voltage_end_v"] for s in discharges]
    assert 2 <= len(discharges) < 20 and ends[-1] < 3.3 <= ends[-2]  # stopped by the measured value
    assert {s["step_index"] for s in discharges} == {1}  # stable depth-first index in every repetition
    assert [s["cycle"] for s in steps] == [1] + [c for c in range(2, 2 + len(discharges)) for _ in range(2)]
    cycles = data["cycles"]
    assert list(cycles["cycle"]) == list(range(1, 2 + len(discharges)))
    second = cycles[1]
    assert second["discharge_ah"] == pytest.approx(5.0 * 600 / 3600, rel=0.01)
    assert second["charge_ah"] == pytest.approx(1.0 * 300 / 3600, rel=0.01)
    assert second["coulombic_efficiency"] == pytest.approx(second["discharge_ah"] / second["charge_ah"])
    assert all(c["status"] == b"complete" for c in cycles) and second["steps"] == 2
    samples = data["samples"]
    assert set(np.unique(samples["Cycle Count / 1"])) == set(range(1, 2 + len(discharges)))
    assert data["journal"]["plan"]["variables"]["v_end"] == pytest.approx(ends[-1])


def test_pulse_train_switches_on_phase_boundaries(tmp_path):
    result, data = run(tmp_path, """sampling: {period_s: 4}
steps:
  - Pulse discharge at 1C for 10 seconds, rest for 20 seconds, 3 times
""")
    assert result.status is RunStatus.COMPLETED
    samples = data["samples"]
    protocol = samples["Step Index / 1"] >= 0  # the final observation after it: step index -1
    t, i = samples["Test Time / s"][protocol], samples["Current / A"][protocol]
    assert t[-1] == pytest.approx(90.0)
    for start in (0.0, 30.0, 60.0):  # a sample lands on every boundary
        assert np.any(np.isclose(t, start + 10.0)) and np.any(np.isclose(t, start + 30.0))
    on = (t % 30.0 > 0.5) & (t % 30.0 < 9.5)
    off = (t % 30.0 > 10.5) & (t % 30.0 < 29.5)
    assert np.allclose(i[on], -5.0, atol=1e-3) and np.allclose(i[off], 0.0, atol=1e-3)
    assert data["steps"][0]["discharge_ah"] == pytest.approx(3 * 5.0 * 10 / 3600, rel=0.02)


def test_step_period_limits_and_end_conditions(tmp_path):
    result, data = run(tmp_path, """sampling: {period_s: 10}
steps:
  - step: Discharge at 1C until 0.25 Ah
    period: 1 s
  - Discharge at 1C until 1 Wh
  - step: Discharge at 1C until 2.5 V
    limits: {voltage_min_v: 3.3}
""")
    assert result.status is RunStatus.SAFETY_TRIP and result.trip is not None and result.trip.rule == "step_limit"
    first, second, third = data["steps"]
    assert first["discharge_ah"] == pytest.approx(0.25, abs=5.0 / 3600 * 1.01)  # one 1 s sample of overshoot
    assert first["end_time_s"] == pytest.approx(180.0, abs=1.01)
    assert second["discharge_wh"] == pytest.approx(1.0, abs=5.0 * 4.2 * 10 / 3600)
    assert third["end_reason"] == "safety trip: step_limit" and 3.2 < third["voltage_end_v"] < 3.3
    trip = [e for e in data["events"] if e["kind"] == "safety_trip"][0]
    assert trip["data"]["rule"] == "step_limit"
    assert data["cycles"][0]["status"] == b"safety_trip"


def test_operator_pause_resume_and_abort(tmp_path):
    control = OperatorControl()

    def operator(world, now_s):
        if 300.0 <= now_s < 310.0:
            control.request_pause()
        elif 900.0 <= now_s < 910.0:
            control.request_resume()
        elif now_s >= 1600.0:
            control.request_abort()

    result, data = run(tmp_path, "sampling: {period_s: 10}\nsteps:\n  - Discharge at 1C for 15 minutes\n"
                                 "  - Rest for 1 hour\n", hooks=[operator], control=control)
    kinds = [e["kind"] for e in data["events"]]
    assert kinds.count("operator_pause") == 1 and kinds.count("operator_resume") == 1
    pause = next(e for e in data["events"] if e["kind"] == "operator_pause")
    resume = next(e for e in data["events"] if e["kind"] == "operator_resume")
    samples = data["samples"]
    t, i = samples["Test Time / s"], samples["Current / A"]
    paused = (t > pause["time_s"] + 1) & (t < resume["time_s"] - 1)
    assert paused.sum() > 50 and np.allclose(i[paused], 0.0, atol=1e-6)  # output off, still sampled
    discharge = data["steps"][0]
    assert discharge["discharge_ah"] == pytest.approx(5.0 * 900 / 3600, rel=0.01)  # paused time not counted
    assert discharge["end_time_s"] - discharge["start_time_s"] == pytest.approx(900 + resume["data"]["paused_s"],
                                                                                abs=10.01)
    assert result.status is RunStatus.ABORTED and "safe_state" in kinds
    assert data["steps"][-1]["end_reason"] == "operator abort" and data["steps"][-1]["text"] == "Rest for 1 hour"
    assert data["cycles"][0]["status"] == b"aborted"


def test_eis_step_records_fit_values_and_needs_an_analyzer(tmp_path):
    body = ("sampling: {period_s: 10}\nsteps:\n  - step: EIS from 1 kHz to 1 Hz, 5 points per decade, 50 mA\n"
            "    record: {r0: r0_ohm}\n  - Rest for 1 minute\n")
    result, data = run(tmp_path, body)
    assert result.status is RunStatus.COMPLETED
    eis = data["steps"][0]
    assert eis["kind"] == "eis" and eis["end_reason"] == "sweep complete"
    assert 0.001 < data["journal"]["plan"]["variables"]["r0"] < 0.1
    with pytest.raises(ProtocolError, match=r"p.yaml:4:11: .*this bench has no impedance analyzer"):
        run(tmp_path / "none", body, impedance=False)
