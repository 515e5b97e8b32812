"""The names a protocol's expressions can use: built-in variables, step results, and the
numeric parameters (in SI base units). Shared by the tree builder (validation) and the plan
(evaluation); see :mod:`protocols.plan` for what each means."""

from __future__ import annotations

from collections.abc import Mapping

from protocols.quantities import QuantityError, parse_quantity

BUILTIN_VARIABLES = (
    "cycle", "repetition", "step_count", "test_time_s",
    "discharge_capacity_ah", "discharge_energy_wh", "charge_capacity_ah",
    "cycle_charge_ah", "cycle_discharge_ah", "cycle_charge_wh", "cycle_discharge_wh",
    "coulombic_efficiency", "energy_efficiency",
)
STEP_RESULT_NAMES = (
    "charge_ah", "discharge_ah", "charge_wh", "discharge_wh", "capacity_ah", "energy_wh", "duration_s",
    "voltage_start_v", "voltage_end_v", "current_end_a", "temperature_max_c", "temperature_min_c",
)
#: Values an EIS step reports (from the impedance fit; NaN when the sweep gives none).
EIS_RESULT_NAMES = ("r0_ohm", "r_ct_ohm")


def numeric_parameters(parameters: Mapping[str, str]) -> dict[str, float]:
    """Parameters whose value is a number or a quantity (not a C-rate), in SI base units."""
    out: dict[str, float] = {}
    for name, text in parameters.items():
        try:
            out[name] = float(text)
            continue
        except ValueError:
            pass
        try:
            quantity = parse_quantity(text)
        except QuantityError:
            continue
        if quantity.dimension != "c_rate":
            out[name] = quantity.value
    return out
