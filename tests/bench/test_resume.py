"""Crash resume: a simulated run SIGKILLs itself mid-protocol (deterministically, at a simulated
instant, from a world hook in a subprocess); ``bench resume`` continues it into the same file and
the final capacity matches an uninterrupted run."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from bench.cli import main
from bench.commands.benches import bench_factory
from bench.engine.resume import ResumeError, resume_run
from bench.engine.runner import execute
from bench.runfile.reader import RunFile
from bench.runfile.swmr_reopen import lookup3
from bench.simulated.builtin_bench import build_sim_bench
from protocols.loader import parse_any

PROTOCOL = """\
name: resume_check
cell: {preset: nmc_21700, capacity_ah: 4.9, voltage_max_v: 4.2, voltage_min_v: 2.5, current_max_a: 7,
       current_max_charge_a: 3.4}
sampling: {period_s: 4}
parameters: {rate: 1C}
steps:
  - Charge at 0.5C until 4.2 V
  - Hold at 4.2 V until C/10
  - step: Discharge at {rate} for 20 minutes
    record: {first_ah: discharge_ah}
  - repeat: 3
    until: repetition >= 2 and first_ah > 1 Ah
    steps:
      - Rest for 5 minutes
      - Discharge at C/2 for 5 minutes
  - Charge at 0.5C until 4.2 V
  - Hold at 4.2 V until C/10
  - Rest for 10 minutes
  - Discharge at {rate} until 2.5 V
"""

#: Runs the protocol like ``bench run`` (same provenance), small write batches so the journal is
#: flushed mid-step, and SIGKILLs its own process when the simulated clock passes KILL_AT_S.
CHILD = """\
import os, signal, sys
from pathlib import Path
from bench.runfile.writer import RunWriter
from bench.engine.core import Engine
from bench.engine.runner import run_attributes
from bench.simulated.builtin_bench import build_sim_bench
from protocols.loader import parse_any

path, kill_at_s, protocol_file = Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
protocol = parse_any(Path(protocol_file).read_text(), file=protocol_file)
bench = build_sim_bench(protocol.cell.preset, soc=0.5)
bench.simulation.world.hooks.append(
    lambda world, now_s: os.kill(os.getpid(), signal.SIGKILL) if now_s >= kill_at_s else None)
