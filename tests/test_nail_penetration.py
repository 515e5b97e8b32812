"""Nail penetration (GB/T 31485): liquid cells run away and fail, the solid-state pouch passes; on
real hardware the operator is prompted and a run without a terminal is refused."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from bench.analysis.nail import runaway_confirmation
from bench.cli import main
from bench.engine.core import RunStatus
from bench.engine.runner import execute
from bench.runfile.reader import RunFile
from bench.safety.abuse import AbuseRefused, AbuseTest, OperatorConsole
from bench.simulated.builtin_bench import build_sim_bench, cell_datasheet
from protocols.errors import ProtocolError
from protocols.loader import LIBRARY, load_protocol, parse_protocol

NAIL_TEXT = (LIBRARY / "nail_penetration.yaml").read_text(encoding="utf-8")
_FOR_PROTOCOL = AbuseTest.for_protocol.__func__


def _report(tmp_path, capsys, out) -> dict:
    capsys.readouterr()
    assert main(["report", str(out), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_liquid_cell_runs_away_and_fails(tmp_path, capsys):
    out = tmp_path / "nail.h5"
    code = main(["run", "nail_penetration", "--set", "observe=10 minutes", "--out", str(out), "--no-progress"])
    report = _report(tmp_path, capsys, out)
    assert code == 1 and report["verdict"] == "fail"
    m = report["metrics"]
    assert m["runaway_confirmed"] == 1 and m["fire_inferred"] == 1 and m["eucar_hazard_level"] >= 5
    assert m["temperature_max_after_c"] > 450 and m["voltage_min_after_v"] < 0.5
    assert m["runaway_time_after_puncture_s"] < 300 and m["observed_after_puncture_s"] == pytest.approx(600, abs=2)
    # the supervisor saw the puncture in the next sample and safed the bench; logging went on
    (event,) = report["safety_events"]
    assert event["time_s"] - m["puncture_time_s"] <= 1.0 and event["latency_s"] == 0.0
    with RunFile(out) as run:
        kinds = [e["kind"] for e in run.events]
        trip = next(e for e in run.events if e["kind"] == "safety_trip")
    assert trip["data"]["abuse_test"] is True
    assert kinds.index("abuse_applied") < kinds.index("safety_trip")


def test_solid_state_pouch_passes(tmp_path, capsys):
    text = NAIL_TEXT.replace("  preset: nmc_21700", "  preset: solid_state_pouch\n  current_max_a: 7.0") \
                    .replace("voltage_max: 4.2 V ", "voltage_max: 4.25 V")
    path = tmp_path / "nail_ss.yaml"
    path.write_text(text, encoding="utf-8")
    out = tmp_path / "nail_ss.h5"
    code = main(["run", str(path), "--set", "observe=30 minutes", "--out", str(out), "--no-progress"])
    report = _report(tmp_path, capsys, out)
    assert code == 0 and report["verdict"] == "pass", report["metrics"]
    m = report["metrics"]
    assert m["fire_inferred"] == 0 and m["explosion_inferred"] == 0 and m["runaway_confirmed"] == 0
    assert m["eucar_hazard_level"] <= 3 and report["conditions"]["electrolyte"] == "solid"
    assert m["voltage_drop_fraction"] > 0.1  # the nail did short it


def test_runaway_confirmation_on_data():
    t = np.arange(0.0, 20.0)
    temp = np.where(t < 5, 25.0, 25.0 + 5.0 * (t - 5))
    volt = np.full_like(t, 4.1)
    # dT/dt 5 K/s from t = 5 s on; held more than 3 s at t = 9 s, but 60 °C only at t = 12 s
    assert runaway_confirmation(t, volt, temp, voltage_initial_v=4.2, temperature_max_c=60.0) == 12.0
    volt_low = np.full_like(t, 2.0)  # voltage down 52 %: confirmed as soon as held > 3 s
    assert runaway_confirmation(t, volt_low, temp, voltage_initial_v=4.2, temperature_max_c=60.0) == 9.0
    slow = 25.0 + 0.5 * t
    assert runaway_confirmation(t, volt_low, slow, voltage_initial_v=4.2, temperature_max_c=60.0) is None


@pytest.mark.parametrize("abuse, message", [
    ("{step: 2}", r":\d+:\d+: abuse.step: 'Charge at .*' runs at or after the abuse step"),
    ("{step: Rest for 1 hour}", "2 steps read 'Rest for 1 hour'"),
    ("{step: Rest for 2 hours}", "no step reads 'Rest for 2 hours'"),
    ("{step: 9}", r"abuse.step 9 is out of range \[1, 5\]"),
])
def test_abuse_section_is_validated(abuse, message):
    text = NAIL_TEXT.replace("  observe: 1 hour ", "  observe: 60 minutes") if "2 steps" not in message else NAIL_TEXT
    text = text.split("abuse:")[0] + f"abuse: {abuse}\nanalysis: nail_penetration\n"
    with pytest.raises(ProtocolError, match=message):
        parse_protocol(text, file="nail.yaml", cell_defaults=cell_datasheet)


class ScriptedConsole(OperatorConsole):
    """An interactive console whose operator types the scripted answers, one per prompt."""

    def __init__(self, answers: list[str]) -> None:
        super().__init__(io.StringIO(), io.StringIO(), interactive=True)
        self.answers = list(answers)
        self.prompts: list[str] = []

    def ask(self, prompt: str) -> None:
        self.prompts.append(prompt)
        self._answer = self.answers.pop(0) if self.answers else None
        if self._answer is not None:
            self._done.set()
        else:
            self._done.clear()


def _real_hardware_run(tmp_path, monkeypatch, answers: list[str], timeout_s: float = 60.0):
    """The nail protocol on a bench that is *not* simulated as far as the abuse test can tell."""
    protocol = load_protocol("nail_penetration", {"observe": "5 minutes"}, cell_defaults=cell_datasheet)
    protocol.abuse["prompt_timeout_s"] = timeout_s
    bench = build_sim_bench("nmc_21700", soc=0.95)
    bench.simulation = None  # the operator, not the simulator, drives the nail
    console = ScriptedConsole(answers)

    def with_console(cls, protocol, bench, writer, supervisor, console_=None):
        return _FOR_PROTOCOL(cls, protocol, bench, writer, supervisor, console)

    monkeypatch.setattr(AbuseTest, "for_protocol", classmethod(with_console))
    try:
        outcome = execute(protocol, bench, tmp_path / "op.h5", observe_s=60.0)
    finally:
        bench.close()
    with RunFile(tmp_path / "op.h5") as run:
        events = run.events
    return outcome, events, console


def test_operator_confirms_the_puncture(tmp_path, monkeypatch):
    outcome, events, console = _real_hardware_run(tmp_path, monkeypatch, ["maybe", "done"])
    assert len(console.prompts) == 2 and "nail" in console.prompts[0]  # re-asked after 'maybe'
    kinds = [e["kind"] for e in events]
    assert kinds.index("operator_prompt") < kinds.index("abuse_applied")
    applied = next(e for e in events if e["kind"] == "abuse_applied")
    assert applied["data"]["operator_answer"] == "done" and applied["data"]["simulated"] is False
    assert outcome.result.status is RunStatus.COMPLETED


def test_operator_timeout_and_abort_trip(tmp_path, monkeypatch):
    outcome, events, _ = _real_hardware_run(tmp_path, monkeypatch, [], timeout_s=30.0)
    assert outcome.exit_code == 3 and outcome.result.trip.rule == "operator_timeout"
    prompt = next(e for e in events if e["kind"] == "operator_prompt")
    assert outcome.result.trip.time_s - prompt["time_s"] == pytest.approx(31.0, abs=1.0)
    (tmp_path / "op.h5").unlink()
    outcome, _, _ = _real_hardware_run(tmp_path, monkeypatch, ["abort"])
    assert outcome.exit_code == 3 and outcome.result.trip.rule == "operator_abort"


def test_no_terminal_no_nail_test(sim_bench):
    protocol = load_protocol("nail_penetration", cell_defaults=cell_datasheet)
    sim_bench.simulation = None
    console = OperatorConsole(io.StringIO(), io.StringIO())  # not a terminal
    with pytest.raises(AbuseRefused, match="needs an operator at a terminal") as err:
        AbuseTest.for_protocol(protocol, sim_bench, None, None, console)
    assert "nail_penetration.yaml" in str(err.value)


def test_shipped_protocol_on_the_solid_state_pouch_passes(tmp_path, capsys):
    # the solid electrolyte feeds no exotherm: the nail drains the cell without runaway
    out = tmp_path / "nail_ss_shipped.h5"
    code = main(["run", "nail_penetration", "--set", "cell=solid_state_pouch", "--set", "observe=20 minutes",
                 "--out", str(out), "--no-progress"])
    report = _report(tmp_path, capsys, out)
    assert code == 0 and report["verdict"] == "pass", report["metrics"]
    assert report["metrics"]["eucar_hazard_level"] <= 3 and report["metrics"]["fire_inferred"] == 0
