"""The physics hot paths (inlined cell step, block-drawn noise, lock-free world sync, inlined
chamber step) agree bit for bit with the plain formulations they replace.

The reference functions below are the straightforward versions (helpers from
``sim_instruments.cell.thermal``, ``_refresh()`` after every step, ``random.gauss`` per variate,
``target_c``/``passive_c``): the oracle the fast paths are checked against.
"""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim_instruments.cell import PRESETS, CellModel, get_preset
from sim_instruments.cell.anode_potential import lookup, uniform_table
from sim_instruments.cell.noise import BLOCK, standard_normal_block
from sim_instruments.cell.thermal import KELVIN, RUNAWAY_SELF_HEATING_K_PER_S, two_node_step
from sim_instruments.cell.voltage_hold import ZE_MAX
from sim_instruments.world.chamber_air import ChamberModel
from sim_instruments.world.clock import VirtualClock
from sim_instruments.world.sim_world import SimWorld

_OVERDISCHARGE_SPAN = 0.03
_SOC_MAX = 1.1


# ----------------------------------------------------------------------------- reference models
def _reference_advance(cell: CellModel, h: float, current_a: float, ambient_c: float) -> None:
    """CellModel._advance as plainly written: thermal helpers, then a full ``_refresh()``."""
    p = cell.preset
    rs, r0 = cell._rs, cell._r0
    # the parameters of this step are those of the last recomputation (CellModel._refresh), at
    # (param_tc, param_soc) as the step starts: the entropic coefficient and the exotherm's rate too
    param_tc, param_soc = cell._param_tc, cell._param_soc
    if rs is None:
        i_cell, short_heat = current_a, 0.0
    else:
        # (the short's semi-implicit voltage: CellModel._short_voltage_v, one definition)
        _, e1, e2, e3, ed, _, ez = cell._decay_constants(h)
        v = cell._short_voltage_v(current_a, e1, e2, e3, ed, ez)
        i_short = v / rs
        i_cell, short_heat = current_a - i_short, v * i_short
    crowd = 1.0
    if cell._ilim > 0.0:  # electrolyte depletion state: relaxes to the load / I_lim with tau_e
        # (a discharge sees I_lim / (1 + k(1 - SOC)), a charge x its load factor without that)
        w = p.limiting_current_soc_share
        f_dod = 1.0 + p.limiting_current_depth_factor * (w * (1.0 - param_soc) + (1.0 - w) * cell._param_front)
        # (the terminal current: a short's local path bypasses the bulk depletion)
        load = current_a * (p.limiting_current_charge_factor / f_dod) if current_a >= 0.0 else current_a
        zs = load / cell._ilim
        cell._ze = zs + (cell._ze - zs) * math.exp(-h / cell._taue)
        crowd = 1.0 / (1.0 - min(abs(cell._ze), ZE_MAX))
    else:
        cell._ze = 0.0
    b = cell._b
    g1 = b * math.asinh(i_cell * crowd * cell._rct / b)
    v1_old = cell._v1
    v1 = g1 + (v1_old - g1) * math.exp(-h / cell._tau1)
    g2 = cell._r2 * i_cell
    if i_cell > 0.0:
        g2 *= p.r2_charge_factor + p.r2_charge_high * math.exp(
            (cell._soc - 1.0) / p.r2_charge_high_width) * (i_cell * (1.0 / p.nominal_capacity_ah))
    v2_old = cell._v2
    v2 = g2 + (v2_old - g2) * math.exp(-h / cell._tau2)
    g3 = cell._r3 * i_cell * crowd
    v3_old = cell._v3
    v3 = g3 + (v3_old - g3) * math.exp(-h / cell._tau3)
    cell._v3 = v3
    taud = cell._taud
    ed = math.exp(-h / taud)
    dss = p.diffusion_gain * cell._a_g * taud * i_cell * crowd / cell._cap_as
    g4 = cell._r4 * i_cell
    if i_cell > 0.0:
        dss *= p.diffusion_charge_gain_factor
        g4 *= p.diffusion_charge_r_factor
    cell._delta = dss + (cell._delta - dss) * ed
    cell._v4 = g4 + (cell._v4 - g4) * ed
    cell._v1, cell._v2 = v1, v2
    heat = i_cell * (i_cell * r0 + 0.5 * (v1_old + v1 + v2_old + v2 + v3_old + v3))
    if p.entropic_table_v_per_k is None:
        dudt = p.entropic_v_per_k
    else:
        dudt = uniform_table(p.ocv_soc, p.entropic_table_v_per_k)[0][int(param_soc * 100)]
    heat += i_cell * (param_tc + KELVIN) * dudt + short_heat
    # the discharge's front: + the charge taken, else relaxing with the solid-diffusion tau
    if current_a < 0.0:
        cell._front = min(cell._front - current_a * h / cell._cap_as, 1.1)
    else:
        cell._front *= ed
    soc = cell._soc + i_cell * h / cell._cap_as
    cell._soc = -_OVERDISCHARGE_SPAN if soc < -_OVERDISCHARGE_SPAN else min(soc, _SOC_MAX)
    _reference_ageing(cell, h, i_cell, r0)
    p_exo = 0.0
    if cell._reactant > 0.0 and cell._exo.active:
        cell._reactant, q = cell._exo.step(h, param_tc, cell._reactant)
        p_exo = q / h
        if not cell._runaway and p_exo >= RUNAWAY_SELF_HEATING_K_PER_S * p.heat_capacity_j_per_k:
            cell._runaway = True
    retained = heat + p_exo
    if cell._runaway:
        retained *= 1.0 - p.ejecta_heat_fraction
    cell.last_heat_w, cell.last_exotherm_w = retained, p_exo
    cell._tc, cell._ts = two_node_step(
        h, cell._tc, cell._ts, retained, ambient_c, p.heat_capacity_core_j_per_k,
        p.heat_capacity_surface_j_per_k, p.conductance_core_surface_w_per_k,
        p.convection_w_per_m2k * p.surface_area_m2,
    )
    if not cell._melted and p.separator_melt_c is not None and cell._tc >= p.separator_melt_c:
        cell._melted = True
        cell._update_short()
    cell._refresh()


