"""Puncture-safe cycling end to end on the simulated bench: clean cycles do not trip; a short,
an open thermocouple or a latched alarm put the bench in its safe state and keep the record."""

from __future__ import annotations

import json
import math

import pytest

from bench.cli import main
from bench.engine.core import Engine
from bench.engine.runner import run_attributes
from bench.perf.safety_matrix import fault_case
from bench.runfile.reader import RunFile
from bench.runfile.writer import RunWriter
from bench.safety.rules import Trip
from bench.safety.safe_state import enter_safe_state, safe_chamber_setpoint_c
from bench.simulated.builtin_bench import build_sim_bench, cell_datasheet
from drivers.errors import InstrumentError
from protocols.loader import load_protocol, parse_protocol


def _run(tmp_path, capsys, *args: str) -> tuple[int, dict]:
    out = tmp_path / "run.h5"
    code = main(["run", "puncture_safe_cycling", "--out", str(out), "--no-progress", *args])
    capsys.readouterr()
    assert main(["report", str(out), "--json"]) == 0
    return code, json.loads(capsys.readouterr().out)


def test_clean_cycling_completes_without_a_trip(tmp_path, capsys):
    code, report = _run(tmp_path, capsys, "--set", "cycles=1")
    assert code == 0, report["safety_events"]
    assert report["verdict"] == "pass" and report["safety_events"] == []
    assert report["metrics"]["cycles"] >= 2
    # nothing was punctured and nothing tripped: no "at puncture" metric (issue 28), and the
    # heating rate is a rate over the supervisor's 10 s window, below its 0.25 K/s limit
    m = report["metrics"]
    assert not [k for k in m if "puncture" in k or "_trip" in k], m
    assert 0.0 <= m["dtdt_max_k_per_s"] < 0.25 and m["temperature_max_after_c"] < 60.0


def test_a_short_trips_in_the_same_sample_and_the_cell_is_observed(tmp_path, capsys):
    code, report = _run(tmp_path, capsys, "--set", "cycles=1", "--observe", "20min",
                        "--fault", "internal_short@2h,resistance_ohm=0.1")
    assert code == 3 and report["verdict"] == "safety_trip"
    (event,) = report["safety_events"]
    assert {"rule", "time_s", "values", "latency_s"} <= set(event)
    assert event["rule"].startswith("internal_short") and 7200 <= event["time_s"] <= 7201
    assert event["latency_s"] == 0.0 and event["output_off_confirmed"] is True  # same sample, virtual time
    assert event["values"]["drop_v"] > 0.1
    with RunFile(tmp_path / "run.h5") as run:
        kinds = [e["kind"] for e in run.events]
        trip = next(e for e in run.events if e["kind"] == "safety_trip")
        t = run.column("Test Time / s")
        current = run.column("Current / A")
    assert trip["data"]["chamber_setpoint_c"] <= 25.0 and trip["data"]["alarm_latched"]
    assert kinds.index("safety_trip") < kinds.index("observation_start") < kinds.index("observation_end")
    after = t > event["time_s"]
    assert t[-1] - event["time_s"] == pytest.approx(1200, abs=2)  # logged through the window
    assert after.sum() >= 1190 and (current[after] == 0).all()


def test_an_open_thermocouple_trips_sensor_loss(tmp_path, capsys):
    code, report = _run(tmp_path, capsys, "--set", "cycles=1", "--observe", "1min",
                        "--fault", "thermocouple_open@30min")
    assert code == 3
    (event,) = report["safety_events"]
    assert event["rule"] == "sensor_loss" and 1800 <= event["time_s"] <= 1803


@pytest.mark.parametrize("step_type, instant_s, resistance_ohm", [
    ("cc_charge", 1200.0, 0.01), ("cv_hold", 400.0, 1.0), ("rest", 1800.0, 1.0), ("cc_discharge", 20.0, 0.1),
])
def test_fault_matrix_cells_are_detected(step_type, instant_s, resistance_ohm):
    case = fault_case(step_type, instant_s, resistance_ohm)
    assert case.detected and not case.false_trip, case
    assert case.delay_s <= 5.0 and case.latency_s == 0.0


def test_safe_chamber_setpoint_never_heats(sim_bench):
    assert safe_chamber_setpoint_c(sim_bench, 45.0) == 25.0
    assert safe_chamber_setpoint_c(sim_bench, -10.0) == -10.0
    sim_bench.simulation.world.chamber.air_c = 12.0
    assert safe_chamber_setpoint_c(sim_bench, None) == pytest.approx(12.0, abs=0.5)


def test_safe_state_turns_the_output_off_and_confirms_it(sim_bench):
    source = sim_bench.simulation.world.channels[0].source
    sim_bench.cycler.set_current(-2.0, 4.2)
    sim_bench.cycler.output_on()
    assert source.output_on
    report = enter_safe_state(sim_bench, fault_time_s=sim_bench.clock.now_s(), t0_clock_s=0.0, chamber_setpoint_c=40.0)
    assert not source.output_on and report.output_off_confirmed and not report.failures
    assert report.chamber_setpoint_c == 25.0 and report.latency_clock_s == 0.0


def test_a_latched_alarm_refuses_to_turn_the_output_on(tmp_path):
    protocol = load_protocol("puncture_safe_cycling", {"cycles": "1"}, cell_defaults=cell_datasheet)
    bench = build_sim_bench("nmc_21700")
    writer = RunWriter(tmp_path / "latch.h5", run_attributes(protocol, bench, {}))
    try:
        engine = Engine(protocol, bench, writer)
        engine.supervisor.external_trip(Trip("test", 0.0, "latched by the test"))
        assert engine.supervisor.pending_trip() is not None and engine.supervisor.latched
        with pytest.raises(InstrumentError, match="latched"):
            engine.start_output()
        assert not bench.simulation.world.channels[0].source.output_on
        engine.supervisor.reset(operator="test")
        engine.start_output()
        assert bench.simulation.world.channels[0].source.output_on
    finally:
        writer.close()
        bench.close()


def test_the_protocol_is_configurable_from_limits():
    protocol = parse_protocol("cell: {preset: nmc_21700}\nlimits: {persistence_s: 2, dtdt_max_k_per_s: 0.1,"
                              " short_collapse_v: 0.2}\nsteps: [Rest for 1 minute]\n", cell_defaults=cell_datasheet)
    assert (protocol.limits.persistence_s, protocol.limits.dtdt_max_k_per_s) == (2.0, 0.1)
    assert protocol.limits.short_collapse_v == 0.2 and math.isclose(protocol.limits.runaway_dtdt_k_per_s, 1.0)
