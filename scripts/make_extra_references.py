"""Generate the extra PyBaMM DFN reference curves that /work/shared/reference does not hold.

Run once (needs ``pip install cellbench[pybamm]``; a few minutes on 2 cores)::

    .venv/bin/python scripts/make_extra_references.py tests/data/reference

Writes, with the same settings and columns as the shared references (PyBaMM DFN, ``ORegan2022``,
``{"thermal": "lumped"}``, default lumped cooling, ambient = initial temperature, IDAKLU solver):

* ``oregan2022_dfn_lumped_C5_25C.csv`` / ``..._C5_m20C.csv``: C/5 (1 A) CC discharge from 4.2 V
  to 2.5 V, default mesh, 10 s record period (as the four shared discharge files);
* ``oregan2022_dfn_lumped_2C_25C.csv``, ``..._2C_0C.csv``, ``..._1p5C_m20C.csv``,
  ``..._2C_m20C.csv``: the same discharge at 1.5C (7.5 A) and 2C (10 A): the rate limits of issue
  30 item 2 (the cold 2C discharge ends after 0.2 Ah, the cold 1.5C one after 3.25 Ah);
* ``oregan2022_dfn_lumped_charge_C2_25C_cccv_rest1h.csv``: from ``initial_soc=0.1``, C/2 CC to
  4.2 V, CV to C/20, then 1 h open circuit; radial mesh r_n = r_p = 60, x = 20/20/20 (as the
  shared 0.5C charge file).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pybamm


def _model_and_params(temperature_c: float) -> tuple[pybamm.BaseModel, pybamm.ParameterValues]:
    model = pybamm.lithium_ion.DFN({"thermal": "lumped"})
    params = pybamm.ParameterValues("ORegan2022")
    params["Ambient temperature [K]"] = temperature_c + 273.15
    params["Initial temperature [K]"] = temperature_c + 273.15
    return model, params


def discharge(out: Path, c_rate_label: str, current_a: float, temperature_c: float) -> None:
    """CC discharge from 4.2 V to 2.5 V at ``current_a``; columns as the shared discharge files."""
    model, params = _model_and_params(temperature_c)
    exp = pybamm.Experiment([f"Discharge at {current_a} A until 2.5 V"], period="10 seconds")
    sim = pybamm.Simulation(model, parameter_values=params, experiment=exp,
                            solver=pybamm.IDAKLUSolver())
    sol = sim.solve(initial_soc="4.2 V")
    t = sol["Time [s]"].entries
    rows = np.column_stack([t - t[0], sol["Current [A]"].entries, sol["Voltage [V]"].entries,
                            sol["Discharge capacity [A.h]"].entries,
                            sol["X-averaged cell temperature [K]"].entries - 273.15])
    suffix = f"{int(temperature_c)}C" if temperature_c >= 0 else f"m{int(-temperature_c)}C"
    np.savetxt(out / f"oregan2022_dfn_lumped_{c_rate_label}_{suffix}.csv", rows, delimiter=",",
               fmt="%.6g", comments="",
               header="time_s,current_a (discharge positive),voltage_v,discharge_capacity_ah,cell_temperature_c")


def charge_cccv_rest(out: Path) -> None:
    """C/2 CC-CV from 10 % SOC, then 1 h rest; columns as the shared charge files."""
    model, params = _model_and_params(25.0)
    var = pybamm.standard_spatial_vars
    pts = {var.x_n: 20, var.x_s: 20, var.x_p: 20, var.r_n: 60, var.r_p: 60}
    exp = pybamm.Experiment(["Charge at 2.5 A until 4.2 V", "Hold at 4.2 V until 0.25 A",
                             "Rest for 1 hour"], period="10 seconds")
    sim = pybamm.Simulation(model, parameter_values=params, experiment=exp, var_pts=pts,
                            solver=pybamm.IDAKLUSolver())
    sol = sim.solve(initial_soc=0.1)
    t = sol["Time [s]"].entries
    q = -sol["Discharge capacity [A.h]"].entries
    phi = sol["Negative electrode surface potential difference [V]"].entries[-1, :]
    phi_avg = sol["X-averaged negative electrode surface potential difference [V]"].entries
    rows = np.column_stack([t - t[0], sol["Current [A]"].entries, sol["Voltage [V]"].entries,
                            q - q[0], sol["X-averaged cell temperature [K]"].entries - 273.15,
                            phi, phi_avg])
    np.savetxt(out / "oregan2022_dfn_lumped_charge_C2_25C_cccv_rest1h.csv", rows, delimiter=",",
               fmt="%.6g", comments="",
               header="time_s,current_a (negative = charge),voltage_v,charge_throughput_ah,"
                      "cell_temperature_c,anode_potential_sep_v,anode_potential_avg_v")


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "tests/data/reference")
    target.mkdir(parents=True, exist_ok=True)
    for temp in (25.0, -20.0):
        discharge(target, "C5", 1.0, temp)
    for label, amps, temp in (("2C", 10.0, 25.0), ("2C", 10.0, 0.0), ("1p5C", 7.5, -20.0), ("2C", 10.0, -20.0)):
        discharge(target, label, amps, temp)
    charge_cccv_rest(target)