def _reference_ageing(cell: CellModel, h: float, i_cell: float, r0: float) -> None:
    """The ageing update of CellModel._advance as plainly written (degradation.py laws)."""
    cell._thr_as += abs(i_cell) * h
    d = cell.preset.degradation
    lam = d.lam_per_a_soc * (abs(i_cell) * h) * abs(cell._delta)
    cell._lam_as += lam
    lost = cell._lost_as + cell._sei_cal * h + cell._sei_cyc * (abs(i_cell) * h) + lam
    cap_ah = cell._cap0_as / 3600.0
    if i_cell > 0.0 and cell.preset.anode_ocp_v is not None:
        un = lookup(*uniform_table(cell.preset.ocv_soc, cell.preset.anode_ocp_v), cell._soc + cell._delta)
        # (the clogged pores' share of R0 is all the anode's)
        growth, pore = cell.resistance_factor, cell.pore_resistance_factor
        share_ohmic = (d.share_ohmic * growth + pore) / (growth + pore)
        phi = un - (d.share_ct * cell._v1 + d.share_rc2 * cell._v2 + d.share_rc3 * cell._v3
                    + d.share_diffusion * cell._v4 + share_ohmic * r0 * i_cell)
        x = (d.plating_transfer_coefficient * 96485.33212 / 8.314462618) * phi * cell._inv_tk
        dead = min((d.exchange_plating_c * cap_ah) * math.exp(min(-x, 30.0)) * h / cell._a_t, abs(i_cell) * h)
        cell._dead_as += dead
        lost += dead
        if phi < 0.0:
            i_pl = min(-phi * (d.plating_conductance_a_per_v_ah * cap_ah) / cell._a_t, i_cell)
            cell._plated_as += i_pl * h
            cell._un_pl, cell._vpl = un, 0.0
    elif i_cell <= 0.0 and cell._plated_as > 0.0:
        dead = min(d.dead_lithium_rate_per_s * h * cell._plated_as, cell._plated_as)
        cell._plated_as -= dead
        cell._dead_as += dead
        lost += dead
        strip = min(((d.strip_rate_c * cap_ah) / cell._a_t - d.strip_discharge_fraction * i_cell) * h,
                    cell._plated_as)
        cell._plated_as -= strip
        cell._vpl = d.mixed_share * cell._un_pl * cell._plated_as / (
            cell._plated_as + (d.plated_half_as_per_ah * cap_ah))
    cell._lost_as = lost
    if lost > cell._apply_at:
        cell._apply_ageing()


def _reference_step(cell: CellModel, dt_s: float, current_a: float, ambient_c: float) -> None:
    if not dt_s > 0.0:
        return
    n = 1
    if cell._rs is not None or (cell._tc > 60.0 and cell._reactant > 0.0):
        n = cell._substeps(dt_s, current_a)
    for _ in range(n):
        _reference_advance(cell, dt_s / n if n > 1 else dt_s, current_a, ambient_c)


def _snapshot(cell: CellModel, last_step: bool = True) -> tuple[float | bool | None, ...]:
    """Every state and derived-parameter slot (and the last step's heat unless ``last_step`` is
    False), for exact comparison."""
    return tuple(getattr(cell, name) for name in CellModel.__slots__ if not name.endswith("_k")
                 and not name.startswith("_ocv") and (last_step or not name.startswith("last_")))


