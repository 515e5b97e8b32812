"""Python protocols: a generator yielding steps, validated and dry-run like a YAML file, run on the
simulated bench with measured results sent back."""

from __future__ import annotations

import textwrap

import pytest

from protocols.errors import ProtocolError
from protocols.estimate import estimate
from protocols.loader import load_protocol

FADE = '''\
"""Cycle until the discharge capacity fades below a fraction of the first one."""
NAME = "fade"
CELL = {"capacity_ah": 5.0, "voltage_max_v": 4.2, "voltage_min_v": 2.5, "current_max_a": 7.0}
PARAMETERS = {"rate": "1C", "cycles": "3"}
SAMPLING = {"period_s": 10}
LIMITS = {"short_collapse_v": 0.25}  # 10 s samples: the 1C knee falls faster than the 1 s default allows
PASS = ["discharge_capacity_ah >= 3"]


def protocol(ctx):
    yield "Charge at 0.5C until 4.2 V"
    yield "Hold at 4.2 V until C/10"
    reference = (yield f"Discharge at {ctx.parameters['rate']} until 2.5 V").discharge_ah
    ctx.record("reference_ah", reference)
    for _ in range(int(ctx.param("cycles"))):
        ctx.next_cycle()
        yield "Charge at 0.5C until 4.2 V"
        result = yield "Discharge at 1C until 2.5 V"
        if result.discharge_ah < 0.8 * reference:
            break
'''


def write(tmp_path, text: str, name: str = "p.py") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_loads_and_dry_runs(tmp_path):
    protocol = load_protocol(write(tmp_path, FADE), {"cycles": "2"})
    assert protocol.generator is not None and protocol.name == "fade" and protocol.period_s == 10
    assert [c.text for c in protocol.pass_criteria] == ["discharge_capacity_ah >= 3"]
    result = estimate(protocol)
    assert result.steps == 3 + 2 * 2 and result.cycles == 3
    assert 5 * 3600 < result.duration_s < 12 * 3600 and result.discharge_ah > 10


@pytest.mark.parametrize(("body", "where", "message"), [
    ('def protocol(ctx):\n    yield "Rest for 1 minute"\n    yield "Dischrage at 1C until 2.5 V"\n',
     "p.py:3:12", "did you mean 'Discharge'?"),
    ('def protocol(ctx):\n    yield "Charge at 3C until 4.2 V"\n', "p.py:2", "exceeds the cell's maximum charge"),
    ('def protocol(ctx):\n    yield "Rest for 1 minute"\n    x = 1 / 0\n', "p.py:3", "ZeroDivisionError"),
    ('def protocol(ctx):\n    yield 42\n', "p.py:2", "yields step strings, got int"),
    ('def protocol(ctx):\n    return ["Rest for 1 minute"]\n', "p.py:1", "generator function"),
    ('CELL = {"capacity_ah": -1}\ndef protocol(ctx):\n    yield "Rest for 1 minute"\n', "p.py:1", "CELL: cell needs voltage_max_v"),
    ('def protocol(ctx)\n    yield "Rest for 1 minute"\n', "p.py:1:18", "Python syntax"),
    ('def protocol(ctx):\n    yield "Charge at 0.5C until 50 % SOC"\n', "p.py:2", "SOC is not known yet"),
])
def test_errors_name_the_line(tmp_path, body, where, message):
    cell = 'CELL = {"capacity_ah": 5.0, "voltage_max_v": 4.2, "voltage_min_v": 2.5, "current_max_a": 7.0, ' \
           '"current_max_charge_a": 3.4}\n'
    text = body if body.startswith("CELL") else cell + body
    with pytest.raises(ProtocolError) as info:
        estimate(load_protocol(write(tmp_path, text)))
    rendered = info.value.format()
    line_shift = 0 if body.startswith("CELL") else 1
    file, line, *col = where.split(":")
    expected = f"{tmp_path / file}:{int(line) + line_shift}" + (f":{col[0]}" if col else "")
    assert rendered.startswith(expected + ":"), rendered
    assert message in rendered


def test_runs_on_the_simulated_bench_with_measured_results(tmp_path):
    from bench.engine.runner import execute
    from bench.simulated.builtin_bench import build_sim_bench

    protocol = load_protocol(write(tmp_path, FADE), {"cycles": "2"})
    bench = build_sim_bench("nmc_21700", soc=0.5)
    try:
        outcome = execute(protocol, bench, tmp_path / "run.h5", observe_s=0)
    finally:
        bench.close()
    assert outcome.exit_code == 0, outcome.report
    from bench.runfile.reader import RunFile

    with RunFile(tmp_path / "run.h5") as run:
        steps = run.steps
        journal = run.last_journal()
        cycles = run.table("cycles")
    assert [s["step_index"] for s in steps] == [0, 1, 2, 0, 2, 0, 2]  # by step text, in order of first yield
    assert [s["cycle"] for s in steps] == [1, 1, 1, 2, 2, 3, 3] and list(cycles["cycle"]) == [1, 2, 3]
    assert journal["plan"]["variables"]["reference_ah"] == pytest.approx(steps[2]["discharge_ah"])
    assert 3.0 < steps[-1]["discharge_ah"] < 5.1
