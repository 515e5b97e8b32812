"""The 60 Ah pouch (``nmc_pouch_60ah``) against its own DFN reference (issue 30 item 8).

Reference: PyBaMM DFN, ``Ecker2015`` electrodes x 384 layers = 60 Ah, lumped thermal with this
pouch's geometry (``tests/data/reference/ecker2015_60ah_*``, ``scripts/make_fast_charge_references.py
pouch`` / ``pouch-ocv``). Nine runs are fitted (``FIT_RUNS``: 1C and C/3 at 25 °C; 1C and 2C at 0,
-10 and -20 °C; C/5 at -20 °C), five held out (2C at 25 °C, 1C at 10 °C, 1.5C at 0, -10 and
-20 °C). The comparison is like for like (no reversible heat, one lumped temperature: the
Ecker2015 set has no entropic term and the reference is lumped); the preset's own figures, with
its reversible heat and two thermal nodes, are in ``docs/calibration.md`` (its capacity vs rate
is swept in ``test_limits_physics.py``).

Bands, taken from the reference or from the existing calibration, not from this fit:

* at 10-25 °C (fitted and held out): capacity within half the reference's smallest rate effect
  (C/3 vs 1C, 1C vs 2C at 25 °C: 0.12 Ah), V(Q) RMS within half the smaller RMS gap between those
  reference curves (21 mV), i.e. the model resolves the reference's own rate effects;
* at 0 to -20 °C (fitted and held out): capacity within ±2 % and V(Q) RMS below 80 mV, the ``nmc_21700``
  calibration's capacity and cold C/3 voltage bands (``test_calibration.py``);
* heating within 10 % everywhere (the criterion of issue 30's outside check), except two runs
  recorded as strict expected failures (``KNOWN_MISS``, with the held-out 1C/10 °C capacity);
* in the cold (0, -10, -20 °C) the capacity falls from 1C to 1.5C to 2C, in the reference and in
  the model (like for like and the preset).
"""

from __future__ import annotations

import numpy as np
import pytest

from sim_instruments.cell import get_preset, ocv_tables
from sim_instruments.cell.calibration import REFERENCE_DIR, load_reference
from sim_instruments.cell.pouch_calibration import (
    DERIVED,
    FIT_FIELDS,
    FIT_RUNS,
    HELD,
    POUCH_REFERENCE_RUNS,
    REFERENCE_HEAT_CAPACITY_J_PER_K,
    fit_cost,
    fit_pouch,
    pouch_figures,
)

WARM = ("1C_25C", "C3_25C", "2C_25C", "1C_10C")
COLD = ("1C_0C", "1p5C_0C", "2C_0C", "1C_m10C", "1p5C_m10C", "2C_m10C", "C5_m20C", "1C_m20C",
        "1p5C_m20C", "2C_m20C")
FITTED = ("1C_25C", "C3_25C", "1C_0C", "2C_0C", "1C_m10C", "2C_m10C", "C5_m20C", "1C_m20C", "2C_m20C")
HELD_OUT = ("2C_25C", "1C_10C", "1p5C_0C", "1p5C_m10C", "1p5C_m20C")
#: (run, figure) pairs that miss their band on the electrolyte-depletion law, measured (heating K
#: above ambient, capacity Ah; the DFN's: 0.62 K, 10.19 K, 64.61 Ah): the crowded charge transfer
#: heats the cold runs 7-10 % more than the DFN, the fit's trade with the 25 °C runs leaves C/3 13 %
#: low, and the held-out 1C/10 °C capacity is 0.12 Ah low against a 0.116 Ah band
#: (docs/calibration.md, "not met"). Checked as strict expected failures, bands not widened.
KNOWN_MISS = {("C3_25C", "heating"): 0.54, ("1C_0C", "heating"): 11.21, ("1C_10C", "capacity"): 64.49}
#: The cold rate series (1C, 1.5C, 2C) by ambient label.
RATE_SERIES = {t: tuple(f"{r}_{t}" for r in ("1C", "1p5C", "2C")) for t in ("0C", "m10C", "m20C")}


@pytest.fixture(scope="module")
def fig() -> dict[str, float]:
    return pouch_figures("nmc_pouch_60ah", dt_s=1.0)


def _ref(case: str):  # noqa: ANN202 (a calibration Discharge)
    return load_reference(f"ecker2015_60ah_dfn_lumped_{case}")


def _rms_gap_v(case_a: str, case_b: str) -> float:
    """RMS of V(Q) between two reference runs over their common range, V."""
    a, b = _ref(case_a), _ref(case_b)
    grid = np.linspace(0.0, min(a.final_capacity_ah, b.final_capacity_ah), 400)
    diff = np.interp(grid, a.capacity_ah, a.voltage_v) - np.interp(grid, b.capacity_ah, b.voltage_v)
    return float(np.sqrt(np.mean(diff**2)))


def _capacity_band_ah() -> float:
    """Half the reference's smallest rate effect on capacity at 25 °C, Ah."""
    q = {c: _ref(c).final_capacity_ah for c in ("C3_25C", "1C_25C", "2C_25C")}
    effects = (q["C3_25C"] - q["1C_25C"], q["1C_25C"] - q["2C_25C"])
    assert min(effects) > 0.0
    return 0.5 * min(effects)


def _voltage_band_v() -> float:
    """Half the smaller RMS gap between the reference's 25 °C curves at neighbouring rates, V."""
    return 0.5 * min(_rms_gap_v("1C_25C", "C3_25C"), _rms_gap_v("1C_25C", "2C_25C"))