def _twins(preset: str, soc: float, temp: float, short: float | None) -> tuple[CellModel, CellModel]:
    fast = CellModel(get_preset(preset), soc=soc, temperature_c=temp)
    fast.set_internal_short(short)
    ref = CellModel(get_preset(preset), soc=soc, temperature_c=temp)
    ref.set_internal_short(short)
    return fast, ref


# ----------------------------------------------------------------------------- cell step
@settings(max_examples=80, deadline=None)
@given(
    preset=st.sampled_from(sorted(PRESETS)),
    soc=st.floats(-0.03, 1.1),
    temp=st.floats(-30.0, 220.0),
    short=st.one_of(st.none(), st.floats(0.002, 10.0)),
    steps=st.lists(st.tuples(st.floats(1e-3, 60.0), st.floats(-3.0, 3.0), st.floats(-40.0, 250.0)),
                   min_size=1, max_size=12),
)
def test_step_is_bit_identical_to_the_reference(preset: str, soc: float, temp: float,
                                                short: float | None,
                                                steps: list[tuple[float, float, float]]) -> None:
    fast, ref = _twins(preset, soc, temp, short)
    c_rate = fast.preset.capacity_ah
    for dt_s, rate, ambient_c in steps:
        fast.step(dt_s, rate * c_rate, ambient_c)
        _reference_step(ref, dt_s, rate * c_rate, ambient_c)
        assert _snapshot(fast) == _snapshot(ref)
        assert fast.state_dict() == ref.state_dict()


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_long_discharge_charge_and_runaway_stay_bit_identical(preset: str) -> None:
    fast, ref = _twins(preset, 0.9, 25.0, None)
    cap = fast.preset.capacity_ah
    for k in range(3000):  # 1C discharge, 1C charge, rest, then an oven at 250 °C
        current = -cap if k < 1000 else (cap if k < 2000 else 0.0)
        ambient = 25.0 if k < 2500 else 250.0
        fast.step(1.0, current, ambient)
        _reference_step(ref, 1.0, current, ambient)
    assert _snapshot(fast) == _snapshot(ref)


def test_refresh_after_a_step_changes_nothing() -> None:
    cell = CellModel(get_preset("nmc_21700"), soc=0.4, temperature_c=-10.0)
    for _ in range(50):
        cell.step(1.0, -5.0, -10.0)
    after_step = _snapshot(cell)
    cell._refresh()
    assert _snapshot(cell) == after_step


def test_setters_and_load_state_refresh_the_derived_parameters() -> None:
    a = CellModel(get_preset("nmc_21700"), soc=0.5, temperature_c=25.0)
    a.step(10.0, -5.0, 25.0)
    b = CellModel(get_preset("nmc_21700"), soc=0.9, temperature_c=0.0)
    b.load_state(a.state_dict())  # (the last step's heat is not state)
    assert _snapshot(b, last_step=False) == _snapshot(a, last_step=False)
    a.temperature_core_c = 40.0
    a.soc = 0.3
    b.load_state(a.state_dict())
    assert _snapshot(b, last_step=False) == _snapshot(a, last_step=False)
    assert a.terminal_voltage_v(-5.0) == b.terminal_voltage_v(-5.0)


# ----------------------------------------------------------------------------- noise
def test_normal_block_is_random_gauss() -> None:
    rng, ref = random.Random(11), random.Random(11)
    drawn = standard_normal_block(rng, 4096) + standard_normal_block(rng, 4096)
    expected = [ref.gauss(0.0, 1.0) for _ in range(8192)]
    assert drawn == pytest.approx(expected, rel=1e-13, abs=1e-15)
    assert rng.getstate() == ref.getstate()  # the generator advanced past exactly those variates


def test_normal_block_starts_with_a_pending_gauss_variate() -> None:
    rng, ref = random.Random(2), random.Random(2)
    rng.gauss(0.0, 1.0)
    ref.gauss(0.0, 1.0)
    drawn = standard_normal_block(rng, 6)
    assert drawn == pytest.approx([ref.gauss(0.0, 1.0) for _ in range(7)], rel=1e-13, abs=1e-15)


def test_normal_block_of_a_random_subclass_calls_its_gauss() -> None:
    class Counting(random.Random):
        calls = 0

        def gauss(self, mu: float = 0.0, sigma: float = 1.0) -> float:
            Counting.calls += 1
            return super().gauss(mu, sigma)

    assert len(standard_normal_block(Counting(1), 10)) == 10 and Counting.calls == 10


