"""``analysis: interface_impedance``: the area-specific resistance (ASR) of the interface arc, Ω·cm².

The interface arc is the charge-transfer arc of the fitted circuit (R1∥CPE1 of
:mod:`bench.analysis.eis_fit`): in a solid-state cell the solid-solid interfaces (cathode |
solid electrolyte, lithium | solid electrolyte) give this mid-frequency arc; in a liquid cell it
is the electrode / electrolyte charge transfer. A whole cell's resistance scales inversely with
its electrode area, so a cell-level claim in Ω·cm² is ``R_interface x A`` with ``A`` the electrode
(separator-facing) area the datasheet states (``electrode_area_m2``).

Metrics: ``interface_asr_ohm_cm2`` and its 1-sigma ``interface_asr_sigma_ohm_cm2`` (the fit's
uncertainty of R1; the area is taken as exact, as the datasheet states it), from the spectrum
measured closest to 25 °C (the reference condition; every spectrum's ASR is in the conditions).
Without an electrode area, or without a fitted spectrum, the metric is absent and
``conditions["not_measured"]`` says why (the claim is then "not tested" with that reason).
"""

from __future__ import annotations

from typing import Any

from bench.analysis.eis_fit import eis_summary
from bench.analysis.numbers import positive_or_none
from bench.runfile.reader import RunFile

#: m² -> cm².
CM2_PER_M2 = 1e4
#: The reference temperature the headline ASR is taken at, °C (the spectrum nearest to it).
REFERENCE_C = 25.0


def interface_impedance(run: RunFile) -> tuple[dict[str, Any], dict[str, Any]]:
    """Metrics and conditions of the interface-impedance analysis (see the module docstring)."""
    cell = run.attrs.get("cell") or {}
    area_m2 = positive_or_none(cell.get("electrode_area_m2"))
    fitted = [s for s in eis_summary(run) if "rct_ohm" in s]
    metrics: dict[str, Any] = {"eis_spectra_fitted": len(fitted)}
    conditions: dict[str, Any] = {
        "interface_arc": "charge-transfer arc R1||CPE1 of R0 + L + R1||CPE1 + R2||CPE2 + Warburg",
        "asr_definition": "ASR = R1 x electrode area (datasheet electrode_area_m2)",
    }
    if area_m2 is None:
        conditions["not_measured"] = {"interface_asr_ohm_cm2": "the cell's datasheet states no electrode area "
                                                               "(electrode_area_m2)"}
        return metrics, conditions
    if not fitted:
        conditions["not_measured"] = {"interface_asr_ohm_cm2": "no impedance spectrum could be fitted"}
        return metrics, conditions
    area_cm2 = area_m2 * CM2_PER_M2
    conditions["electrode_area_cm2"] = round(area_cm2, 3)
    per_spectrum = [{
        "spectrum": s["spectrum"], "temperature_c": s["temperature_c"], "soc": s["soc"],
        "r1_ohm": s["rct_ohm"], "asr_ohm_cm2": round(s["rct_ohm"] * area_cm2, 4),
        "asr_sigma_ohm_cm2": _scaled(s.get("rct_sigma_ohm"), area_cm2),
        "fit_rms_pct": s.get("fit_rms_pct"), "kk_valid": s.get("kk_valid"),
    } for s in fitted]
    conditions["interface_spectra"] = per_spectrum
    reference = min(per_spectrum, key=lambda s: abs(float(s["temperature_c"]) - REFERENCE_C))
    metrics["interface_asr_ohm_cm2"] = reference["asr_ohm_cm2"]
    if reference["asr_sigma_ohm_cm2"] is not None:
        metrics["interface_asr_sigma_ohm_cm2"] = reference["asr_sigma_ohm_cm2"]
    conditions["interface_reference"] = {k: reference[k] for k in ("spectrum", "temperature_c", "soc", "kk_valid")}
    return metrics, conditions



def _scaled(sigma: Any, area_cm2: float) -> float | None:
    value = positive_or_none(sigma)
    return round(value * area_cm2, 4) if value is not None else None
