"""Long physics steps for a world that is advanced in long strides of virtual time.

The world normally integrates in steps of at most 1 s while an output is on (10 s while every
output is off): the step bounds how late a compliance transition is noticed. When the
controller samples a quiet step only every minute or two (bench/engine/adaptive.py), those
1 s steps would cost as much as before. :func:`step_bound_s` lets a channel be integrated in one
long step when that is exact: the cell model's electrical update is exact for a constant
current (exact exponentials, the charge integrated exactly), so a step that holds a constant
current and stays clear of every transition of the output stage may be as long as the stride.

A channel qualifies when its output is off (a rest: the rest path is exact), or when it forces a
current (``CURR``), is not in compliance, carries no internal short and no fast exotherm, and the
terminal voltage at the end of the long step stays :data:`CLEAR_V` below the voltage limit while
charging (while sinking, at its start: a sunk constant current only lowers it). A voltage hold
(``VOLT``) takes steps of up to :data:`HOLD_STEP_S` (its implicit step is stable for any length), and
its reading at a step's end is the current there, not the step's mean (:func:`note_hold_step`).
Otherwise the usual short steps are taken.

Units: seconds, volts.
"""

from __future__ import annotations

from math import exp, inf
from typing import Any

#: A long charging step must end this far below the voltage limit, V. The step is exact when the
#: limit is not reached within it: the terminal voltage under a constant charge current rises
#: monotonically, and ``voltage_after_v`` predicts the step's end voltage within 0.3 mV for steps
#: up to 120 s (measured over 4 cycle_life cycles: 6,900 steps, the largest miss 0.26 mV; 0.02 mV
#: above 4.1 V), so 5 mV is 20 times the prediction's error. (Was 50 mV, the output stage's own
#: look-ahead band ``sim_world.LOOKAHEAD_V``: every stride ending within 50 mV of the limit was
#: integrated in 1 s steps, a third of the physics steps of an adaptive cycle_life run.)
CLEAR_V = 0.005
#: Longest physics step of a voltage hold (``VOLT``) in long-step mode, s. The hold's current is
#: the implicit one that leaves the held voltage at the end of the step (stable for any step,
#: sim_instruments/cell/voltage_hold.py); it decays with the cell's polarisation time constants
#: (minutes), so 30 s steps follow it closely (tests/bench/test_adaptive_steps.py: the hold ends
#: within one period of the fixed-step run, the cycle's charge within one period's charge:
#: measured +3.6 mAh against a 6.7 mAh bound, -2.4 mAh with 10 s steps; 30 s steps cut the
#: physics bytecodes of an adaptive 18-cycle cycle_life run by 12 %; the earlier bound was 10 s).
HOLD_STEP_S = 30.0
#: Largest lag of the near-full charge resistance over a long charging step, V. The cell model
#: takes R2's charge factor ``r2_charge_high * exp((soc - 1) / width) * I / I_1C`` at the step's
#: starting SOC; near full (width 0.05) it grows ~2 % per 0.1 % of SOC, so a 120 s step at 0.5C
#: (1.7 % of SOC) aimed R2's voltage at a value the cell had long passed: measured on nmc_21700,
#: 120 s steps vs 1 s steps at the same charge, -1.2 mV at 4.12 V, -7.2 mV at 4.19 V (the CC
#: charge then crossed 4.2 V ~4 s late in the adaptive run of tests/bench/test_adaptive_steps.py,
#: +2.6 / +3.7 mAh of its 6.7 mAh bound). A charging step is shortened so that the factor's
#: change over half the step moves R2's target by at most this much.
R2_SOC_LAG_V = 0.0005


def step_bound_s(channels: list[Any], remaining_s: float, long_s: float, short_s: float) -> float:
    """The longest physics step for the next ``remaining_s`` seconds: ``long_s`` when every
    channel can be integrated in one long step (see the module doc), else ``short_s``."""
    dt = min(remaining_s, long_s)
    bound = long_s
    for channel in channels:
        src = channel.source
        if not src.output_on:
            continue
        cell = channel.cell
        if getattr(cell, "_rs", None) is not None or getattr(cell, "_tc", 0.0) > 60.0:
            return short_s  # a short or a fast exotherm: the cell model sub-steps on its own terms
        if src.function == "VOLT":
            bound = min(bound, max(short_s, HOLD_STEP_S))
            continue
        if src.function != "CURR" or src.in_compliance:
            return short_s
        current = src.current_a
        limit_v = abs(src.voltage_limit_v)
        if current > 0.0:
            if cell.voltage_after_v(dt, current) > limit_v - CLEAR_V:
                return short_s
            bound = min(bound, max(short_s, _r2_charge_bound_s(cell, current)))
        elif src.limit_both_ways and cell.terminal_voltage_v(current) > limit_v - CLEAR_V:
            # sinking a constant current the terminal voltage only falls within the step: clear of
            # the limit at its start, it stays clear
            return short_s
    return bound


def _r2_charge_bound_s(cell: Any, current_a: float) -> float:
    """Longest charging step at ``current_a`` A over which R2's near-full charge factor, taken at
    the step's starting SOC, lags its value at the step's middle by at most :data:`R2_SOC_LAG_V`
    of R2's voltage, s (inf for a cell without that term, e.g. the PyBaMM cell)."""
    k = getattr(cell, "_advance_k", None)
    if k is None or not k[4] > 0.0:
        return inf
    cap_as, high, width, inv_i_ref = k[0], k[4], k[5], k[6]
    # d(R2 voltage)/d(SOC) of the near-full term, V per unit SOC; the SOC moves current/cap_as per s
    slope = cell._r2 * current_a * high * exp((cell._soc - 1.0) / width) * current_a * inv_i_ref / width
    drift = slope * current_a / cap_as  # V/s
    return 2.0 * R2_SOC_LAG_V / drift if drift > 0.0 else inf


def note_hold_step(channels: list[Any], dt: float, end_s: float) -> None:
    """After a physics step of ``dt`` s ending at world time ``end_s`` in long-step mode: the
    current a meter reads at ``end_s`` on each channel holding a voltage (``channel.hold_lead``).

    The implicit step holds over its ``dt`` the current that leaves the held voltage at its end:
    the step's mean current, i.e. the decaying hold current near the step's middle, and the state
    it leaves carries that current (``applied_current_a()`` returns it). Read as it is at the end
    of the step, a hold's readings lag the hold by half a step: over a 1,300 s hold to C/20 from
    0.5C in 10-30 s steps the engine's trapezoid of the readings counted 6.2 mAh more than the
    cell took (tests/bench/test_adaptive_steps.py; 0.3 mAh in the 1 s steps of the fixed run).
    The reading at ``end_s`` is therefore the line through the means of this step and the one
    before it (each at its step's middle) carried to the step's end: ``hold_lead = (end_s, lead)``,
    lead A added to the reading at ``end_s`` only. Only when the step before held the same voltage
    and ended where this one began; otherwise no lead (the first step of a hold, a hold in current
    compliance, any other function)."""
    for channel in channels:
        src = channel.source
        if not (src.output_on and src.function == "VOLT") or src.in_compliance:
            channel.hold_step = None
            continue
        current = src.actual_current_a
        prev = channel.hold_step
        lead = 0.0
        if prev is not None and prev[2] == src.voltage_v and abs(prev[3] - (end_s - dt)) < 1e-6:
            lead = (current - prev[0]) * dt / (dt + prev[1])
        channel.hold_step = (current, dt, src.voltage_v, end_s)
        channel.hold_lead = (end_s, lead)