def test_measurement_noise_is_the_seeded_gauss_sequence_across_refills() -> None:
    cell = CellModel(get_preset("nmc_21700"), soc=0.5, seed=5)
    cell.set_thermocouple_noise(0.05, offset_k=0.3)
    rng = random.Random(5)
    for k in range(2 * BLOCK + 10):
        if k % 3:
            got = cell.measured_voltage_v(-2.0)
            want = cell.terminal_voltage_v(-2.0) + rng.gauss(0.0, cell.preset.voltage_noise_v)
        else:
            got = cell.measured_temperature_c()
            want = cell.temperature_surface_c + 0.3 + rng.gauss(0.0, 0.05)
        assert got == pytest.approx(want, rel=1e-15, abs=1e-15)


def test_priming_the_noise_moves_the_refills_not_the_readings() -> None:
    """A cell primed with a first block (a multi-channel bench staggers the refills) reads the
    same noise sequence as an unprimed one, across the primed block and later refills."""
    plain = CellModel(get_preset("nmc_21700"), soc=0.5, seed=9)
    primed = CellModel(get_preset("nmc_21700"), soc=0.5, seed=9)
    plain.measured_voltage_v(0.0)  # a pending Box-Muller variate in flight on both
    primed.measured_voltage_v(0.0)
    primed.prime_noise(7)  # odd: rounded up to 8
    primed.prime_noise(300)  # after the first primed block, not instead of it
    readings = 2 * BLOCK + 400
    assert [primed.measured_voltage_v(1.0) for _ in range(readings)] == \
        [plain.measured_voltage_v(1.0) for _ in range(readings)]


def test_reassigning_the_generator_restarts_the_noise() -> None:
    cell = CellModel(get_preset("nmc_21700"), soc=0.5, seed=1)
    first = [cell.measured_temperature_c() for _ in range(5)]
    cell._rng = random.Random(1)
    assert [cell.measured_temperature_c() for _ in range(5)] == first


# ----------------------------------------------------------------------------- world and chamber
def test_sync_without_elapsed_time_returns_at_once_without_hooks() -> None:
    clock = VirtualClock()
    world = SimWorld.single_cell(clock)
    calls: list[float] = []
    world.hooks.append(lambda _w, now: calls.append(now))
    clock.sleep(2.0)
    assert world.sync() == 2.0 and calls == [2.0]
    state = world.channels[0].cell.state_dict()
    assert world.sync() == 2.0 and calls == [2.0]
    assert world.channels[0].cell.state_dict() == state
    voltage, current = world.measure(0)
    assert current == 0.0 and calls == [2.0]
    clock.sleep(1.0)
    world.measure(0)  # time passed: measure syncs
    assert calls == [2.0, 3.0] and world.now_s == 3.0


def _reference_chamber_step(ch: ChamberModel, dt_s: float, heat_load_w: float = 0.0) -> None:
    """ChamberModel.step as plainly written with target_c/passive_c/min/max/abs."""
    if not dt_s > 0.0 or ch.stuck:
        return
    target = ch.target_c(heat_load_w)
    if not ch.running or (ch.cannot_cool and ch.air_c >= target):
        passive = ch.passive_c(heat_load_w)
        air = passive + (ch.air_c - passive) * math.exp(-dt_s / ch.drift_tau_s)
        if ch.running and passive < target:
            air = max(air, target)
        ch.air_c = air
        return
    err = target - ch.air_c
    rate = (ch.max_heat_rate_k_per_min if err > 0.0 else ch.max_cool_rate_k_per_min) / 60.0
    ramp_band = rate * ch.tau_s
    t = dt_s
    if abs(err) > ramp_band:
        t_ramp = (abs(err) - ramp_band) / rate
        if t <= t_ramp:
            ch.air_c += math.copysign(rate * t, err)
            return
        ch.air_c = target - math.copysign(ramp_band, err)
        t -= t_ramp
    ch.air_c = target + (ch.air_c - target) * math.exp(-t / ch.tau_s)


@settings(max_examples=150, deadline=None)
@given(
    air=st.floats(-80.0, 200.0), setpoint=st.floats(-80.0, 200.0), running=st.booleans(),
    cannot_cool=st.booleans(), stuck=st.booleans(),
    steps=st.lists(st.tuples(st.floats(-1.0, 900.0), st.floats(-50.0, 500.0)), min_size=1, max_size=10),
)
def test_chamber_step_is_bit_identical_to_the_reference(air: float, setpoint: float, running: bool,
                                                        cannot_cool: bool, stuck: bool,
                                                        steps: list[tuple[float, float]]) -> None:
    fast, ref = (ChamberModel(air_c=air, setpoint_c=setpoint, running=running) for _ in range(2))
    for ch in (fast, ref):
        ch.cannot_cool, ch.stuck = cannot_cool, stuck
    for dt_s, heat_w in steps:
        fast.step(dt_s, heat_w)
        _reference_chamber_step(ref, dt_s, heat_w)
        assert fast.air_c == ref.air_c
