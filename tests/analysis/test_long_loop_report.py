"""A long loop's text report summarises its cycles instead of printing one line each (issue 26
defect 10 / item 7: a ``repeat: 200000`` run printed 43,000 cycle lines)."""

from __future__ import annotations

from bench.analysis.sections import CYCLE_LINES, format_sections


def _cycle(k: int, flags: list[str] | None = None) -> dict:
    return {"cycle": k, "charge_ah": 1.0, "discharge_ah": 0.99 - k * 1e-6, "charge_wh": 3.7, "discharge_wh": 3.6,
            "coulombic_efficiency": 0.99, "temperature_max_c": 25.0 + k % 3, "flags": flags or []}


def test_thousands_of_cycles_are_summarised() -> None:
    cycles = [_cycle(k, ["ended early"] if k % 2 else None) for k in range(43_000)]
    lines = format_sections({"cycles": cycles})
    assert len(lines) < 4 * CYCLE_LINES + 10
    summary = [line for line in lines if "cycles (" in line]
    assert len(summary) == 1 and f"{43_000 - 2 * CYCLE_LINES} cycles ({CYCLE_LINES}-{43_000 - CYCLE_LINES - 1})" in summary[0]
    assert "T max 25.0..27.0" in summary[0]
    assert any("more cycles are not results" in line for line in lines)


def test_a_short_run_prints_every_cycle() -> None:
    lines = format_sections({"cycles": [_cycle(k) for k in range(2 * CYCLE_LINES)]})
    assert sum(1 for line in lines if line.startswith("         ") and "..." not in line) == 2 * CYCLE_LINES
