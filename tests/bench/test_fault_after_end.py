"""A ``--fault`` timed after the protocol's end is refused before the run (issue 26 defect 10):
it would never take effect, and the run would end "passed" as if the fault had been tested."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main
from bench.fault_specs import parse_fault_spec
from bench.fault_timing import fault_after_end
from bench.simulated.builtin_bench import cell_datasheet
from protocols.loader import load_protocol

pytestmark = pytest.mark.timeout(60)


def test_a_fault_after_the_end_is_refused_in_one_line_before_any_run_file(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run.h5"
    code = main(["run", "capacity_check", "--fault", "internal_short@200h,resistance_ohm=50", "--out", str(out),
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "internal_short@200h" in err and "never take effect" in err, err
    assert not out.exists()


def test_a_fault_within_the_estimated_run_is_accepted() -> None:
    protocol = load_protocol("capacity_check", cell_defaults=cell_datasheet)
    assert fault_after_end([parse_fault_spec("internal_short@1h,resistance_ohm=50")], protocol) is None
    assert fault_after_end([parse_fault_spec("internal_short@soc>=90%,resistance_ohm=50")], protocol) is None
    assert fault_after_end([parse_fault_spec("internal_short@200h,resistance_ohm=50")], protocol) is not None
