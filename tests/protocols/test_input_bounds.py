"""Hostile or mistyped protocol input is refused quickly in one ``file:line:col`` line: alias
bombs, huge files, long lines, too many steps, YAML tags, look-alike characters (issue 18,
item 9 and its "Also" list)."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from bench.simulated.builtin_bench import cell_datasheet
from protocols import input_limits
from protocols.errors import ProtocolError
from protocols.loader import parse_protocol


def _alias_bomb() -> str:
    """~2 kB of nested aliases standing for 9**8 = 43 million rests."""
    rests = ", ".join(["Rest for 1 s"] * 9)
    lines = ["name: bomb", "steps:", "  - repeat: 1", f"    steps: &a [{rests}]"]
    previous = "a"
    for name in "bcdefgh":
        lines += ["  - repeat: 1", f"    steps: &{name} [" + ", ".join([f"{{repeat: 1, steps: *{previous}}}"] * 9) + "]"]
        previous = name
    return "\n".join(lines) + "\n"


def _refused(text: str, *, trace: bool = False) -> tuple[ProtocolError, float, int]:
    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ProtocolError) as caught:
            parse_protocol(text, file="p.yaml", cell_defaults=cell_datasheet)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] if trace else 0
    finally:
        if trace:
            tracemalloc.stop()
    return caught.value, elapsed, peak


def test_an_alias_bomb_is_refused_in_bounded_time_and_memory():
    text = _alias_bomb()
    assert len(text) < 2500
    error, elapsed, peak = _refused(text, trace=True)
    assert "expands (through its aliases)" in str(error) and error.line > 0
    assert elapsed < 5.0 and peak < 50e6


def test_too_many_steps_are_refused_before_building_them():
    text = "name: many\nsteps:\n" + "  - Rest for 1 s\n" * (input_limits.MAX_STEPS + 1)
    error, elapsed, _peak = _refused(text)
    assert f"at most {input_limits.MAX_STEPS}" in str(error) and "p.yaml:3:3" in str(error)
    assert elapsed < 10.0


def test_a_huge_file_and_a_long_line_are_refused():
    error, elapsed, _ = _refused("name: big\nsteps:\n" + "  - Rest for 1 s\n" * 200_000)
    assert "at most" in str(error) and elapsed < 1.0
    error, _, _ = _refused("name: long\ndescription: " + "x" * 20_000 + "\nsteps: [Rest for 1 s]\n")
    assert str(error).startswith("p.yaml:2:10001: line is")


@pytest.mark.parametrize("text", [
    "name: t\nsteps: !!python/object/apply:os.system [\"echo hi\"]\n",
    "name: t\nsteps:\n  - !!python/object/apply:os.system [\"echo hi\"]\n",
    "name: !custom t\nsteps: [Rest for 1 s]\n",
])
def test_yaml_tags_are_refused_as_tags(text):
    error, _, _ = _refused(text)
    assert "YAML tags are not allowed" in str(error) and error.line > 0


@pytest.mark.parametrize(("text", "named"), [
    ("name: t\nsteps:\n  - Soak at \u221220 °C for 1 hour\n", "U+2212 MINUS SIGN at column 13"),
    ("name: t\nsteps:\n  - Discharge at 1C until 2.5\u00a0V or 20\u00a0minutes or until 3\u2013V\n",
     "U+00A0 NO-BREAK SPACE"),
])
def test_look_alike_characters_are_named_with_their_position(text, named):
    error, _, _ = _refused(text)
    assert named in str(error) and str(error).startswith("p.yaml:3:")


def test_valid_protocols_are_untouched():
    protocol = parse_protocol("name: ok\n# a comment with \u2212 and \u00a0\nsteps: [Rest for 1 s]\n", file="p.yaml",
                              cell_defaults=cell_datasheet)
    assert len(protocol.steps) == 1
