"""The compiler: a protocol becomes the cycler's flat step list, and whatever needs the PC is
named at its file:line:col (bench/delegated/compiler.py)."""

from __future__ import annotations

import pytest

from bench.delegated.compiler import compile_for, compile_protocol, refusal
from bench.simulated.builtin_bench import cell_datasheet
from drivers.delegated.capabilities import FormatCapabilities
from protocols.loader import load_protocol

LOOPS = """\
name: loops
cell: {preset: nmc_21700}
sampling:
  period_s: 2
steps:
  - Charge at 1 A until 4.1 V
  - repeat: 3
    steps:
      - Discharge at 2 W until 3.0 V or for 1 hour
      - Rest for 10 minutes (10 second period)
      - Pulse discharge at 1C for 10 seconds, rest for 40 seconds, 2 times
  - Hold at 4.1 V until 0.1 A
"""


def test_capacity_check_compiles_to_the_cyclers_steps_with_the_protocols_limits():
    protocol = load_protocol("capacity_check", cell_defaults=cell_datasheet)
    program = compile_protocol(protocol)
    cell = protocol.cell
    assert program.problems == ()
    kinds = [(s.kind, s.protocol_step) for s in program.steps]
    assert kinds == [("rest", 0), ("cc", 1), ("cv", 2), ("rest", 3), ("cc", 4), ("end", -1)]
    soak, charge, hold, rest, discharge, _end = program.steps
    assert soak.chamber_setpoint_c == 25.0 and [(e.quantity, e.value) for e in soak.ends] == [("time_s", 7200.0)]
    assert charge.current_a == pytest.approx(0.5 * cell.capacity_ah)
    assert [(e.quantity, e.op, e.value) for e in charge.ends] == [("voltage_v", ">=", cell.voltage_max_v)]
    assert hold.voltage_v == cell.voltage_max_v and hold.current_a == cell.charge_current_max_a
    assert [(e.quantity, e.op, e.value) for e in hold.ends] == [("current_a", "<=", pytest.approx(cell.capacity_ah / 20))]
    assert discharge.current_a == pytest.approx(-cell.capacity_ah / 5)
    assert [(e.quantity, e.op) for e in discharge.ends] == [("voltage_v", "<=")]
    assert program.limits.voltage_max_v == protocol.limits.voltage_max_v
    assert program.limits.current_max_a == protocol.limits.current_max_a
    assert program.limits.temperature_max_c == protocol.limits.temperature_max_c
    assert charge.source.endswith("capacity_check.yaml:22:5")


def test_a_fixed_loop_becomes_a_cycle_step_and_a_pulse_train_is_unrolled(tmp_path):
    path = tmp_path / "loops.yaml"
    path.write_text(LOOPS)
    program = compile_protocol(load_protocol(str(path), cell_defaults=cell_datasheet))
    assert program.problems == ()
    kinds = [s.kind for s in program.steps]
    # charge, [cp, rest, 2 x (cc pulse, rest)], cycle, cv, end
    assert kinds == ["cc", "cp", "rest", "cc", "rest", "cc", "rest", "cycle", "cv", "end"]
    cycle = program.steps[7]
    assert (cycle.loop_to, cycle.loop_count) == (1, 3)
    assert cycle.source == f"{path}:7:5"
    cp = program.steps[1]
    assert cp.power_w == -2.0 and {(e.quantity, e.value) for e in cp.ends} == {("time_s", 3600.0), ("voltage_v", 3.0)}
    assert program.steps[2].record_period_s == 10 and cp.record_period_s == 2
    pulses = program.steps[3:7]
    assert {s.protocol_step for s in pulses} == {program.steps[3].protocol_step}
    assert [(s.kind, s.ends[0].value) for s in pulses] == [("cc", 10.0), ("rest", 40.0)] * 2


def test_what_needs_the_pc_is_named_at_its_file_line_col():
    protocol = load_protocol("cycle_life", cell_defaults=cell_datasheet)
    problems = compile_protocol(protocol).problems
    file = protocol.source_path
    lines = protocol.source_text.splitlines()
    expected = {
        (23, "cell within 1 K of setpoint"),       # a soak ended on the cell reaching the chamber
        (28, "EIS sweep"),                         # "{eis}"
        (36, "SOC end"),                           # Discharge at C/3 until 80 % SOC
        (49, "loop ending on a measured value"),   # until: check_ah < {fade} of reference_ah
    }
    for line, words in expected:
        hits = [p for p in problems if p.startswith(f"{file}:{line}:") and words in p]
        assert len(hits) == 1, (line, words, problems)
        col = int(hits[0].split(":")[2])
        assert col >= 1 and lines[line - 1][col - 1:].strip()  # the column points into the line
    until = next(p for p in problems if "loop ending" in p)
    assert lines[48][int(until.split(":")[2]) - 1:].startswith("until:")
    assert len(set(problems)) == len(problems)  # the HPPC anchor's steps are reported once
    assert str(refusal(problems)).splitlines() == sorted(problems, key=lambda p: (int(p.split(":")[1]),
                                                                                 int(p.split(":")[2]), p))


def test_python_protocols_and_abuse_tests_are_refused():
    for name in ("fade_to_80", "nail_penetration"):
        program = compile_protocol(load_protocol(name, cell_defaults=cell_datasheet))
        assert program.steps == () and len(program.problems) == 1
        assert program.problems[0].split(":")[1:3] == ["1", "1"]


def test_a_formats_capability_table_refuses_what_it_cannot_write(tmp_path):
    path = tmp_path / "loops.yaml"
    path.write_text(LOOPS.replace("  - Hold at 4.1 V until 0.1 A\n",
                                  "  - repeat: 2\n    steps:\n      - repeat: 2\n        steps:\n"
                                  "          - Rest for 1 minute\n"))
    table = FormatCapabilities(
        step_format="test_format", step_kinds=frozenset({"cc", "cv", "rest", "cycle", "end"}),
        end_quantities={"cc": frozenset({"voltage_v", "time_s"}), "rest": frozenset({"time_s"})},
        loop_count_max=2, record_period_s=(1.0, 5.0))
    problems = compile_for(load_protocol(str(path), cell_defaults=cell_datasheet), table).problems
    file = str(path)
    assert any(p.startswith(f"{file}:9:9: a cp step cannot be written") for p in problems), problems
    assert any(p.startswith(f"{file}:10:9: sampling period 10 s") for p in problems), problems
    assert any(p.startswith(f"{file}:7:5: repeat 3 exceeds") for p in problems), problems
    assert any(p.startswith(f"{file}:12:5: nested repeats") for p in problems), problems
