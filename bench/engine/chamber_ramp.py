"""A chamber setpoint ramp done by the bench, so it works with any ThermalChamber driver.

The Espec P-300 in constant mode and the Watlow F4T without a profile jump to a new setpoint at
their own maximum rate; a protocol that asks for "ramping at 1 K/min" gets the setpoint moved
in 0.1 K steps (the controllers' resolution) along the line from the start temperature.
"""

from __future__ import annotations

from drivers.roles import ThermalChamber

#: Smallest setpoint change sent, K (the P-300 and F4T resolve 0.1 K).
STEP_K = 0.1


class SetpointRamp:
    """Moves ``chamber``'s setpoint from ``start_c`` to ``target_c`` at ``rate_k_per_s`` (K/s),
    starting at test time ``start_s``; call :meth:`update` with the test time at each sample."""

    def __init__(self, chamber: ThermalChamber, start_c: float, target_c: float, rate_k_per_s: float,
                 start_s: float) -> None:
        self.chamber = chamber
        self.start_c = start_c
        self.target_c = target_c
        self.rate_k_per_s = abs(rate_k_per_s)
        self.start_s = start_s
        self.sent_c = round(start_c, 1)
        chamber.set_setpoint_c(self.sent_c)

    @property
    def done(self) -> bool:
        """True once the target setpoint has been sent."""
        return self.sent_c == round(self.target_c, 1)

    def setpoint_at(self, time_s: float) -> float:
        """The ramp's setpoint at test time ``time_s``, °C."""
        travelled = self.rate_k_per_s * max(0.0, time_s - self.start_s)
        if self.target_c >= self.start_c:
            return min(self.target_c, self.start_c + travelled)
        return max(self.target_c, self.start_c - travelled)

    def update(self, time_s: float) -> None:
        """Send the setpoint for ``time_s`` when it moved by at least one 0.1 K step."""
        if self.done:
            return
        wanted = round(self.setpoint_at(time_s), 1)
        if abs(wanted - self.sent_c) >= STEP_K - 1e-9:
            self.chamber.set_setpoint_c(wanted)
            self.sent_c = wanted
