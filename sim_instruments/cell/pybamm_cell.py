"""Optional high-fidelity simulated cell: a PyBaMM SPMe with a lumped thermal model behind the
same interface as :class:`sim_instruments.cell.model.CellModel`.

Needs PyBaMM (``pip install cellbench[pybamm]``); this module imports it at construction time only.
Sign convention as everywhere in CellBench: current POSITIVE WHEN CHARGING (PyBaMM's is positive
on discharge; the sign is flipped at the boundary). Units: A, V, °C, s, Ω.

Model: ``pybamm.lithium_ion.SPMe({"thermal": "lumped"})`` with the ``ORegan2022`` parameter set
(LG M50 21700, with the temperature dependence measured by O'Regan et al. 2022), the current and
the ambient temperature as input parameters, advanced with ``Simulation.step``. The model's
voltage cut-off events are widened to 2.0-4.4 V so that the bench's own end conditions and protections (not
the model) decide when a step ends.

Approximations (the price of stepping a PDE model from an instrument front end):

* **Deferred integration.** A PyBaMM step costs ~25 ms whatever its length, and the world steps
  every second, so consecutive steps with (nearly) the same current and ambient are merged and
  integrated together at their charge-weighted mean current. A merged chunk is integrated once it
  is long enough that the voltage moves ~:data:`VOLTAGE_TOLERANCE_V` (at most
  :data:`MAX_CHUNK_S`, and short right after a current change), or when the current changes.
* **Instantaneous voltage.** ``terminal_voltage_v(I)`` between integrations is the last PyBaMM
  voltage, extrapolated along its last slope dV/dt over the pending time, plus an ohmic estimate
  ``R·(I - I_last)``. ``R`` is the SPMe's reaction overpotential + electrolyte and solid ohmic
  losses divided by the last current (kept from the last loaded step while the cell rests).
  ``current_for_voltage_a`` inverts that estimate; it is linear in ``I``, so one secant step is
  exact (CV holds converge on the estimate and are corrected at each integration).
* **Impedance** (for the simulated impedance meter) comes from the ECM preset's EIS model,
  evaluated at this cell's SOC and temperature with its ohmic resistance scaled to the PyBaMM
  estimate.
* **Abuse**: no internal short or runaway model (``set_internal_short`` raises).
* **Temperatures**: lumped model: core = volume-averaged cell temperature, surface = the lumped
  model's surface temperature.
"""

from __future__ import annotations

import logging
import os
import random
from typing import TYPE_CHECKING, Any

from sim_instruments.cell.model import CellModel
from sim_instruments.cell.noise import MeasurementNoise
from sim_instruments.cell.presets import CellPreset

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger(__name__)

KELVIN = 273.15
#: Voltage change per PyBaMM integration the deferred stepping aims at, V.
VOLTAGE_TOLERANCE_V = 0.01
#: Longest merged chunk, s.
MAX_CHUNK_S = 300.0
#: First chunk after a current change, s.
FIRST_CHUNK_S = 2.0
#: Currents within this relative (and absolute, A) difference are merged into one chunk.
MERGE_REL = 0.02
MERGE_ABS_A = 0.01
PARAMETER_SET = "ORegan2022"
#: The ageing variant (``degradation=True``): the cycling-ageing reference's parameter set and its
#: SEI + partially reversible plating options (the reference's particle cracking / LAM options
#: are left out: they need the DFN's mechanics and cost several times more per step).
DEGRADATION_PARAMETER_SET = "OKane2022"
DEGRADATION_OPTIONS: dict[str, str] = {
    "SEI": "solvent-diffusion limited",
    "SEI porosity change": "true",
    "lithium plating": "partially reversible",
    "lithium plating porosity change": "true",
    "thermal": "lumped",
}
_DEGRADATION_OUTPUTS = (
    "Loss of capacity to negative SEI [A.h]", "Loss of capacity to negative lithium plating [A.h]",
    "Loss of lithium inventory [%]",
)
_OUTPUTS = (
    "Voltage [V]", "Battery open-circuit voltage [V]", "Volume-averaged cell temperature [K]",
    "Volume-averaged surface temperature [K]", "Discharge capacity [A.h]",
    "X-averaged battery reaction overpotential [V]", "X-averaged battery electrolyte ohmic losses [V]",
    "X-averaged battery solid phase ohmic losses [V]",
)


def pybamm_available() -> bool:
    """True when PyBaMM can be imported."""
    try:
        import pybamm  # noqa: F401
    except ImportError:
        return False
    return True