writer = RunWriter(path, run_attributes(protocol, bench, bench.identify()), batch_rows=97)
Engine(protocol, bench, writer, observe_s=0).run()
raise SystemExit("not killed")
"""


def _kill_run(tmp_path, text: str, name: str, kill_at_s: float):
    protocol_file = tmp_path / name
    protocol_file.write_text(text)
    (tmp_path / "child.py").write_text(CHILD)
    path = tmp_path / "killed.h5"
    proc = subprocess.run([sys.executable, str(tmp_path / "child.py"), str(path), str(kill_at_s), str(protocol_file)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr[-2000:]
    return path, protocol_file


def _uninterrupted(tmp_path, protocol_file):
    protocol = parse_any(protocol_file.read_text(), file=str(protocol_file))
    bench = build_sim_bench(protocol.cell.preset, soc=0.5)
    try:
        return execute(protocol, bench, tmp_path / "full.h5", observe_s=0)
    finally:
        bench.close()


def test_killed_mid_step_resumes_to_the_same_capacity(tmp_path):
    path, protocol_file = _kill_run(tmp_path, PROTOCOL, "resume_check.yaml", kill_at_s=13_000.0)
    with RunFile(path) as run:
        before = run.last_journal()
        killed_rows = len(run.samples)
    assert before is not None and before["active"]["text"] == "Discharge at 1C until 2.5 V"
    assert before["active"]["state"]["discharge_ah"] > 1.0  # journaled mid-step, with its counters

    outcome = resume_run(path, benches=bench_factory())
    full = _uninterrupted(tmp_path, protocol_file)
    assert outcome.exit_code == 0 and full.exit_code == 0, outcome.report
    resumed_ah = outcome.report["metrics"]["discharge_capacity_ah"]
    assert resumed_ah == pytest.approx(full.report["metrics"]["discharge_capacity_ah"], rel=0.005)

    with RunFile(path) as run, RunFile(tmp_path / "full.h5") as ref:
        steps, ref_steps = run.steps, ref.steps
        events = run.events
        samples = run.samples
        assert len(samples) == run.stored_rows() == run.trusted_rows()  # the journal counts every row
        assert run.attrs["status"] == "completed" and run.attrs["resume_count"] == 1
        cycles, ref_cycles = run.table("cycles"), ref.table("cycles")
    assert [(s["text"], s["cycle"]) for s in steps] == [(s["text"], s["cycle"]) for s in ref_steps]
    assert len(steps) == 2 + 1 + 2 * 2 + 4  # the loop stopped after 2 repetitions, replayed the same way
    interruption = next(e for e in events if e["kind"] == "interruption")
    assert interruption["data"]["seamless"] and interruption["data"]["steps_done"] == len(steps) - 1
    assert [e["kind"] for e in events].count("step_continued") == 1
    time_s = samples["Test Time / s"]
    assert np.all(np.diff(time_s[killed_rows - 5:killed_rows + 5]) > 0)  # time goes on across the gap
    assert list(cycles["cycle"]) == list(ref_cycles["cycle"])
    assert cycles["discharge_ah"][-1] == pytest.approx(ref_cycles["discharge_ah"][-1], rel=0.005)


GENERATOR = '''\
CELL = {"preset": "nmc_21700", "capacity_ah": 4.9, "voltage_max_v": 4.2, "voltage_min_v": 2.5,
        "current_max_a": 7, "current_max_charge_a": 3.4}
SAMPLING = {"period_s": 5}


def protocol(ctx):
    ctx.record("rests", 0)
    for n in range(3):
        ctx.next_cycle()
        result = yield f"Discharge at 1C for {5 + n} minutes"
        if result.discharge_ah > 0.4:
            ctx.record("rests", ctx.variables["rests"] + 1)
            yield "Rest for 2 minutes"
'''


def test_python_protocol_is_replayed_on_resume(tmp_path):
    path, protocol_file = _kill_run(tmp_path, GENERATOR, "gen.py", kill_at_s=1000.0)
    outcome = resume_run(path, benches=bench_factory())
    full = _uninterrupted(tmp_path, protocol_file)
    assert outcome.exit_code == 0
    with RunFile(path) as run, RunFile(tmp_path / "full.h5") as ref:
        assert [s["text"] for s in run.steps] == [s["text"] for s in ref.steps]
        assert run.last_journal()["plan"]["variables"]["rests"] == 3
    assert outcome.report["metrics"]["discharge_capacity_ah"] == pytest.approx(
        full.report["metrics"]["discharge_capacity_ah"], rel=0.005)


def test_finished_or_foreign_files_are_refused(tmp_path, capsys):
    protocol_file = tmp_path / "short.yaml"
    protocol_file.write_text(textwrap.dedent("""\
        cell: {preset: nmc_21700}
        steps: [Rest for 1 minute]
        """))
    assert main(["run", str(protocol_file), "--out", str(tmp_path / "done.h5"), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["resume", str(tmp_path / "done.h5")]) == 2
    assert "the run ended (completed); only an interrupted run is resumed" in capsys.readouterr().err
    assert main(["resume", str(tmp_path / "missing.h5")]) == 2
    assert "no such run file" in capsys.readouterr().err
    with pytest.raises(ResumeError, match="not a readable HDF5"):
        (tmp_path / "junk.h5").write_bytes(b"junk")
        resume_run(tmp_path / "junk.h5")


def test_lookup3_matches_the_published_vectors():
    assert lookup3(b"") == 0xDEADBEEF
    assert lookup3(b"Four score and seven years ago") == 0x17770551
    assert lookup3(b"Four score and seven years ago", 1) == 0xCD628161
