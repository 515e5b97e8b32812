"""How long each bound of the cell model is active in each calibration case (issue 30 item 2).

A calibrated figure should come from the physics, not from a bound: this module runs the
calibration cases of ``docs/calibration.md`` on a cell and counts, per case, the share of the
time (fraction of the case's duration) during which each bound of :class:`CellModel` decides a
value instead of its law:

* ``electrolyte_depletion_guard``: the electrolyte depletion state ``|z|`` (model.py) at the
  numerical guard ``ZE_MAX`` = 0.999 that keeps the crowding factor ``1/(1 - |z|)`` finite once
  the electrolyte is empty (until issue 30 the crowding was an instantaneous
  ``1/(1 - I/I_lim)`` held at a 10x cap, active 100 % of the 1C/-20 °C discharge and 8 % of the
  3C CC-CV);
* ``sei_temperature_cap``: the SEI Arrhenius factor held at its 60 °C value;
* ``soc_parameter_clamp``: SOC outside 0..1 (the parameters read at the end of their table);
* ``plating_current_cap``: the plating current capped at the charge current.

The near-full charge polarisation's current term is linear in ``I/1C`` since issue 30 (it was
``min(1, I/1C)``, saturated 25 % of the 3C CC-CV): no bound left to report there.

Run ``python -m sim_instruments.cell.clamp_report`` (or ``python -m sim_instruments.cell.calibration
--bounds``) for the table. Units: A, V, °C, s.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

from sim_instruments.cell.charge_calibration import start_soc
from sim_instruments.cell.model import CellModel
from sim_instruments.cell.presets import CellPreset, get_preset
from sim_instruments.cell.voltage_hold import ZE_MAX

BOUNDS = ("electrolyte_depletion_guard", "sei_temperature_cap", "soc_parameter_clamp",
          "plating_current_cap")


def active_bounds(cell: CellModel, current_a: float, dt_s: float) -> tuple[bool, ...]:
    """Which bounds decide a value if ``current_a`` (A, + = charge) flows for the next ``dt_s``
    s (order: BOUNDS)."""
    p = cell.preset
    crowd = False
    if cell._ilim > 0.0:  # the end-of-step depletion, as CellModel._advance computes it
        zs = (current_a * p.limiting_current_charge_factor if current_a >= 0.0 else current_a) / cell._ilim
        z = zs + (cell._ze - zs) * math.exp(-dt_s / cell._taue)
        crowd = abs(z) >= ZE_MAX
    sei = cell._tc > 60.0
    soc = not 0.0 <= cell._soc <= 1.0
    plating = False
    if current_a > 0.0 and p.anode_ocp_v is not None:
        phi = cell.anode_potential_v(current_a)
        g = p.degradation.plating_conductance_a_per_v_ah * cell._cap0_as / 3600.0
        plating = phi < 0.0 and -phi * g / cell._a_t >= current_a
    return crowd, sei, soc, plating


def _run(cell: CellModel, steps: list[tuple[str, float, float]], ambient_c: float, dt_s: float,
         counts: list[float]) -> float:
    """Drive ``cell`` through ``steps`` (kind, current or voltage, end): ``cc`` (A, until V),
    ``cv`` (V, until A), ``rest`` (0, seconds); add the active time of each bound to ``counts``;
    return the total time, s."""
    p = cell.preset
    total = 0.0
    for kind, value, end in steps:
        rested = 0.0
        for _ in range(int(20 * 3600 / dt_s)):
            if kind == "cc":
                i = value
                v = cell.terminal_voltage_v(i)
                if (i > 0.0 and v >= end) or (i < 0.0 and v <= end):
                    break
            elif kind == "cv":
                i = min(p.nominal_capacity_ah, cell.current_for_voltage_a(value, dt_s))
                if i <= end:
                    break
            else:
                i = 0.0
                if rested >= end:
                    break
                rested += dt_s
            for k, on in enumerate(active_bounds(cell, i, dt_s)):
                counts[k] += dt_s if on else 0.0
            cell.step(dt_s, i, ambient_c)
            total += dt_s
    return total


def calibration_cases(p: CellPreset) -> dict[str, Callable[[], tuple[CellModel, list[tuple[str, float, float]], float]]]:
    """The calibration cases of docs/calibration.md as (cell, steps, ambient) factories."""
    c = p.nominal_capacity_ah
    vmax, vmin = p.voltage_max_v, p.voltage_min_v

    def discharge(rate: float, t: float) -> Callable[[], tuple[CellModel, list[tuple[str, float, float]], float]]:
        return lambda: (CellModel(p, soc=1.0, temperature_c=t, seed=None), [("cc", -rate * c, vmin)], t)

    def charge(rate: float, t: float) -> Callable[[], tuple[CellModel, list[tuple[str, float, float]], float]]:
        return lambda: (CellModel(p, soc=start_soc(p), temperature_c=t, seed=None),
                        [("cc", rate * c, vmax), ("cv", vmax, c / 20.0)], t)

    return {
        "discharge 1C 25 °C": discharge(1.0, 25.0),
        "discharge C/3 25 °C": discharge(1.0 / 3.0, 25.0),
        "discharge 1C -20 °C": discharge(1.0, -20.0),
        "discharge C/3 -20 °C": discharge(1.0 / 3.0, -20.0),
        "discharge C/5 25 °C": discharge(0.2, 25.0),
        "discharge C/5 -20 °C": discharge(0.2, -20.0),
        "discharge 2C 25 °C": discharge(2.0, 25.0),
        "discharge 2C 0 °C": discharge(2.0, 0.0),
        "discharge 1.5C -20 °C": discharge(1.5, -20.0),
        "discharge 2C -20 °C": discharge(2.0, -20.0),
        "CC-CV C/2 25 °C": charge(0.5, 25.0),
        "CC-CV 1C 25 °C": charge(1.0, 25.0),
        "CC-CV 3C 25 °C": charge(3.0, 25.0),
        "CC-CV 1C 5 °C": charge(1.0, 5.0),
        "CC-CV C/2 0 °C": charge(0.5, 0.0),
        "ageing cycle 0.3C 25 °C": lambda: (CellModel(p, soc=1.0, temperature_c=25.0, seed=None),
                                            [("cc", -c, vmin), ("rest", 0.0, 600.0), ("cc", 0.3 * c, vmax),
                                             ("cv", vmax, c / 50.0)], 25.0),
    }


def clamp_report(preset: CellPreset | str = "nmc_21700", dt_s: float = 2.0) -> dict[str, dict[str, float]]:
    """Case -> bound -> share of the case's time during which the bound is active (0..1)."""
    p = get_preset(preset) if isinstance(preset, str) else preset
    out: dict[str, dict[str, float]] = {}
    for name, factory in calibration_cases(p).items():
        cell, steps, ambient = factory()
        counts = [0.0] * len(BOUNDS)
        total = _run(cell, steps, ambient, dt_s, counts)
        out[name] = {b: (counts[k] / total if total > 0.0 else 0.0) for k, b in enumerate(BOUNDS)}
    return out


def main() -> int:
    """Print the report as a Markdown table."""
    report = clamp_report(sys.argv[1] if len(sys.argv) > 1 else "nmc_21700")
    sys.stdout.write("| case | " + " | ".join(BOUNDS) + " |\n|---|" + "---|" * len(BOUNDS) + "\n")
    for name, shares in report.items():
        sys.stdout.write(f"| {name} | " + " | ".join(f"{100.0 * shares[b]:.0f} %" for b in BOUNDS) + " |\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
