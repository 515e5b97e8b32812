"""EIS on the simulated bench: run_eis_step -> run file -> circuit fit and Kramers-Kronig check."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from bench.analysis.eis_fit import eis_analysis, eis_summary, fit_circuit, lin_kk, model_impedance, spectra
from bench.engine.eis_sweep import run_eis_step
from bench.runfile.reader import RunFile
from bench.runfile.writer import RunWriter
from bench.simulated.builtin_bench import build_sim_bench
from drivers.errors import InstrumentError, SetpointOutOfRange


@dataclass(frozen=True)
class Spec:
    """Stands in for protocols.steps.EisSpec (same fields) until the EIS grammar lands."""

    frequency_start_hz: float = 1000.0
    frequency_stop_hz: float = 0.1
    points_per_decade: int = 5
    amplitude: float = 0.01
    amplitude_unit: str = "V"


def _sweep(bench, path, spec=Spec(), *, index=0, temperature_c=25.0):
    with RunWriter(path, {"protocol": "eis_test"}) as writer:
        return run_eis_step(bench, spec, writer, spectrum_index=index, time_s=12.0, step_count=3, cycle=1,
                            temperature_c=temperature_c, soc=0.5)


def test_spectrum_is_stored_and_matches_the_cells_impedance(sim_bench, tmp_path):
    summary = _sweep(sim_bench, tmp_path / "eis.h5")
    cell = sim_bench.simulation.world.channels[0].cell
    assert summary["points"] == summary["valid_points"] == 21
    assert summary["mode"] == "potentiostatic" and summary["frequency_max_hz"] == 1000.0
    assert summary["duration_s"] > 60.0  # 0.1 Hz points take tens of seconds of bench time
    with RunFile(tmp_path / "eis.h5") as run:
        (record,) = spectra(run)
        events = [e for e in run.events if e["kind"] == "eis_spectrum"]
    assert (record["spectrum"], record["step_count"], record["cycle"], record["mode"]) == (0, 3, 1, "potentiostatic")
    assert record["temperature_c"] == 25.0 and record["soc"] == 0.5 and record["amplitude"] == 0.01
    model = cell.impedance_ohm(record["frequencies_hz"])
    assert np.allclose(record["z_ohm"].real, model.real, rtol=0.005, atol=3e-5)
    assert np.allclose(record["z_ohm"].imag, model.imag, rtol=0.05, atol=3e-5)
    assert events and events[0]["data"]["valid_points"] == 21


def test_fit_recovers_the_simulated_cells_r0_and_charge_transfer_resistance(sim_bench, tmp_path):
    _sweep(sim_bench, tmp_path / "eis.h5")
    truth = sim_bench.simulation.world.channels[0].cell.impedance_parameters()
    with RunFile(tmp_path / "eis.h5") as run:
        metrics, conditions = eis_analysis(run)
    assert metrics["eis_r0_ohm"] == pytest.approx(truth["r0_ohm"], rel=0.02)
    assert metrics["eis_rct_ohm"] == pytest.approx(truth["rct_ohm"], rel=0.10)
    assert metrics["eis_fit_rms_pct"] < 0.5
    assert metrics["eis_spectra"] == 1
    with RunFile(tmp_path / "eis.h5") as run:
        (entry,) = eis_summary(run)
    assert entry["kk_valid"] is True and entry["kk_residual_max_pct"] < 1.0
    assert entry["temperature_c"] == 25.0 and entry["mode"] == "potentiostatic"
    assert "Lin-KK" in conditions["eis_kk_test"]


def test_cold_cell_overranges_at_low_frequency_and_the_fit_uses_the_valid_points(tmp_path):
    bench = build_sim_bench("nmc_21700", soc=0.5, temperature_c=-20.0)
    try:
        summary = _sweep(bench, tmp_path / "cold.h5", temperature_c=-20.0)
        truth = bench.simulation.world.channels[0].cell.impedance_parameters()
    finally:
        bench.close()
    assert 8 <= summary["valid_points"] < summary["points"]  # |Z| passes the 100 mΩ range's 120 mΩ
    with RunFile(tmp_path / "cold.h5") as run:
        (record,) = spectra(run)
        metrics, _ = eis_analysis(run)
    assert np.isnan(record["z_ohm"][-1].real)  # the lowest frequency was over range: stored as nan
    assert metrics["eis_r0_ohm"] == pytest.approx(truth["r0_ohm"], rel=0.02)
    assert metrics["eis_rct_ohm"] == pytest.approx(truth["rct_ohm"], rel=0.25)


def test_known_circuit_is_recovered_and_drift_fails_kramers_kronig():
    f = np.geomspace(1000.0, 0.1, 21)
    truth = np.array([0.012, 1e-7, 0.02, 0.05, 0.85, 0.01, 20.0, 0.95, 0.002])
    z = model_impedance(truth, f)
    fit = fit_circuit(f, z)
    assert (fit.r0_ohm, fit.rct_ohm, fit.tau_ct_s) == (pytest.approx(0.012, rel=1e-3), pytest.approx(0.02, rel=0.02),
                                                      pytest.approx(0.05, rel=0.05))
    assert lin_kk(f, z).valid
    # the cell's resistance drifted up 5 mΩ over the sweep (low frequencies take most of the time):
    # a change of Re Z without the matching Im Z is what Kramers-Kronig rejects
    elapsed = np.cumsum(6.0 / f)
    drifting = z + 0.005 * elapsed / elapsed[-1]
    kk = lin_kk(f, drifting)
    assert not kk.valid and kk.residual_max_pct > 2.0
    with pytest.raises(ValueError, match="needs at least 8"):
        fit_circuit(f[:5], z[:5])


def test_bench_without_analyzer_and_impossible_sweeps_are_clear_errors(sim_bench, tmp_path):
    with pytest.raises(SetpointOutOfRange, match="outside the BT4560's 0.1-1050 Hz"):
        _sweep(sim_bench, tmp_path / "a.h5", Spec(frequency_start_hz=10000.0, frequency_stop_hz=0.01))
    sim_bench.impedance = None
    with pytest.raises(InstrumentError, match="no impedance analyzer"):
        _sweep(sim_bench, tmp_path / "b.h5")
    assert math.isfinite(sim_bench.clock.now_s())
