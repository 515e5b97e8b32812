"""Hot box (GB/T 31485 heating, 5 °C/min, 30 min hold): NMC811 runs away at 200 °C and fails with
no false safety-trip verdict and the oven no longer heating; LFP passes at 200 °C and both pass at
the standard's 130 °C; the same protocol over `bench sim serve --chamber memmert_oven`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.cli import main
from bench.runfile.reader import RunFile
from bench.simulated.builtin_bench import cell_datasheet, choose_sim_chamber
from bench.simulated.serve import start_sim_servers
from protocols.errors import ProtocolError
from protocols.loader import LIBRARY, load_protocol, parse_protocol
from tests.served_lag import skip_if_runner_fell_behind

HOT_BOX = (LIBRARY / "hot_box.yaml").read_text(encoding="utf-8")


def _run(tmp_path, capsys, name: str, *args: str) -> tuple[int, dict, Path]:
    out = tmp_path / f"{name}.h5"
    code = main(["run", "hot_box", "--out", str(out), "--no-progress", "--set", "observe=10 minutes", *args])
    capsys.readouterr()
    assert main(["report", str(out), "--json"]) == 0
    return code, json.loads(capsys.readouterr().out), out


def test_nmc_21700_runs_away_at_200_c_and_the_oven_stops_heating(tmp_path, capsys):
    code, report, out = _run(tmp_path, capsys, "nmc200")
    assert code == 1 and report["verdict"] == "fail"  # claim not met, not a safety-trip verdict (3)
    m = report["metrics"]
    assert m["runaway_confirmed"] == 1 and m["eucar_hazard_level"] >= 4 and m["venting_inferred"] == 1
    assert m["temperature_max_after_c"] > 450 and m["voltage_min_after_v"] < 0.5
    assert m["dtdt_max_k_per_s"] > 1.0
    assert report["conditions"]["chamber_setpoint_after_trip_c"] <= 25.0
    with RunFile(out) as run:
        trip = next(e for e in run.events if e["kind"] == "safety_trip")
        applied = next(e for e in run.events if e["kind"] == "abuse_applied")
        t = np.asarray(run.column("Test Time / s"))
        air = np.asarray(run.column("Ambient Temperature / degC"))
    assert trip["data"]["abuse_test"] is True and applied["data"]["applied_by"] == "chamber"
    assert 0 < m["heating_stopped_after_s"] <= m["runaway_time_after_heating_s"] + 10.0
    # the oven's air never rose again after the trip, and logging went on to the end of the observation
    after = t >= trip["time_s"]
    assert np.all(np.diff(air[after]) <= 0.05)
    assert t[-1] - trip["time_s"] > 600.0


@pytest.mark.parametrize("args", [("--cell", "lfp_26650"),
                                  ("--set", "test_temperature_c=130", "--set", "heating_time=56 minutes"),
                                  ("--cell", "lfp_26650", "--set", "test_temperature_c=130",
                                   "--set", "heating_time=56 minutes")],
                         ids=["lfp_200", "nmc_130", "lfp_130"])
def test_no_runaway_cases_meet_the_claim(tmp_path, capsys, args):
    code, report, _out = _run(tmp_path, capsys, "ok", *args)
    m = report["metrics"]
    assert code == 0 and report["verdict"] == "pass", m
    assert m["runaway_confirmed"] == 0 and m["eucar_hazard_level"] <= 3 and m["fire_inferred"] == 0
    assert m["hold_at_test_temperature_s"] >= 1800.0  # the oven held the test temperature as the standard asks
    assert abs(m["chamber_air_max_c"] - report["conditions"]["test_temperature_c"]) <= 2.0
    assert m["self_heating_max_k"] < 10.0 and report["safety_events"] == []


def test_short_hold_without_an_event_is_not_tested(tmp_path, capsys):
    code, report, _out = _run(tmp_path, capsys, "short", "--cell", "lfp_26650", "--set", "heating_time=45 minutes")
    assert code == 1 and report["verdict"] == "not tested"
    assert "eucar_hazard_level" not in report["metrics"]
    assert "less than the 1800 s" in report["conditions"]["not_measured"]


def test_the_built_in_bench_picks_the_oven_above_the_espec_range():
    assert choose_sim_chamber(load_protocol("hot_box", cell_defaults=cell_datasheet)) == "memmert_oven"
    assert choose_sim_chamber(load_protocol("cold_capacity", cell_defaults=cell_datasheet)) == "espec_p300"


@pytest.mark.parametrize("old, new, message", [
    ("  applied_by: chamber", "  applied_by: robot", "abuse.applied_by must be one of operator, chamber"),
    ("  step: 5\n", "  step: 4\n", "is not a Soak"),
    ("  - Soak at 25 °C for {observe}", "  - Discharge at 1C for {observe}", "only rests and soaks may"),
])
def test_chamber_applied_abuse_is_validated(old, new, message):
    assert old in HOT_BOX
    with pytest.raises(ProtocolError, match=message):
        parse_protocol(HOT_BOX.replace(old, new), file="hot_box.yaml", cell_defaults=cell_datasheet)


def test_hot_box_over_a_served_memmert_oven(tmp_path, capsys, caplog):
    """`bench sim serve --chamber memmert_oven --write-bench` + `bench run hot_box --bench`: the
    production AtmoWEB driver over loopback HTTP; the cell runs away, the bench stops the oven."""
    text = (HOT_BOX.replace("period_s: 2", "period_s: 10")
            .replace("  short_rest_heating_k: 0", "  short_rest_heating_k: 0\n  stale_data_s: 300")
            .replace("Rest for 1 hour", "Rest for 1 minute"))
    protocol = tmp_path / "hot_box_served.yaml"
    protocol.write_text(text, encoding="utf-8")
    out = tmp_path / "served.h5"
    with start_sim_servers(soc=1.0, speed=400.0, chamber="memmert_oven") as servers:
        bench_file = servers.write_bench(tmp_path / "oven.toml")
        assert 'driver = "memmert_atmoweb"' in bench_file.read_text(encoding="utf-8")
        code = main(["run", str(protocol), "--bench", str(bench_file), "--out", str(out), "--no-progress",
                     "--set", "observe=5 minutes"])
        setpoint_after = servers.world.chamber.setpoint_c
        requests = servers.instruments["chamber"].server.requests
    capsys.readouterr()
    if code == 3:  # at 400x a 75 wall-ms stall overruns the 1 minute rest: a lagging runner, not a finding
        skip_if_runner_fell_behind([out], caplog.text, 400.0)
    assert code == 1
    assert main(["report", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    m = report["metrics"]
    assert m["runaway_confirmed"] == 1 and m["eucar_hazard_level"] >= 4
    assert setpoint_after <= 25.0 and requests > 100
    with RunFile(out) as run:
        assert "memmert_atmoweb" in str(run.attrs["bench_config"])
