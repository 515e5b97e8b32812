"""Make the shipped drive-cycle profiles (protocols/profiles/urban.csv, highway.csv).

SYNTHETIC drive cycles, not the regulatory ones: the EPA UDDS / US06 and UN ECE WLTC class 3
speed-time traces are public, but they could not be obtained on the machine these files were
made on (PyBaMM fetches its copies from a hub at run time), so no regulatory values are used.
Instead a speed trace is built from stated segments (accelerate, cruise, brake, idle) and turned
into the power a battery-electric car draws from its pack with the road-load equation:

    P_wheel = (m a + m g C_rr + 0.5 rho C_d A v^2) v                       (W, v in m/s)
    P_pack  = P_wheel / eta + P_aux        when P_wheel >= 0 (traction)
    P_pack  = P_wheel * f_regen * eta + P_aux   when P_wheel < 0 (braking, part recovered)

per second (v and a of the interval's mid-point), and per cell of a pack of S series x P parallel
cells: cell power = P_pack / (S P), cell current = P_pack / (S V_nom) / P. Values in the vehicle
convention (traction = discharge positive), which the files declare (``# sign:``).

Run from the repository root:  python scripts/make_drive_profiles.py
"""

from __future__ import annotations

import logging
from pathlib import Path

logger = logging.getLogger("make_drive_profiles")

VEHICLE = {
    "mass_kg": 1900.0,            # a mid-size battery-electric car with driver
    "drag_coefficient": 0.28,
    "frontal_area_m2": 2.3,
    "rolling_resistance": 0.009,
    "air_density_kg_m3": 1.2,
    "drivetrain_efficiency": 0.90,  # battery to wheel (inverter, motor, gear)
    "regen_fraction": 0.60,         # share of braking power at the wheel returned to the pack
    "auxiliary_w": 400.0,           # heating off, electronics and pumps
    "series": 96,                   # pack: 96s46p of 5 Ah 21700 cells (about 80 kWh)
    "parallel": 46,
    "cell_nominal_v": 3.63,
}
G = 9.81


def _ramp(v0: float, v1: float, accel: float) -> list[float]:
    """Speeds (m/s) each second from v0 to v1 at |accel| m/s² (v1 reached exactly)."""
    out, v = [], v0
    step = accel if v1 > v0 else -accel
    while (v1 - v) * (1 if step > 0 else -1) > 1e-9:
        v = min(v + step, v1) if step > 0 else max(v + step, v1)
        out.append(v)
    return out


def urban() -> list[float]:
    """Ten stop-and-go micro-trips: idle, accelerate at 1.2 m/s², cruise, brake at 1.0 m/s²."""
    speeds = [0.0]
    tops_kmh = (30, 50, 40, 25, 50, 45, 35, 50, 30, 40)
    cruise_s = (25, 40, 30, 15, 45, 35, 20, 40, 25, 30)
    for top, cruise in zip(tops_kmh, cruise_s, strict=True):
        speeds += [0.0] * 10
        speeds += _ramp(0.0, top / 3.6, 1.2)
        speeds += [top / 3.6] * cruise
        speeds += _ramp(top / 3.6, 0.0, 1.0)
    return speeds + [0.0] * 10


def highway() -> list[float]:
    """On-ramp to 100 km/h, cruise 90-120 km/h, an aggressive 80-130 km/h pass at 2.5 m/s²,
    slowing for traffic, exit to a stop."""
    kmh = 1 / 3.6
    speeds = [0.0] * 5
    speeds += _ramp(0.0, 100 * kmh, 2.0)
    speeds += [100 * kmh] * 60
    speeds += _ramp(100 * kmh, 120 * kmh, 0.6)
    speeds += [120 * kmh] * 90
    speeds += _ramp(120 * kmh, 80 * kmh, 1.0)
    speeds += [80 * kmh] * 30
    speeds += _ramp(80 * kmh, 130 * kmh, 2.5)
    speeds += [130 * kmh] * 60
    speeds += _ramp(130 * kmh, 90 * kmh, 0.8)
    speeds += [90 * kmh] * 120
    speeds += _ramp(90 * kmh, 110 * kmh, 0.5)
    speeds += [110 * kmh] * 80
    speeds += _ramp(110 * kmh, 0.0, 2.0)
    return speeds + [0.0] * 5


def pack_power_w(speeds: list[float]) -> list[float]:
    """Pack power (W, traction positive) of each 1 s interval of a 1 Hz speed trace."""
    p = VEHICLE
    out = []
    for v0, v1 in zip(speeds, speeds[1:], strict=False):
        v, a = 0.5 * (v0 + v1), v1 - v0
        rolling = p["mass_kg"] * G * p["rolling_resistance"] if v > 0 else 0.0
        aero = 0.5 * p["air_density_kg_m3"] * p["drag_coefficient"] * p["frontal_area_m2"] * v * v
        wheel = (p["mass_kg"] * a + rolling + aero) * v
        eta = p["drivetrain_efficiency"]
        pack = wheel / eta if wheel >= 0 else wheel * p["regen_fraction"] * eta
        out.append(pack + p["auxiliary_w"])
    return out


def write(name: str, speeds: list[float], directory: Path) -> Path:
    """Write ``name``.csv: time_s, current_a, power_w per cell (discharge positive)."""
    p = VEHICLE
    cells = p["series"] * p["parallel"]
    pack_v = p["series"] * p["cell_nominal_v"]
    power = pack_power_w(speeds)
    power.append(0.0)  # the last row ends the profile (its value is not applied)
    distance_km = sum(0.5 * (a + b) for a, b in zip(speeds, speeds[1:], strict=False)) / 1000.0
    lines = [
        f"# {name}: SYNTHETIC drive cycle (not a regulatory trace), made by scripts/make_drive_profiles.py",
        "# source: synthetic speed trace + road-load model, vehicle "
        + ", ".join(f"{k}={v:g}" for k, v in p.items()),
        f"# trace: {len(speeds) - 1} s, {distance_km:.2f} km, top speed {max(speeds) * 3.6:.0f} km/h; values per cell of a "
        f"{p['series']}s{p['parallel']}p pack; current at the pack's nominal {pack_v:.1f} V",
        "# sign: discharge_positive",
        "time_s,current_a,power_w",
    ]
    for t, w in enumerate(power):
        lines.append(f"{t},{w / pack_v / p['parallel']:.5f},{w / cells:.5f}")
    path = directory / f"{name}.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    directory = Path(__file__).resolve().parent.parent / "protocols" / "profiles"
    directory.mkdir(exist_ok=True)
    for name, trace in (("urban", urban()), ("highway", highway())):
        logger.info("wrote %s", write(name, trace, directory))


if __name__ == "__main__":
    main()
