"""The plating detector against the simulator's ground truth: C-rate x temperature x start SOC.

The matrix: 4 charge currents (25, 50, 75, 100 % of the cell's maximum charge current) x 3 chamber
temperatures (the cell's minimum charge temperature, 10 °C, 25 °C) x 2 start SOCs (10 %, 40 %) =
24 charges, each to 80 % SOC (or the maximum voltage), followed by a 30 min rest sampled every
10 s and a C/3 discharge to the cut-off. The simulated world's cell must expose the lithium it
plated (``plated_li_ah``, the ageing model of issue 15; drivers never see it). Acceptance
(docs/analysis.md): the detector flags >= 90 % of the charges that plated more than
``PLATED_MIN_FRACTION`` of the rated capacity, and <= 5 % of the charges that plated nothing.
Skipped, with the reason, while the simulated cell has no plating state.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.engine.runner import execute
from bench.runfile.reader import RunFile
from bench.simulated.builtin_bench import build_sim_bench, cell_datasheet, choose_sim_cycler
from protocols.loader import load_protocol

#: Names the ageing model may give the plated-lithium ground truth (Ah), on the simulated cell.
GROUND_TRUTH = ("plated_li_ah", "plated_lithium_ah", "plated_ah")
#: A charge "plated" when it left more than this fraction of the rated capacity as plated lithium.
PLATED_MIN_FRACTION = 0.0002
RATE_FRACTIONS = (0.25, 0.5, 0.75, 1.0)
START_SOCS = (10, 40)

PROTOCOL = '''"""Plating matrix: one temperature, every rate x start SOC."""
NAME = "plating_matrix"
CELL = {"preset": "%(preset)s"}
PARAMETERS = {"temperature_c": "%(temperature)s"}
SAMPLING = {"period_s": 5}


def protocol(ctx):
    v_max, v_min = ctx.cell.voltage_max_v, ctx.cell.voltage_min_v
    yield f"Soak at {ctx.parameters['temperature_c']} °C until cell within 1 K of setpoint for 10 minutes (at most 8 hours)"
    yield f"Discharge at C/3 until {v_min:g} V"
    for fraction in %(rates)r:
        for start in %(socs)r:
            ctx.next_cycle()
            yield "Rest for 30 minutes (60 second period)"
            yield f"Charge at C/5 until {start} %% SOC"
            yield "Rest for 30 minutes (60 second period)"
            yield f"Charge at {fraction * ctx.cell.charge_current_max_a:.4g} A until 80 %% SOC or until {v_max:g} V"
            yield f"Hold at {v_max:g} V until 80 %% SOC (at most 30 minutes)"
            yield "Rest for 30 minutes (10 second period)"
            yield f"Discharge at C/3 until {v_min:g} V"
'''


def _fast_charge_preset() -> str:
    """The preset with the highest charge C-rate that the built-in bench's Keithley 2460 (±7.35 A,
    0.1 mV readback) can drive: the detector needs a fine voltage readback (docs/analysis.md), and
    above 7.35 A the simulated bench uses the EA PSB, whose 10 mV readback makes plating "not tested"."""
    from sim_instruments.cell.presets import PRESETS

    drivable = [p for p in PRESETS if PRESETS[p].current_max_charge_a <= 7.35 and PRESETS[p].anode_ocp_v is not None]
    return max(drivable, key=lambda p: PRESETS[p].current_max_charge_a / PRESETS[p].nominal_capacity_ah)


def _truth_name(cell: object) -> str | None:
    return next((name for name in GROUND_TRUTH if isinstance(getattr(cell, name, None), (int, float))), None)


def _value_at(history: list[tuple[float, float]], time_s: float) -> float:
    """The plated-lithium pool (Ah) at ``time_s``: the last recorded value at or before it (the pool
    strips at rest, so it is read at the instant, never as a running maximum)."""
    value = 0.0
    for t, p in history:
        if t > time_s:
            break
        value = p
    return value


def _recorder(history: list[tuple[float, float]], cell: object, name: str, t0: float):
    """A world hook appending (test time, plated Ah) at every physics sync."""
    def hook(world, _now: float) -> None:
        history.append((world.now_s - t0, float(getattr(cell, name))))
    return hook


def test_plating_detection_against_the_simulators_ground_truth(tmp_path: Path) -> None:
    preset = _fast_charge_preset()
    probe = build_sim_bench(preset)
    try:
        name = _truth_name(probe.simulation.world.channels[0].cell)
    finally:
        probe.close()
    if name is None:
        pytest.skip(f"the simulated cell ({preset}) exposes no plated-lithium state ({' / '.join(GROUND_TRUTH)}): "
                    "the ageing model of issue 15 is not in this tree; the detector is tested on synthetic traces")
    sheet = cell_datasheet(preset)
    temperatures = (sheet.get("temperature_min_charge_c", 0.0), 10.0, 25.0)
    plated_min = PLATED_MIN_FRACTION * sheet["capacity_ah"]
    truth: list[tuple[float, float]] = []  # (plated Ah gained during a charge, flagged)
    for temperature in temperatures:
        path = tmp_path / f"matrix_{temperature:g}.py"
        path.write_text(PROTOCOL % {"preset": preset, "temperature": f"{temperature:g}", "rates": RATE_FRACTIONS,
                                    "socs": START_SOCS})
        protocol = load_protocol(str(path), cell_defaults=cell_datasheet)
        bench = build_sim_bench(preset, cycler=choose_sim_cycler(protocol), temperature_c=temperature)
        world = bench.simulation.world
        cell = world.channels[0].cell
        history: list[tuple[float, float]] = []
        t0 = bench.clock.now_s()
        world.hooks.append(_recorder(history, cell, name, t0))
        try:
            outcome = execute(protocol, bench, tmp_path / f"matrix_{temperature:g}.h5", observe_s=60.0)
        finally:
            bench.close()
        assert outcome.report["status"] == "completed", outcome.report["safety_events"]
        with RunFile(tmp_path / f"matrix_{temperature:g}.h5") as run:
            from bench.analysis.plating import detect_plating

            for entry in detect_plating(run):
                if entry["mean_current_a"] is None or entry["charge_ah"] < 0.2 * sheet["capacity_ah"]:
                    continue  # the C/5 charges to the start SOC are not part of the matrix
                start = entry["start_time_s"]
                end = start + entry["charge_ah"] * 3600.0 / entry["mean_current_a"]
                before = _value_at(history, start)
                after = _value_at(history, end + 1.0)
                truth.append((after - before, entry["plating_flag"]))
    assert len(truth) >= 24
    plated = [flag for amount, flag in truth if amount > plated_min]
    clean = [flag for amount, flag in truth if amount <= 1e-9]
    if not plated:  # stated in docs/analysis.md: the validation is open on the simulated bench
        most = max((amount for amount, _ in truth), default=0.0)
        pytest.skip(f"not tested: no charge of the {preset} matrix plated more than {plated_min * 1000:.1f} mAh "
                    f"(most: {most * 1000:.2f} mAh); the cells that plate at their rated currents need the EA PSB, "
                    "whose 10 mV readback the detector reports as not tested")
    detection = sum(plated) / len(plated)
    false_flags = sum(clean) / len(clean) if clean else 0.0
    print(f"plating matrix {preset}: {len(truth)} charges, {len(plated)} plated > {plated_min * 1000:.2f} mAh, "
          f"detection {detection:.2f}, {len(clean)} clean, false flags {false_flags:.2f}")
    assert detection >= 0.90, (detection, truth)
    assert false_flags <= 0.05, (false_flags, truth)
