"""Generate the PyBaMM DFN references of issue 30: a cold CC-CV charge and fast-charge ageing.

Run once (needs ``pip install cellbench[pybamm]``; CPU-heavy: run it niced, one case at a time)::

    PYBAMM_DISABLE_TELEMETRY=true nice .venv/bin/python scripts/make_fast_charge_references.py cold
    PYBAMM_DISABLE_TELEMETRY=true nice .venv/bin/python scripts/make_fast_charge_references.py ageing [--ambient C] [PROFILE...]
    PYBAMM_DISABLE_TELEMETRY=true nice .venv/bin/python scripts/make_fast_charge_references.py pouch
    PYBAMM_DISABLE_TELEMETRY=true nice .venv/bin/python scripts/make_fast_charge_references.py pouch-ocv

Writes into ``tests/data/reference`` (columns in each file's header line):

* ``cold``: ``oregan2022_dfn_lumped_charge_C2_0C.csv``: PyBaMM DFN, ``ORegan2022``,
  ``{"thermal": "lumped"}`` with PyBaMM's default lumped cooling, ambient = initial = 0 °C,
  IDAKLU solver, from a rested cell at ``initial_soc=0.1``: CC 2.5 A (C/2) to 4.2 V, then hold
  4.2 V until 0.25 A (C/20); 10 s record period. Mesh x = 20/10/10, r_n = 100, r_p = 40 (the
  shared charge references' 3C / 5 °C cases used r_n = 200; ORegan2022's graphite diffusivity
  needs a fine radial mesh, see /work/shared/reference/README.md).
* ``ageing [--ambient C]``: ``okane2022_dfn_fastcharge_<profile>_<C>C.csv`` (25 °C and 10 °C were
  made), one row per cycle. PyBaMM DFN,
  ``OKane2022`` with the options of the shared 0.3C ageing reference (SEI solvent-diffusion
  limited + porosity change, partially reversible plating + porosity change, swelling and
  cracking / swelling only, SEI on cracks, stress-driven LAM, lumped thermal); mesh as PyBaMM's
  OKane2022 example (x = 5/5/5, r = 30/30); IDAKLU solver; ambient = initial temperature; 1 min
  record period. A fresh
  cell at the parameter set's own initial concentrations (charged; ``initial_soc=`` fails to
  initialise with these options); each cycle: 1C discharge to 2.5 V, 10 min rest, the profile's
  charge stages (each "Charge at I A for t minutes or until 4.2 V"), 10 min rest.

* ``pouch [STEM...]``: ``ecker2015_60ah_dfn_lumped_<rate>_<T>C.csv``, see :func:`pouch_60ah`.
* ``pouch-ocv``: ``ecker2015_60ah_ocv.csv``, the same cell's OCV, graphite OCP and capacity, see
  :func:`pouch_60ah_ocv` (no solve: the parameter set's functions evaluated).

Profiles (:data:`PROFILES`): four stages of 17.5 % SOC each (0.875 Ah of the 5 Ah nominal), i.e.
about 70 % SOC from the 1C cut-off; the three multi-step profiles take the same 26.25 min when no
stage hits 4.2 V.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pybamm

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "reference"
NOMINAL_AH = 5.0
STAGE_AH = 0.175 * NOMINAL_AH
#: profile name -> C-rate of each of the four equal-charge stages.
PROFILES: dict[str, tuple[float, ...]] = {
    "cc1C": (1.0, 1.0, 1.0, 1.0),
    "uniform1p6C": (1.6, 1.6, 1.6, 1.6),
    "front3to1C": (3.0, 2.0, 1.5, 1.0),
    "back1to3C": (1.0, 1.5, 2.0, 3.0),
}
CYCLES = 15
OKANE_OPTIONS = {
    "SEI": "solvent-diffusion limited",
    "SEI porosity change": "true",
    "lithium plating": "partially reversible",
    "lithium plating porosity change": "true",
    "particle mechanics": ("swelling and cracking", "swelling only"),
    "SEI on cracks": "true",
    "loss of active material": "stress-driven",
    "thermal": "lumped",
}


def cold_cccv() -> None:
    """C/2 CC-CV from 10 % SOC at 0 °C (ORegan2022)."""
    model = pybamm.lithium_ion.DFN({"thermal": "lumped"})
    params = pybamm.ParameterValues("ORegan2022")
    params["Ambient temperature [K]"] = 273.15
    params["Initial temperature [K]"] = 273.15
    var = pybamm.standard_spatial_vars
    pts = {var.x_n: 20, var.x_s: 10, var.x_p: 10, var.r_n: 100, var.r_p: 40}
    exp = pybamm.Experiment(["Charge at 2.5 A until 4.2 V", "Hold at 4.2 V until 0.25 A"],
                            period="10 seconds")
    sim = pybamm.Simulation(model, parameter_values=params, experiment=exp, var_pts=pts,
                            solver=pybamm.IDAKLUSolver())
    sol = sim.solve(initial_soc=0.1)
    t = sol["Time [s]"].entries
    q = -sol["Discharge capacity [A.h]"].entries
    phi = sol["Negative electrode surface potential difference [V]"].entries[-1, :]
    rows = np.column_stack([t - t[0], sol["Current [A]"].entries, sol["Voltage [V]"].entries,
                            q - q[0], sol["X-averaged cell temperature [K]"].entries - 273.15, phi])
    np.savetxt(OUT / "oregan2022_dfn_lumped_charge_C2_0C.csv", rows, delimiter=",", fmt="%.6g",
               comments="", header="time_s,current_a (negative = charge),voltage_v,"
                                   "charge_throughput_ah,cell_temperature_c,anode_potential_sep_v")


def ageing(name: str, rates: tuple[float, ...], cycles: int = CYCLES, ambient_c: float = 25.0) -> None:
    """``cycles`` cycles of the profile ``rates`` at ``ambient_c`` (OKane2022; ambient = initial
    temperature), one CSV row per cycle."""
    model = pybamm.lithium_ion.DFN(OKANE_OPTIONS)
    params = pybamm.ParameterValues("OKane2022")
    params["Ambient temperature [K]"] = ambient_c + 273.15
    params["Initial temperature [K]"] = ambient_c + 273.15
    var = pybamm.standard_spatial_vars
    pts = {var.x_n: 5, var.x_s: 5, var.x_p: 5, var.r_n: 30, var.r_p: 30}
    charge = [f"Charge at {c * NOMINAL_AH:.4g} A for {60.0 * STAGE_AH / (c * NOMINAL_AH):.4g} minutes "
              "or until 4.2 V" for c in rates]
    cycle = ("Discharge at 1C until 2.5 V", "Rest for 10 minutes", *charge, "Rest for 10 minutes")
    exp = pybamm.Experiment([cycle] * cycles, period="1 minute")
    sim = pybamm.Simulation(model, parameter_values=params, experiment=exp, var_pts=pts,
                            solver=pybamm.IDAKLUSolver())
    t0 = time.monotonic()
    sol = sim.solve()  # OKane2022 initial concentrations: a charged cell (initial_soc fails to start)
    rows = []
    for n, cyc in enumerate(sol.cycles, start=1):
        steps = cyc.steps
        dis = steps[0]
        q_dis = float(dis["Discharge capacity [A.h]"].entries[-1] - dis["Discharge capacity [A.h]"].entries[0])
        q_ch = 0.0
        for st in steps[2:2 + len(rates)]:
            dq = st["Discharge capacity [A.h]"].entries
            q_ch += float(dq[0] - dq[-1])
        tmax = float(np.max(cyc["X-averaged cell temperature [K]"].entries)) - 273.15
        phi_min = float(np.min(np.concatenate([
            st["Negative electrode surface potential difference [V]"].entries[-1, :]
            for st in steps[2:2 + len(rates)]])))
        s = sol.summary_variables
        rows.append((n, q_dis, q_ch, tmax, phi_min,
                     s["Loss of lithium inventory [%]"][n - 1],
                     s["Loss of active material in negative electrode [%]"][n - 1],
                     s["Loss of active material in positive electrode [%]"][n - 1],
                     s["Capacity [A.h]"][n - 1],
                     s["Loss of capacity to negative lithium plating [A.h]"][n - 1],
                     s["Loss of capacity to negative SEI [A.h]"][n - 1],
                     s["Loss of capacity to negative SEI on cracks [A.h]"][n - 1]))
    np.savetxt(OUT / f"okane2022_dfn_fastcharge_{name}_{ambient_c:.0f}C.csv", np.array(rows), delimiter=",",
               fmt="%.6g", comments="",
               header="cycle,discharge_capacity_ah,charge_capacity_ah,max_cell_temperature_c,"
                      "min_anode_potential_sep_v,loss_of_lithium_inventory_pct,lam_ne_pct,lam_pe_pct,"
                      "esoh_capacity_ah,plating_loss_ah,sei_loss_ah,sei_on_cracks_loss_ah")
    print(f"{name}: {cycles} cycles in {time.monotonic() - t0:.0f} s", flush=True)


#: (label, C-rate of the 60 A nominal, ambient °C) of the pouch reference discharges.
POUCH_RUNS: tuple[tuple[str, float, float], ...] = (
    ("1C", 1.0, 25.0), ("C3", 1.0 / 3.0, 25.0), ("1C", 1.0, 0.0), ("C5", 0.2, -20.0),
    ("1C", 1.0, -20.0), ("2C", 2.0, -20.0), ("2C", 2.0, 0.0), ("2C", 2.0, -10.0), ("1C", 1.0, -10.0),
    ("2C", 2.0, 25.0), ("1C", 1.0, 10.0), ("1p5C", 1.5, 0.0), ("1p5C", 1.5, -10.0), ("1p5C", 1.5, -20.0))


def pouch_60ah(out: Path = OUT, only: tuple[str, ...] = ()) -> None:
    """A 60 Ah NMC/graphite pouch reference: PyBaMM DFN with the ``Ecker2015`` parameter set
    (the electrodes of a Kokam NMC/graphite pouch, Ecker et al., J. Electrochem. Soc. 162 (2015)
    A1836; one 0.156 Ah layer in PyBaMM) with 384 layers in parallel (60 Ah), lumped thermal
    with the 60 Ah pouch's geometry (300 x 100 x 12 mm = 3.6e-4 m³, 0.0696 m² cooling area,
    h = 10 W m⁻² K⁻¹), default mesh, IDAKLU; from a rested full cell (``initial_soc=1``), CC
    discharge to 2.75 V; 10 s record period. Writes ``ecker2015_60ah_dfn_lumped_<rate>_<T>C.csv``
    (columns as the ORegan2022 discharges; -20 °C as ``m20C``): 1C and C/3 at 25 °C, 1C at 0 °C,
    C/5, 1C and 2C at -20 °C, 2C at 0 °C, 1C and 2C at -10 °C, 2C at 25 °C, 1C at 10 °C and
    1.5C (``1p5C``) at 0, -10 and -20 °C (:data:`POUCH_RUNS`; which are fitted and which held out:
    ``sim_instruments/cell/pouch_calibration.py``). ``only``: the file names (without ``.csv``) of
    the runs to make, default all."""
    for label, c_rate, temp in POUCH_RUNS:
        name = f"ecker2015_60ah_dfn_lumped_{label}_{temp:.0f}C".replace("_-", "_m")
        if only and name not in only:
            continue
        model = pybamm.lithium_ion.DFN({"thermal": "lumped"})
        params = pybamm.ParameterValues("Ecker2015")
        layers = 60.0 / params["Nominal cell capacity [A.h]"]
        params["Number of electrodes connected in parallel to make a cell"] = layers
        params["Nominal cell capacity [A.h]"] = 60.0
        params["Cell volume [m3]"] = 0.3 * 0.1 * 0.012
        params["Cell cooling surface area [m2]"] = 0.0696
        params["Total heat transfer coefficient [W.m-2.K-1]"] = 10.0
        params["Ambient temperature [K]"] = temp + 273.15
        params["Initial temperature [K]"] = temp + 273.15
        exp = pybamm.Experiment([f"Discharge at {60.0 * c_rate:.4g} A until 2.75 V"], period="10 seconds")
        sim = pybamm.Simulation(model, parameter_values=params, experiment=exp,
                                solver=pybamm.IDAKLUSolver())
        sol = sim.solve(initial_soc=1.0)
        t = sol["Time [s]"].entries
        rows = np.column_stack([t - t[0], sol["Current [A]"].entries, sol["Voltage [V]"].entries,
                                sol["Discharge capacity [A.h]"].entries,
                                sol["X-averaged cell temperature [K]"].entries - 273.15])
        name = f"{name}.csv"
        np.savetxt(out / name, rows, delimiter=",", fmt="%.6g", comments="",
                   header="time_s,current_a (discharge positive),voltage_v,discharge_capacity_ah,cell_temperature_c")
        print(name, f"{rows[-1, 3]:.3f} Ah, max {rows[:, 4].max():.1f} °C", flush=True)


#: SOC grid of the pouch OCV table (that of ``NMC811_GRAPHITE`` in ``sim_instruments/cell/ocv_tables.py``).
POUCH_SOC_GRID = (
    *(i / 100.0 for i in range(0, 10)), *(0.1 + 0.025 * i for i in range(33)), 0.92, 0.94, 0.96, 0.98, 1.0)


def pouch_60ah_ocv(out: Path = OUT) -> None:
    """OCV table of the 60 Ah ``Ecker2015`` reference cell (:func:`pouch_60ah`), as the presets
    define SOC: SOC 1 at OCV 4.2 V, SOC 0 at OCV 2.75 V (the datasheet's window; PyBaMM's own
    window is 2.5-4.2 V). The electrode stoichiometries move on PyBaMM's electrode-SOH line
    (``get_min_max_stoichiometries``: graphite x0 -> x100, cathode y0 -> y100 between 2.5 and
    4.2 V), the 2.75 V point is found on it by bisection; OCV = U_pos(y) - U_neg(x) with the
    set's ``nco_ocp_Ecker2015`` and ``graphite_ocp_Ecker2015`` (no temperature dependence, no
    entropic term: both are 0 in the set). Capacity = graphite capacity x (x100 - x) over the
    window, x 384 layers. Writes ``ecker2015_60ah_ocv.csv``: soc, ocv_v, graphite_ocp_v, x, y,
    and the capacity in the header."""
    params = pybamm.ParameterValues("Ecker2015")
    u_n, u_p = params["Negative electrode OCP [V]"], params["Positive electrode OCP [V]"]

    def ev(f, sto: float) -> float:
        return float(params.evaluate(f(pybamm.Scalar(sto))))

    x0, x100, y100, y0 = (float(v) for v in pybamm.lithium_ion.get_min_max_stoichiometries(params))

    def ocv(s: float) -> float:
        return ev(u_p, y0 + s * (y100 - y0)) - ev(u_n, x0 + s * (x100 - x0))

    lo, hi = 0.0, 0.5
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if ocv(mid) < 2.75 else (lo, mid)
    s_min = 0.5 * (lo + hi)
    layers = 60.0 / params["Nominal cell capacity [A.h]"]
    q_neg_ah = (params["Maximum concentration in negative electrode [mol.m-3]"]
                * params["Negative electrode active material volume fraction"]
                * params["Negative electrode thickness [m]"] * params["Electrode height [m]"]
                * params["Electrode width [m]"] * 96485.33212 / 3600.0 * layers)
    capacity = q_neg_ah * (x100 - x0) * (1.0 - s_min)
    rows = []
    for soc in POUCH_SOC_GRID:
        s = s_min + soc * (1.0 - s_min)
        x, y = x0 + s * (x100 - x0), y0 + s * (y100 - y0)
        rows.append((soc, ev(u_p, y) - ev(u_n, x), ev(u_n, x), x, y))
    np.savetxt(out / "ecker2015_60ah_ocv.csv", np.array(rows), delimiter=",", fmt="%.6g", comments="",
               header=f"# Ecker2015 x {layers:.0f} layers: capacity {capacity:.4f} Ah between OCV 2.75 and 4.2 V\n"
                      "soc,ocv_v,graphite_ocp_v,graphite_x,cathode_y")
    print(f"ecker2015_60ah_ocv.csv: {capacity:.3f} Ah, x {x0 + s_min * (x100 - x0):.4f} -> {x100:.4f}", flush=True)


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    what = sys.argv[1] if len(sys.argv) > 1 else "cold"
    if what == "cold":
        cold_cccv()
    elif what == "pouch":  # pouch [STEM...]: those runs only
        pouch_60ah(only=tuple(sys.argv[2:]))
    elif what == "pouch-ocv":
        pouch_60ah_ocv()
    else:  # ageing [--ambient C] [PROFILE...]
        args = sys.argv[2:]
        ambient = 25.0
        if args[:1] == ["--ambient"]:
            ambient, args = float(args[1]), args[2:]
        for key in args or list(PROFILES):
            ageing(key, PROFILES[key], ambient_c=ambient)

