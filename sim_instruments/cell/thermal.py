"""Two-node (core / surface) thermal model and the lumped thermal-runaway exotherm.

Pure float arithmetic, no numpy. :class:`~sim_instruments.cell.model.CellModel` inlines
:func:`two_node_step` and :meth:`Exotherm.step` in its per-sample step with the same expressions
(tests/sim_instruments/test_cell_fast_path.py checks the results are bit-identical): change
both together.

Thermal network (°C, W, J/K, W/K)::

    P_core -> [C_core] --k_cs-- [C_surface] --h·A-- ambient air

Integrated with backward Euler (unconditionally stable for any step, exact steady state).

Exotherm: one lumped first-order decomposition reaction (SEI breakdown, anode-electrolyte and
cathode-electrolyte reactions lumped) with Arrhenius rate ``k(T) = k_ref·exp(-Ea/R·(1/T - 1/T_ref))``
and a finite reactant fraction ``c`` (1 = fresh, 0 = consumed) that releases ``E_total·Δc`` joules
into the core. For a step with the temperature held the reactant decays exactly:
``c' = c·exp(-k·dt)``, so the released heat can never exceed what is left.
"""

from __future__ import annotations

import math

#: Gas constant, J/(mol·K).
GAS_CONSTANT = 8.314462618
#: 0 °C in kelvin.
KELVIN = 273.15
#: Exotherm self-heating rate above which runaway is declared self-sustaining, K/s. 10 K/min is
#: the usual accelerating-rate-calorimetry threshold for thermal runaway.
RUNAWAY_SELF_HEATING_K_PER_S = 10.0 / 60.0


def two_node_step(
    dt_s: float,
    core_c: float,
    surface_c: float,
    core_heat_w: float,
    ambient_c: float,
    c_core_j_per_k: float,
    c_surface_j_per_k: float,
    k_cs_w_per_k: float,
    h_a_w_per_k: float,
) -> tuple[float, float]:
    """Advance core and surface temperatures (°C) by ``dt_s`` seconds with backward Euler.

    ``core_heat_w`` is the heat generated in the core during the step (W), ``ambient_c`` the air
    temperature (°C); ``h_a_w_per_k`` is the convective conductance surface -> air (W/K).
    """
    a11 = c_core_j_per_k / dt_s + k_cs_w_per_k
    a22 = c_surface_j_per_k / dt_s + k_cs_w_per_k + h_a_w_per_k
    b1 = c_core_j_per_k / dt_s * core_c + core_heat_w
    b2 = c_surface_j_per_k / dt_s * surface_c + h_a_w_per_k * ambient_c
    det = a11 * a22 - k_cs_w_per_k * k_cs_w_per_k
    new_core = (b1 * a22 + k_cs_w_per_k * b2) / det
    new_surface = (a11 * b2 + k_cs_w_per_k * b1) / det
    return new_core, new_surface


class Exotherm:
    """The lumped decomposition reaction of one cell (stateless: the reactant lives in the cell)."""

    __slots__ = ("energy_j", "_ea_over_r", "_inv_t_ref", "_k_ref")

    def __init__(
        self, energy_j: float, activation_j_mol: float, rate_per_s: float, reference_c: float
    ) -> None:
        """``energy_j``: total heat; ``rate_per_s``: rate constant at ``reference_c`` (°C)."""
        self.energy_j = energy_j
        self._ea_over_r = activation_j_mol / GAS_CONSTANT
        self._inv_t_ref = 1.0 / (reference_c + KELVIN)
        self._k_ref = rate_per_s

    @property
    def active(self) -> bool:
        """False for a cell with no exothermic chemistry (solid electrolyte)."""
        return self.energy_j > 0.0 and self._k_ref > 0.0

    def rate_per_s(self, temperature_c: float) -> float:
        """First-order rate constant at ``temperature_c`` (°C), 1/s."""
        if not self.active:
            return 0.0
        x = self._ea_over_r * (self._inv_t_ref - 1.0 / (temperature_c + KELVIN))
        return self._k_ref * math.exp(min(x, 200.0))

    def power_w(self, temperature_c: float, reactant: float) -> float:
        """Instantaneous exothermic power at this temperature and reactant fraction, W."""
        return self.energy_j * reactant * self.rate_per_s(temperature_c)

    def step(self, dt_s: float, temperature_c: float, reactant: float) -> tuple[float, float]:
        """Consume reactant over ``dt_s`` at fixed temperature; return (new reactant, heat J)."""
        if reactant <= 0.0 or not self.active:
            return reactant, 0.0
        k = self.rate_per_s(temperature_c)
        new = reactant * math.exp(-k * dt_s)
        return new, self.energy_j * (reactant - new)
