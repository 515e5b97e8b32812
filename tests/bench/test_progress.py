"""Progress bar: estimated remaining time from the protocol and readings, and what the bar shows."""

from __future__ import annotations

import io
import math

import pytest
from rich.console import Console

from bench.engine.core import Progress
from bench.engine.eta import CV_TAU_S, EtaEstimator, step_duration_s
from bench.engine.progress import progress_display, progress_fields
from bench.runfile.reader import RunFile
from protocols.grammar import parse_step
from protocols.loader import parse_protocol
from protocols.steps import CellSpec

CELL = CellSpec(capacity_ah=5.0, voltage_max_v=4.2, voltage_min_v=2.5, current_max_a=7.0)


def _step(text):
    return parse_step(text, capacity_ah=CELL.capacity_ah)


def test_nominal_step_durations():
    assert step_duration_s(_step("Discharge at 1C until 2.5 V"), CELL, 1.0) == pytest.approx((3600.0, 0.0))
    seconds, soc = step_duration_s(_step("Charge at 2.5 A until 4.2 V"), CELL, 0.5)
    assert seconds == pytest.approx(3600.0) and soc == pytest.approx(1.0)
    assert step_duration_s(_step("Rest for 20 minutes"), CELL, 0.3) == (1200.0, 0.3)
    # CV: exponential taper from the present current to the end current
    seconds, soc = step_duration_s(_step("Hold at 4.2 V until C/20"), CELL, 0.95, current_a=1.0)
    assert seconds == pytest.approx(CV_TAU_S * math.log(1.0 / 0.25)) and soc == 1.0
    # "for ... or until": the duration caps the estimate; a capacity end uses the current
    assert step_duration_s(_step("Discharge at 5 A for 10 minutes or until 2.5 V"), CELL, 1.0)[0] == 600.0
    assert step_duration_s(_step("Discharge at 2 A until 1 Ah"), CELL, 1.0)[0] == pytest.approx(1800.0)


def test_loop_that_ends_early_is_followed_by_step_text():
    steps = [_step(t) for t in ("Discharge at 1C until 2.5 V", "Charge at 1C until 4.2 V") * 3] + [_step("Rest for 1 hour")]
    eta = EtaEstimator(steps, CELL)
    eta.update(Progress("Discharge at 1C until 2.5 V", 1, 7, 1, 0.0, 3.6, -5.0))
    eta.update(Progress("Discharge at 1C until 2.5 V", 1, 7, 1, 3590.0, 2.6, -5.0))
    full = eta.update(Progress("Charge at 1C until 4.2 V", 2, 7, 1, 3600.0, 2.5, 5.0)).remaining_s
    assert full == pytest.approx(3600 + 2 * 7200 + 3600, rel=0.05)
    eta.update(Progress("Charge at 1C until 4.2 V", 2, 7, 1, 7190.0, 4.19, 5.0))
    # the loop's until held after the first repetition: the next step reported is the rest
    rest = eta.update(Progress("Rest for 1 hour", 3, 7, 2, 7200.0, 4.2, 0.0))
    assert rest.remaining_s == pytest.approx(3595.0) and rest.total_s == pytest.approx(10795.0)


def test_estimate_converges_on_a_real_simulated_run(tmp_path, sim_bench):
    from bench.engine.runner import execute

    protocol = parse_protocol(
        "name: eta\ncell: {capacity_ah: 5, voltage_max_v: 4.2, voltage_min_v: 2.5, current_max_a: 7}\n"
        "sampling: {period_s: 3}\nsteps:\n  - Charge at 2.5 A until 4.2 V\n  - Hold at 4.2 V until C/10\n"
        "  - Rest for 20 minutes\n  - Discharge at 5 A until 2.5 V\n", file="eta.yaml")
    estimator = EtaEstimator.for_protocol(protocol)
    reports = []
    execute(protocol, sim_bench, tmp_path / "eta.h5",
            progress=lambda p: reports.append((p.test_time_s, estimator.update(p))))
    with RunFile(tmp_path / "eta.h5") as run:  # the protocol's end (the final observation follows it)
        end_s = float(run.steps[-1]["end_time_s"])
    reports = [(t, e) for t, e in reports if t <= end_s]
    assert len(reports) > 10 and all(e.remaining_s is not None and e.remaining_s >= 0 for _, e in reports)
    first_t, first = reports[0]
    assert first.total_s == pytest.approx(end_s, rel=0.25)  # from the start, within 25 %
    late = [(t, e) for t, e in reports if t > 0.66 * end_s]  # the discharge: within 12 %
    assert late and all(abs(t + e.remaining_s - end_s) < 0.12 * end_s for t, e in late)


def test_bar_shows_step_cycle_elapsed_and_remaining():
    protocol = parse_protocol(
        "name: bar\ncell: {capacity_ah: 5, voltage_max_v: 4.2, voltage_min_v: 2.5, current_max_a: 7}\n"
        "steps:\n  - Rest for 30 minutes\n  - Discharge at 5 A until 2.5 V\n", file="bar.yaml")
    fields = progress_fields(Progress("Rest for 30 minutes", 1, 2, 1, 600.0, 3.9, 0.0), None)
    assert fields["steps"] == "step 1/2" and fields["remaining"] == "remaining ?"
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200)
    with progress_display(2, protocol=protocol, console=console) as update:
        update(Progress("Rest for 30 minutes", 1, 2, 1, 600.0, 3.9, 0.0))
    text = out.getvalue()
    assert "Rest for 30 minutes" in text and "step 1/2" in text and "cycle 1" in text
    assert "elapsed 10 min" in text
    eta = EtaEstimator.for_protocol(protocol).update(Progress("Rest for 30 minutes", 1, 2, 1, 600.0, 3.9, 0.0))
    # 20 min of rest left, then the discharge at 1C from the SOC the voltage suggests
    assert eta.step_remaining_s == 1200.0 and eta.remaining_s > 1200.0
    assert progress_fields(Progress("Rest", 1, 2, 1, 600.0, 3.9, 0.0), eta)["remaining"].startswith("remaining ~")
    with progress_display(2, enabled=False) as update:
        update(Progress())  # no output, no error
