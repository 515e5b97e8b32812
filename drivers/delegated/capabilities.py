"""What a vendor's step-file format can express: the table each step-file writer declares and
the compiler (:mod:`bench.delegated.compiler`) checks a :class:`DelegatedProgram` against.

A writer module (e.g. ``drivers/neware_stepfile.py``) exports ``CAPABILITIES`` (a
:class:`FormatCapabilities`) and ``write_step_file(program) -> bytes``. ``bench validate
--cycler NAME`` reports every step, end condition and limit the table does not list, at the
protocol's ``file:line:col`` (each :class:`DelegatedStep` carries its ``source``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from drivers.delegated.program import DelegatedProgram


@dataclass(frozen=True)
class FormatCapabilities:
    """One step-file format's expressive power.

    ``step_kinds``: the :class:`DelegatedStep` kinds it writes (``cc``, ``cccv``, ``cv``, ``cp``,
    ``rest``, ``cycle``, ``end``). ``end_quantities``: step kind -> the :class:`DelegatedEnd`
    quantities a step of that kind may end on (``voltage_v``, ``current_a``, ``time_s``,
    ``capacity_ah``, ``energy_wh``...). ``limits``: the :class:`DelegatedLimits` fields it writes
    (a limit it cannot write is left to the bench's supervisor and reported as a note, not a
    problem). ``max_steps``: most steps in one file; ``max_ends_per_step``: most end conditions
    on one step; ``loop_count_max``: the largest count of a cycle step; ``nested_loops``: whether
    a cycle step may jump back over another cycle step; ``record_period_s``: (shortest, longest)
    logging period it accepts, s.
    """

    step_format: str
    step_kinds: frozenset[str]
    end_quantities: Mapping[str, frozenset[str]]
    limits: frozenset[str] = frozenset({"voltage_max_v", "voltage_min_v", "current_max_a"})
    max_steps: int = 254
    max_ends_per_step: int = 4
    loop_count_max: int = 65535
    nested_loops: bool = False
    record_period_s: tuple[float, float] = (0.1, 3600.0)
    #: Where the facts come from (the maker's manual, section), for the docs and error messages.
    source: str = field(default="")

    def problems(self, program: DelegatedProgram) -> list[str]:
        """Every feature of ``program`` this format cannot express, ``file:line:col: message``."""
        out: list[str] = []
        fmt = self.step_format
        steps = program.steps
        if len(steps) > self.max_steps:
            where = steps[self.max_steps].source or program.name
            out.append(f"{where}: the protocol compiles to {len(steps)} steps; a {fmt} step file holds at "
                       f"most {self.max_steps}")
        for position, step in enumerate(steps):
            where = step.source or program.name
            if step.kind not in self.step_kinds:
                out.append(f"{where}: a {step.kind} step cannot be written to a {fmt} step file "
                           f"(it writes {', '.join(sorted(self.step_kinds))})")
                continue
            allowed = self.end_quantities.get(step.kind, frozenset())
            for end in step.ends:
                if end.quantity not in allowed:
                    shown = ", ".join(sorted(allowed)) or "none"
                    out.append(f"{where}: a {step.kind} step of a {fmt} step file cannot end on {end.quantity} "
                               f"(it ends on {shown})")
            if len(step.ends) > self.max_ends_per_step:
                out.append(f"{where}: {len(step.ends)} end conditions; a {fmt} step holds at most "
                           f"{self.max_ends_per_step}")
            if step.kind == "cycle":
                if step.loop_count is not None and step.loop_count > self.loop_count_max:
                    out.append(f"{where}: repeat {step.loop_count} exceeds the {fmt} cycle count limit "
                               f"{self.loop_count_max}")
                if not self.nested_loops and step.loop_to is not None and any(
                        s.kind == "cycle" for s in steps[step.loop_to:position]):
                    out.append(f"{where}: nested repeats cannot be written to a {fmt} step file")
            elif step.kind != "end":
                low, high = self.record_period_s
                if not low <= step.record_period_s <= high:
                    out.append(f"{where}: sampling period {step.record_period_s:g} s is outside the {fmt} "
                               f"record interval {low:g}-{high:g} s")
        return out