def test_ocv_graphite_ocp_capacity_and_heat_capacity_are_the_reference_cells() -> None:
    path = REFERENCE_DIR / "ecker2015_60ah_ocv.csv"
    table = np.genfromtxt(path, delimiter=",", skip_header=2)
    soc, ocv = ocv_tables.LAYERED_OXIDE_GRAPHITE_POUCH
    assert np.allclose(soc, table[:, 0])
    assert np.allclose(ocv, table[:, 1], atol=0.6e-4)  # rounded to 0.1 mV
    assert np.allclose(ocv_tables.GRAPHITE_OCP_ECKER2015_POUCH_V, table[:, 2], atol=0.6e-4)
    header = path.read_text(encoding="utf-8").splitlines()[0]
    capacity = float(header.split("capacity ")[1].split(" Ah")[0])
    p = get_preset("nmc_pouch_60ah")
    assert p.ocv_v == ocv and p.anode_ocp_v == ocv_tables.GRAPHITE_OCP_ECKER2015_POUCH_V
    assert p.capacity_ah == pytest.approx(capacity, abs=0.005)
    assert p.heat_capacity_j_per_k == pytest.approx(REFERENCE_HEAT_CAPACITY_J_PER_K)


def test_warm_runs_resolve_the_references_rate_effects(fig: dict[str, float]) -> None:
    """10-25 °C, fitted and held out: capacity and V(Q) within half the reference's own rate
    effects, heating within 10 %."""
    band_q, band_v = _capacity_band_ah(), _voltage_band_v()
    for case in WARM:
        if (case, "capacity") not in KNOWN_MISS:
            assert fig[f"lfl_capacity_{case}_ah"] == pytest.approx(fig[f"ref_capacity_{case}_ah"], abs=band_q), case
        assert fig[f"lfl_rms_{case}_v"] < band_v, (case, band_v)
        if (case, "heating") not in KNOWN_MISS:
            assert fig[f"lfl_heating_{case}_k"] == pytest.approx(fig[f"ref_heating_{case}_k"], rel=0.10), case
    assert fig["lfl_capacity_C3_25C_ah"] > fig["lfl_capacity_1C_25C_ah"] > fig["lfl_capacity_2C_25C_ah"]


def test_cold_runs_within_the_21700_calibration_bands(fig: dict[str, float]) -> None:
    """0 to -20 °C: capacity within ±2 %, V(Q) RMS below 80 mV, heating within 10 %; and the
    capacity falls from C/5 to 1C at -20 °C as the reference's does."""
    for case in COLD:
        assert fig[f"lfl_capacity_{case}_ah"] == pytest.approx(fig[f"ref_capacity_{case}_ah"], rel=0.02), case
        assert fig[f"lfl_rms_{case}_v"] < 0.080, case
        if (case, "heating") not in KNOWN_MISS:
            assert fig[f"lfl_heating_{case}_k"] == pytest.approx(fig[f"ref_heating_{case}_k"], rel=0.10), case
    assert fig["lfl_capacity_C5_m20C_ah"] > fig["lfl_capacity_1C_m20C_ah"]


@pytest.mark.xfail(strict=True, reason="outside its band in these runs (issue 30 item 8, not met; "
                   "docs/calibration.md)")
@pytest.mark.parametrize(("case", "figure"), sorted(KNOWN_MISS))
def test_known_misses(fig: dict[str, float], case: str, figure: str) -> None:
    """The recorded misses are what the model gives, and they do miss their band."""
    unit = "k" if figure == "heating" else "ah"
    sim, ref = fig[f"lfl_{figure}_{case}_{unit}"], fig[f"ref_{figure}_{case}_{unit}"]
    assert sim == pytest.approx(KNOWN_MISS[(case, figure)], abs=0.05)
    if figure == "heating":
        assert sim == pytest.approx(ref, rel=0.10), case
    else:
        assert sim == pytest.approx(ref, abs=_capacity_band_ah()), case


@pytest.mark.parametrize("ambient", list(RATE_SERIES))
def test_cold_capacity_falls_with_rate_as_the_references(fig: dict[str, float], ambient: str) -> None:
    """0, -10, -20 °C, 1C -> 1.5C (held out) -> 2C: the reference's capacity falls (its own
    self-heating does not win it back), and so does the model's, like for like and as the preset."""
    for form in ("ref", "lfl", "sim"):
        caps = [fig[f"{form}_capacity_{case}_ah"] for case in RATE_SERIES[ambient]]
        assert caps[0] > caps[1] > caps[2], (form, ambient, caps)


def test_the_preset_is_what_the_fit_and_the_reference_physics_give() -> None:
    """The derived and held values are the preset's, and the preset sits at the fit's minimum: the fit's
    first steps from it (3 trust-region steps; a full re-fit is ``--fit``, 1-2 min) lower the cost
    by less than 1 % (the fitted parameters lie in a flat valley, so the claim is on the cost, with
    each parameter within 10 % of the preset's)."""
    p = get_preset("nmc_pouch_60ah")
    for name, value in {**DERIVED, **HELD}.items():
        assert getattr(p, name) == value, name
    fitted = fit_pouch(p, max_evaluations=3)
    assert fitted["cost"] > 0.99 * fit_cost(p)
    for name in FIT_FIELDS:
        assert fitted[name] == pytest.approx(getattr(p, name), rel=0.10), name
    assert FIT_RUNS == tuple(f"ecker2015_60ah_dfn_lumped_{c}" for c in FITTED)
    held_out = tuple(stem.split("lumped_")[1] for stem in POUCH_REFERENCE_RUNS if stem not in FIT_RUNS)
    assert held_out == HELD_OUT
