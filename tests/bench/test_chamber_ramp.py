"""Soak with a setpoint ramp ("Soak at -20 °C ramping at 1 K/min ..."): the bench moves the
chamber setpoint along the ramp through the production chamber driver; the air follows it."""

from __future__ import annotations

import numpy as np
import pytest

from bench.engine.runner import execute
from bench.runfile.reader import RunFile
from protocols.loader import parse_protocol

PROTOCOL = """name: ramp
cell: {preset: nmc_21700}
steps:
  - Soak at 25 °C until cell within 1 K of setpoint for 5 minutes (at most 1 hour)
  - Soak at -20 °C ramping at 1 K/min until cell within 2 K of setpoint for 10 minutes (at most 4 hours)
"""


def test_ramp_moves_the_air_at_the_requested_rate(tmp_path, sim_bench):
    from bench.simulated.builtin_bench import cell_datasheet

    protocol = parse_protocol(PROTOCOL, file="ramp.yaml", cell_defaults=cell_datasheet)
    outcome = execute(protocol, sim_bench, tmp_path / "ramp.h5")
    assert outcome.exit_code in (0, 1), outcome.report
    with RunFile(tmp_path / "ramp.h5") as run:
        steps = run.steps
        t = run.column("Test Time / s")
        air = run.column("Ambient Temperature / degC")
    ramp = steps[1]
    assert ramp["end_reason"].startswith("cell within 2 K")
    t0 = ramp["start_time_s"]
    for minutes in (10, 20, 30):  # the chamber alone would reach -20 °C in ~15 min
        air_at = float(np.interp(t0 + 60 * minutes, t, air))
        assert air_at == pytest.approx(25.0 - minutes, abs=1.5)
    # 45 K at 1 K/min: the setpoint arrives after 45 min, then the cell settles
    assert ramp["end_time_s"] - t0 > 45 * 60
    assert float(np.min(air)) == pytest.approx(-20.0, abs=0.5)


def test_ramp_rate_must_be_a_temperature_rate():
    from protocols.errors import ProtocolError

    with pytest.raises(ProtocolError, match="ramp.yaml:3:.*a ramp needs a positive rate in K/min"):
        parse_protocol("cell: {preset: nmc_21700, capacity_ah: 5, voltage_max_v: 4.2, voltage_min_v: 2.5, "
                       "current_max_a: 7}\nsteps:\n  - Soak at 0 °C ramping at 3 V for 1 hour\n", file="ramp.yaml")
