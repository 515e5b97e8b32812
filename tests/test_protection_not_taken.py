"""A protection the instrument did not take ends the run as an instrument error (exit 4) before any
output is switched on (issue 25 item 3): the cycler's firmware is made to acknowledge its
over-voltage protection command without storing it (a simulator fault), on each SCPI cycler."""

from __future__ import annotations

import pytest

from bench.simulated.builtin_bench import cell_datasheet
from protocols.loader import parse_any
from tests.simrun import run_on_sim_bench

PROTOCOL = """name: ovp_not_taken
cell: {preset: nmc_21700}
steps:
  - Discharge at 1 A for 1 minute
"""

#: The simulator header whose handler the fault replaces, per cycler of the built-in bench.
OVP_HEADERS = {"keithley2460": ":SOURce[1]:VOLTage:PROTection[:LEVel]",
               "ea_psb10000": ":SOURce:VOLTage:PROTection[:LEVel]"}


def _ignore_ovp(header: str):
    def prepare(bench) -> None:
        frontend = bench.simulation.endpoints["cycler"].frontend
        hits = [c for c in frontend._commands if c.pattern == header]
        assert hits, f"no {header} in the simulator"
        for command in hits:
            command.handler = lambda _args: None  # acknowledged, not stored
        frontend._cache.clear()
        frontend._lines.clear()
    return prepare


@pytest.mark.parametrize("cycler", sorted(OVP_HEADERS))
def test_an_ovp_the_cycler_did_not_take_is_exit_4_before_any_output(tmp_path, cycler):
    protocol = parse_any(PROTOCOL, file="ovp_not_taken.yaml", cell_defaults=cell_datasheet)
    seen_on: list[bool] = []

    def prepare(bench) -> None:
        _ignore_ovp(OVP_HEADERS[cycler])(bench)
        source = bench.simulation.world.channels[0].source
        original = type(source).__setattr__

        class Watch(type(source)):  # noqa: D101 - records every output state the world is given
            def __setattr__(self, name, value):
                if name == "output_on":
                    seen_on.append(bool(value))
                original(self, name, value)
        source.__class__ = Watch

    outcome = run_on_sim_bench(protocol, tmp_path / "run.h5", cycler=cycler, prepare=prepare)
    assert outcome.exit_code == 4
    assert "not taken" in outcome.result.message and "PROT" in outcome.result.message
    assert True not in seen_on  # the output was never switched on
