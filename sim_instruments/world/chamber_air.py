"""Thermal chamber air model (no I/O): a rate-limited first-order closed loop.

While running, the controller drives the air towards the set point like a well-tuned PI loop: a
ramp at the rate limit (heating ``max_heat_rate_k_per_min``, cooling ``max_cool_rate_k_per_min``)
while far away, then an exponential approach with time constant ``tau_s`` that never overshoots.
The update is piecewise exact (ramp, then exponential), so any step size is stable. Heat from the
cells (``heat_load_w``) shifts the held air temperature by ``heat_load_w / control_w_per_k``.
When stopped, the air drifts to the lab temperature with the slow time constant ``drift_tau_s``
(heat load raises it by ``heat_load_w / leak_w_per_k``).

Fault hooks: :meth:`ChamberModel.fail_stuck` freezes the air temperature;
:meth:`ChamberModel.fail_cannot_cool` disables the refrigeration: the heater still works, but
air above the set point only drifts passively towards the lab temperature.

Units: °C, K/min for rate limits, seconds, watts.
"""

from __future__ import annotations

import math

LAB_TEMPERATURE_C = 22.0


class ChamberModel:
    """Chamber air temperature under a set point, with rate limits and fault hooks."""

    def __init__(
        self,
        air_c: float = 25.0,
        max_heat_rate_k_per_min: float = 4.0,
        max_cool_rate_k_per_min: float = 3.0,
        min_c: float = -70.0,
        max_c: float = 180.0,
        *,
        setpoint_c: float | None = None,
        running: bool = True,
        lab_c: float = LAB_TEMPERATURE_C,
        tau_s: float = 60.0,
        drift_tau_s: float = 3600.0,
        control_w_per_k: float = 500.0,
        leak_w_per_k: float = 15.0,
        heater_only: bool = False,
    ) -> None:
        """Chamber with air at ``air_c`` (°C), holding ``setpoint_c`` (default: ``air_c``).

        ``heater_only``: an oven (no refrigeration): it heats but never cools below its passive
        temperature; modelled as a permanent :meth:`fail_cannot_cool` (no cost per sample)."""
        self.air_c = float(air_c)
        self.setpoint_c = float(air_c if setpoint_c is None else setpoint_c)
        self.running = running
        self.max_heat_rate_k_per_min = max_heat_rate_k_per_min
        self.max_cool_rate_k_per_min = max_cool_rate_k_per_min
        self.min_c = min_c
        self.max_c = max_c
        self.lab_c = lab_c
        self.tau_s = tau_s
        self.drift_tau_s = drift_tau_s
        self.control_w_per_k = control_w_per_k
        self.leak_w_per_k = leak_w_per_k
        self.heater_only = heater_only
        self.stuck = False
        self.cannot_cool = heater_only

    # ------------------------------------------------------------------ faults
    def fail_stuck(self) -> None:
        """Fault: the air temperature freezes where it is (controller / sensor stuck)."""
        self.stuck = True

    def fail_cannot_cool(self) -> None:
        """Fault: refrigeration lost; the chamber can still heat but not cool."""
        self.cannot_cool = True

    def clear_faults(self) -> None:
        """Remove all injected faults (an oven stays without refrigeration)."""
        self.stuck = False
        self.cannot_cool = self.heater_only

    # ------------------------------------------------------------------ dynamics
    def target_c(self, heat_load_w: float = 0.0) -> float:
        """Air temperature the controller holds in the present mode (°C)."""
        if not self.running:
            return self.passive_c(heat_load_w)
        sp = min(max(self.setpoint_c, self.min_c), self.max_c)
        return sp + heat_load_w / self.control_w_per_k

    def passive_c(self, heat_load_w: float = 0.0) -> float:
        """Air temperature with neither heating nor cooling (°C)."""
        return self.lab_c + heat_load_w / self.leak_w_per_k

    def step(self, dt_s: float, heat_load_w: float = 0.0) -> None:
        """Advance the air temperature by ``dt_s`` seconds with ``heat_load_w`` W from the cells.

        Runs once per simulated sample: :meth:`target_c` / :meth:`passive_c` are inlined,
        ``min``/``max``/``abs`` written as comparisons and air already at the target takes a fast
        path (same results, fewer calls).
        """
        if not dt_s > 0.0 or self.stuck:
            return
        air = self.air_c
        running = self.running
        if running:
            sp = self.setpoint_c
            lo = self.min_c
            sp = lo if lo > sp else sp  # max(setpoint, min_c)
            hi = self.max_c
            sp = hi if hi < sp else sp  # min(.., max_c)
            target = sp + heat_load_w / self.control_w_per_k
        else:
            target = self.lab_c + heat_load_w / self.leak_w_per_k  # passive_c()
        if not running or (self.cannot_cool and air >= target):
            # Passive drift: stopped, or refrigeration lost while the air is above the set point
            # (then the heater still stops it from falling below the set point).
            passive = self.lab_c + heat_load_w / self.leak_w_per_k
            air = passive + (air - passive) * math.exp(-dt_s / self.drift_tau_s)
            if running and passive < target and target > air:
                air = target  # max(air, target)
            self.air_c = air
            return
        if air == target:
            # Fast path, air exactly at the target (a chamber started at its set point holds it
            # exactly): with the positive rates and tau the model requires there is no ramp and
            # the update below gives target + (air - target)·exp(-t/tau) = target + 0.0, the same
            # float; skip the rate and the exponential.
            self.air_c = target + 0.0
            return
        err = target - air
        rate = (self.max_heat_rate_k_per_min if err > 0.0 else self.max_cool_rate_k_per_min) / 60.0
        tau = self.tau_s
        ramp_band = rate * tau  # beyond this distance the rate limit binds
        t = dt_s
        abs_err = err if err >= 0.0 else -err
        if abs_err > ramp_band:
            t_ramp = (abs_err - ramp_band) / rate
            if t <= t_ramp:
                self.air_c = air + math.copysign(rate * t, err)
                return
            air = target - math.copysign(ramp_band, err)
            t -= t_ramp
        self.air_c = target + (air - target) * math.exp(-t / tau)

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, float]:
        """Full state as floats (booleans as 0/1), for crash-resume."""
        return {
            "air_c": self.air_c,
            "setpoint_c": self.setpoint_c,
            "running": 1.0 if self.running else 0.0,
            "stuck": 1.0 if self.stuck else 0.0,
            "cannot_cool": 1.0 if self.cannot_cool else 0.0,
        }

    def load_state(self, state: dict[str, float]) -> None:
        """Restore a state produced by :meth:`state_dict`."""
        self.air_c = float(state["air_c"])
        self.setpoint_c = float(state["setpoint_c"])
        self.running = bool(state.get("running", 1.0))
        self.stuck = bool(state.get("stuck", 0.0))
        self.cannot_cool = bool(state.get("cannot_cool", 0.0)) or self.heater_only

    def __repr__(self) -> str:
        return (f"ChamberModel(air_c={self.air_c:.2f}, setpoint_c={self.setpoint_c:.2f}, "
                f"running={self.running})")


def oven_model(air_c: float = 25.0, *, lab_c: float = LAB_TEMPERATURE_C) -> ChamberModel:
    """A forced-convection laboratory oven (Memmert UF-class): heater only, set points up to
    300 °C, heating ramp limited to 10 K/min, exponential approach with tau = 120 s, and with the
    heater off the closed, insulated oven cools passively to the lab with tau = 40 min.

    Figures are representative of a 50-110 L forced-convection oven (heating from room temperature
    to 200 °C in roughly 20-30 min, hours to cool with the door closed), not a datasheet's.
    """
    return ChamberModel(air_c=air_c, max_heat_rate_k_per_min=10.0, max_cool_rate_k_per_min=10.0,
                        min_c=lab_c, max_c=300.0, lab_c=lab_c, tau_s=120.0, drift_tau_s=2400.0,
                        heater_only=True)