class PybammCellModel(MeasurementNoise):
    """One simulated cell backed by a PyBaMM SPMe + lumped thermal model (``ORegan2022``).

    Current POSITIVE WHEN CHARGING, amps; volts; °C; seconds. ``preset`` supplies the ratings,
    the measurement noise and the SOC scale (``soc`` is coulomb-counted against
    ``preset.capacity_ah``, as for the ECM); the electrochemistry is PyBaMM's.
    """

    runaway = False
    separator_melted = False
    internal_short_ohm = None

    def __init__(
        self, preset: CellPreset, soc: float = 1.0, temperature_c: float = 25.0, seed: int | None = 0,
        *, degradation: bool = False,
    ) -> None:
        """A rested cell at ``soc`` (0..1, set through the preset's OCV: PyBaMM starts at that
        open-circuit voltage) and ``temperature_c`` (cell and ambient). ``degradation``: the SPMe
        with :data:`DEGRADATION_OPTIONS` and the ``OKane2022`` parameters (SEI growth and partially
        reversible lithium plating, so the cell ages; ~1.5x the cost per PyBaMM step)."""
        os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
        try:
            import pybamm
        except ImportError as exc:
            raise ImportError("PyBaMM is not installed: pip install cellbench[pybamm]") from exc
        self.preset = preset
        self._pybamm = pybamm
        self._ecm = CellModel(preset, soc=soc, temperature_c=temperature_c, seed=None)
        self._rng = random.Random(seed)
        self._v_noise = preset.voltage_noise_v
        self._t_noise = preset.temperature_noise_k
        self._t_offset = 0.0
        self._soc0 = float(soc)
        self._ambient_c = float(temperature_c)
        self.degradation = degradation
        params = pybamm.ParameterValues(DEGRADATION_PARAMETER_SET if degradation else PARAMETER_SET)
        params.update({
            "Current function [A]": "[input]",
            "Ambient temperature [K]": "[input]",
            "Initial temperature [K]": temperature_c + KELVIN,
            "Lower voltage cut-off [V]": 2.0,
            "Upper voltage cut-off [V]": 4.4,
        })
        options = dict(DEGRADATION_OPTIONS) if degradation else {"thermal": "lumped"}
        self._outputs = _OUTPUTS + (_DEGRADATION_OUTPUTS if degradation else ())
        model = pybamm.lithium_ion.SPMe(options)
        solver = pybamm.IDAKLUSolver(output_variables=list(self._outputs))  # only what is read: ~2x faster
        self._sim = pybamm.Simulation(model, parameter_values=params, solver=solver)
        ocv0 = self._ecm.ocv_at_soc_v(min(max(soc, 0.0), 1.0))
        self._inputs = {"Current function [A]": 0.0, "Ambient temperature [K]": temperature_c + KELVIN}
        self._sim.build(initial_soc=f"{ocv0:.4f} V", inputs=self._inputs)
        self._solution: Any = None
        # last integrated state
        self._v = ocv0
        self._ocv = ocv0
        self._tc = float(temperature_c)
        self._ts = float(temperature_c)
        self._q_dis_ah = 0.0
        self._i_last = 0.0
        self._slope_v_per_s = 0.0
        self._r_ohm = preset.r0_ohm + preset.rct_ohm
        # pending (merged, not yet integrated) chunk
        self._pend_s = 0.0
        self._pend_charge_as = 0.0
        self._pend_i = 0.0
        self._chunk_s = FIRST_CHUNK_S
        self._failed = False
        self._losses: dict[str, float] = {}
        self.integrations = 0

    # ------------------------------------------------------------------ integration
    def _flush(self) -> None:
        """Integrate the pending chunk with PyBaMM at its mean current."""
        dt = self._pend_s
        if dt <= 0.0:
            return
        i_mean = self._pend_charge_as / dt
        self._pend_s = 0.0
        self._pend_charge_as = 0.0
        inputs = {"Current function [A]": -i_mean, "Ambient temperature [K]": self._ambient_c + KELVIN}
        v_before = self._v
        try:
            sol = self._sim.step(dt, inputs=inputs, save=False)
        except self._pybamm.SolverError as exc:  # e.g. driven past the model's stoichiometry limits
            if not self._failed:
                logger.warning("PyBaMM cell: step of %.1f s at %.3f A failed (%s); state held", dt, i_mean, exc)
            self._failed = True
            self._q_dis_ah -= i_mean * dt / 3600.0
            return
        self.integrations += 1
        if sol.termination != "final time" and not self._failed:
            self._failed = True
            logger.warning("PyBaMM cell: %s at %.3f A (state held at the event; PyBaMM cannot step "
                           "past it)", sol.termination, i_mean)
        values = {name: float(sol[name].entries[-1]) for name in self._outputs}
        self._losses = {name: values[name] for name in _DEGRADATION_OUTPUTS if name in values}
        self._solution = sol
        self._v = values["Voltage [V]"]
        self._ocv = values["Battery open-circuit voltage [V]"]
        self._tc = values["Volume-averaged cell temperature [K]"] - KELVIN
        self._ts = values["Volume-averaged surface temperature [K]"] - KELVIN
        self._q_dis_ah = values["Discharge capacity [A.h]"]
        if abs(i_mean) > 0.05:
            losses = (values["X-averaged battery reaction overpotential [V]"]
                      + values["X-averaged battery electrolyte ohmic losses [V]"]
                      + values["X-averaged battery solid phase ohmic losses [V]"])
            self._r_ohm = min(max(abs(losses / i_mean), 1e-3), 1.0)
        changed = abs(i_mean - self._i_last) > MERGE_ABS_A + MERGE_REL * abs(self._i_last)
        self._slope_v_per_s = 0.0 if changed else (self._v - v_before) / dt
        self._i_last = i_mean
        slope = abs(self._slope_v_per_s)
        target = VOLTAGE_TOLERANCE_V / slope if slope > 0.0 else MAX_CHUNK_S
        self._chunk_s = min(MAX_CHUNK_S, max(1.0, min(target, 2.0 * max(self._chunk_s, dt))))

    def flush(self) -> None:
        """Integrate everything pending now (e.g. before reading the exact state)."""
        self._flush()

    def step(self, dt_s: float, current_a: float, ambient_c: float) -> None:
        """Advance by ``dt_s`` seconds with external ``current_a`` (A, + = charge) held and chamber
        air at ``ambient_c`` (°C). Integration may be deferred (see the module docstring)."""
        if not dt_s > 0.0:
            return
        if self._pend_s > 0.0:
            ref = self._pend_charge_as / self._pend_s
            if (abs(current_a - ref) > MERGE_ABS_A + MERGE_REL * abs(ref)
                    or abs(ambient_c - self._ambient_c) > 0.2):
                self._flush()
                self._chunk_s = FIRST_CHUNK_S
        elif abs(current_a - self._i_last) > MERGE_ABS_A + MERGE_REL * abs(self._i_last):
            self._chunk_s = FIRST_CHUNK_S
        self._ambient_c = float(ambient_c)
        self._pend_s += dt_s
        self._pend_charge_as += current_a * dt_s
        self._pend_i = current_a
        if self._pend_s >= self._chunk_s - 1e-9:
            self._flush()

    # ------------------------------------------------------------------ terminal relations
    def terminal_voltage_v(self, current_a: float) -> float:
        """Terminal voltage if ``current_a`` (A, + = charge) flows now, V (estimate between
        integrations: last voltage + slope·pending time + R·ΔI; state unchanged)."""
        return self._v + self._slope_v_per_s * self._pend_s + self._r_ohm * (current_a - self._i_last)

    def voltage_after_v(self, dt_s: float, current_a: float) -> float:
        """Terminal voltage after ``dt_s`` s at ``current_a``: the estimate of
        :meth:`terminal_voltage_v` (it already extrapolates over the pending time), V."""
        return self.terminal_voltage_v(current_a)

    def current_for_voltage_a(self, voltage_v: float, dt_s: float = 0.0) -> float:
        """External current (A, + = charge) that holds ``voltage_v`` at the terminals now: a
        secant step on :meth:`terminal_voltage_v` (exact, as the estimate is linear in I).
        ``dt_s`` (the step the current is held for) is not used: the estimate already extrapolates
        over the pending time and each integration corrects it."""
        i0, i1 = self._i_last, self._i_last + 1.0
        f0 = self.terminal_voltage_v(i0) - voltage_v
        f1 = self.terminal_voltage_v(i1) - voltage_v
        return i1 - f1 * (i1 - i0) / (f1 - f0)

    # ------------------------------------------------------------------ state
    @property
    def soc(self) -> float:
        """Coulomb-counted SOC vs ``preset.capacity_ah`` (pending charge included), 0..1."""
        s = self._soc0 + (-self._q_dis_ah * 3600.0 + self._pend_charge_as) / (self.preset.capacity_ah * 3600.0)
        return min(max(s, 0.0), 1.0)

    @property
    def surface_soc(self) -> float:
        """No separate surface SOC is exposed by this backend: the bulk SOC, fraction."""
        return self.soc

    @property
    def temperature_core_c(self) -> float:
        """Volume-averaged cell temperature of the lumped model, °C."""
        return self._tc

    @property
    def temperature_surface_c(self) -> float:
        """Surface temperature of the lumped model, °C."""
        return self._ts

    def open_circuit_voltage_v(self) -> float:
        """PyBaMM's battery open-circuit voltage (at the particle surfaces) at the last integration, V."""
        return self._ocv

    def ocv_at_soc_v(self, soc: float) -> float:
        """OCV table lookup of the preset at an arbitrary SOC (25 °C), V."""
        return self._ecm.ocv_at_soc_v(soc)

    def resistance_ohm(self) -> float:
        """Instantaneous resistance estimate (SPMe reaction + ohmic losses / current), Ω."""
        return self._r_ohm

    def _sync_ecm(self) -> CellModel:
        ecm = self._ecm
        ecm.soc = self.soc
        ecm.temperature_core_c = self._tc
        return ecm

    def impedance_parameters(self) -> dict[str, float]:
        """ECM small-signal circuit at this cell's SOC and temperature, R0 scaled to the PyBaMM
        resistance estimate (see the module docstring)."""
        ecm = self._sync_ecm()
        params = ecm.impedance_parameters()
        ecm_r = ecm.resistance_ohm() + ecm.charge_transfer_resistance_ohm()
        params["r0_ohm"] *= self._r_ohm / ecm_r if ecm_r > 0 else 1.0
        return params

    def impedance_ohm(self, frequencies_hz: np.ndarray) -> np.ndarray:
        """Complex small-signal impedance (Ω) at these frequencies (Hz), from the ECM's EIS model
        with :meth:`impedance_parameters`."""
        from sim_instruments.cell.impedance_spectrum import cell_impedance_ohm

        return cell_impedance_ohm(self, frequencies_hz)

    def set_internal_short(self, resistance_ohm: float | None) -> None:
        """Not modelled by the PyBaMM backend."""
        if resistance_ohm is None:
            return
        raise NotImplementedError("the PyBaMM cell backend has no internal-short model; use --cell-backend ecm")

    def state_dict(self) -> dict[str, float]:
        """Best effort: the coulomb-counted SOC and temperatures (PyBaMM's internal concentrations are
        not saved; a restored cell starts rested at that SOC's OCV)."""
        return {"soc": self.soc, "temperature_core_c": self._tc, "temperature_surface_c": self._ts,
                "thermocouple_offset_k": self._t_offset}

    def load_state(self, state: dict[str, float]) -> None:
        """Best effort restore of :meth:`state_dict`: rebuilds the model rested at that SOC (a
        degrading cell restarts fresh: PyBaMM's SEI and plated-lithium states are not saved)."""
        self.__init__(self.preset, soc=float(state["soc"]),  # type: ignore[misc]  # rebuild in place, on purpose
                      temperature_c=float(state["temperature_core_c"]), seed=None,
                      degradation=self.degradation)
        self._t_offset = float(state.get("thermocouple_offset_k", 0.0))

    def degradation_losses(self) -> dict[str, float]:
        """PyBaMM's side-reaction losses at the last integration (``degradation=True`` only):
        ``sei_loss_ah``, ``plating_loss_ah`` (plated lithium, reversible and dead) and
        ``lithium_inventory_loss_pct``; empty for the non-ageing cell."""
        self._flush()
        if not self._losses:
            return {}
        return {
            "sei_loss_ah": self._losses["Loss of capacity to negative SEI [A.h]"],
            "plating_loss_ah": self._losses["Loss of capacity to negative lithium plating [A.h]"],
            "lithium_inventory_loss_pct": self._losses["Loss of lithium inventory [%]"],
        }

    def __repr__(self) -> str:
        return f"PybammCellModel({self.preset.name!r}, SPMe {PARAMETER_SET}, soc={self.soc:.4f}, {self._tc:.2f} °C)"


class PybammAgeingCellModel(PybammCellModel):
    """:class:`PybammCellModel` with ``degradation=True`` (a cell factory for the bench:
    ``factory(preset, soc=, temperature_c=, seed=)``)."""

    def __init__(
        self, preset: CellPreset, soc: float = 1.0, temperature_c: float = 25.0, seed: int | None = 0,
        *, degradation: bool = True,
    ) -> None:
        super().__init__(preset, soc=soc, temperature_c=temperature_c, seed=seed, degradation=degradation)
