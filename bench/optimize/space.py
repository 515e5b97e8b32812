"""The search space of a multi-stage constant-current fast charge, read from YAML (data, not code).

A profile is one C-rate per SOC window. The searched stages take C-rates from their ranges (on a
``rate_step_c`` grid); the one ``computed`` stage takes the rate that makes the whole charge last
exactly ``time_budget_s`` in constant current (Attia et al., Nature 578, 2020: CC4 "fixed by the
time budget")::

    t_i = (soc_to_i - soc_from_i) / 100 / rate_i   [h]     rate_computed = dsoc / (budget_h - sum(t_i))

A proposal is *infeasible* (rejected before any cell sees it) when the searched stages alone
use up the budget, or when the computed rate falls outside ``[rate_c_min, rate_c_max]``, where
``rate_c_max: cell`` means the cell's maximum charge current over its capacity. Units: SOC in %,
rates in C (1C = the cell's rated capacity per hour), times in s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class SpaceError(ValueError):
    """A search-space file that cannot be used (the message names the file and the key)."""


@dataclass(frozen=True)
class Stage:
    """One SOC window of the profile (``rate_c`` range for a searched stage, None when computed)."""

    soc_from: float
    soc_to: float
    rate_c: tuple[float, float] | None

    @property
    def computed(self) -> bool:
        """True for the stage whose rate follows from the time budget."""
        return self.rate_c is None

    @property
    def dsoc(self) -> float:
        """Width of the window as a fraction of the rated capacity."""
        return (self.soc_to - self.soc_from) / 100.0


@dataclass(frozen=True)
class Profile:
    """One proposal: a C-rate per stage (the computed stage included) and whether it is feasible."""

    rates_c: tuple[float, ...]
    feasible: bool
    reason: str = ""
    #: How far outside the constraints an infeasible profile is (a positive fraction), 0 when feasible.
    violation: float = 0.0

    def duration_s(self, stages: tuple[Stage, ...]) -> float:
        """Charge time in constant current, s (what the profile takes if no stage ends on voltage)."""
        if not self.feasible:
            return math.inf
        return sum(stage.dsoc / rate * 3600.0 for stage, rate in zip(stages, self.rates_c, strict=True))


@dataclass(frozen=True)
class SearchSpace:
    """A fast-charge search space (see the module docstring)."""

    name: str
    stages: tuple[Stage, ...]
    time_budget_s: float
    rate_step_c: float
    rate_c_min: float
    rate_c_max: float | str
    rate_parameters: tuple[str, ...]
    soc_parameters: tuple[str, ...]
    temperature_window_c: tuple[float, float] | None = None
    baseline: str = "constant_current"
    source: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def searched(self) -> tuple[int, ...]:
        """Indices of the searched stages."""
        return tuple(i for i, s in enumerate(self.stages) if not s.computed)

    def rate_max_c(self, charge_current_max_a: float, capacity_ah: float) -> float:
        """The largest C-rate a stage may take for this cell."""
        if self.rate_c_max == "cell":
            return charge_current_max_a / capacity_ah
        return float(self.rate_c_max)

    def on_grid(self, rate_c: float) -> float:
        """``rate_c`` rounded to the space's C-rate step."""
        return round(round(rate_c / self.rate_step_c) * self.rate_step_c, 6)

    def fastest_s(self, rate_max_c: float) -> float:
        """Charge time (s) with every stage at ``rate_max_c``: the least any profile can take."""
        return sum(s.dsoc for s in self.stages) / rate_max_c * 3600.0

    def complete(self, searched_rates_c: dict[int, float], rate_max_c: float) -> Profile:
        """The profile with the computed stage filled in (or infeasible, with the reason)."""
        rates: list[float] = []
        used_h = 0.0
        for index, stage in enumerate(self.stages):
            if stage.computed:
                rates.append(math.nan)
                continue
            rate = float(searched_rates_c[index])
            if rate > rate_max_c + 1e-9:
                return Profile(tuple(searched_rates_c.values()), False,
                               f"stage {index + 1}: {rate:.2f}C above the cell's {rate_max_c:.2f}C",
                               (rate - rate_max_c) / rate_max_c)
            rates.append(rate)
            used_h += stage.dsoc / rate
        left_h = self.time_budget_s / 3600.0 - used_h
        computed = next(i for i, s in enumerate(self.stages) if s.computed)
        if left_h <= 0:
            return Profile(tuple(rates), False, f"stages {self.searched} alone take {used_h * 3600:.0f} s "
                                                f"of the {self.time_budget_s:.0f} s budget",
                           1.0 - left_h * 3600.0 / self.time_budget_s)
        rate = self.stages[computed].dsoc / left_h
        rates[computed] = rate
        if rate > rate_max_c + 1e-9:
            return Profile(tuple(rates), False, f"computed stage {computed + 1}: {rate:.2f}C above the cell's "
                                                f"{rate_max_c:.2f}C", (rate - rate_max_c) / rate_max_c)
        if rate < self.rate_c_min - 1e-9:
            return Profile(tuple(rates), False, f"computed stage {computed + 1}: {rate:.2f}C below "
                                                f"{self.rate_c_min:.2f}C", (self.rate_c_min - rate) / self.rate_c_min)
        return Profile(tuple(rates), True)

    def constant_current(self, rate_max_c: float) -> Profile:
        """The constant-current profile of the same duration (every stage at one rate)."""
        total = sum(s.dsoc for s in self.stages)
        rate = total / (self.time_budget_s / 3600.0)
        feasible = rate <= rate_max_c + 1e-9
        return Profile(tuple(rate for _ in self.stages), feasible,
                       "" if feasible else f"{rate:.2f}C above the cell's {rate_max_c:.2f}C")

    def protocol_settings(self, profile: Profile) -> dict[str, str]:
        """``--set`` values that give the protocol this profile."""
        settings = {name: f"{rate:.4g}C" for name, rate in zip(self.rate_parameters, profile.rates_c, strict=True)}
        for name, stage in zip(self.soc_parameters, self.stages, strict=False):
            settings[name] = f"{stage.soc_to:g}"
        return settings


def load_space(path: str | Path) -> SearchSpace:
    """Read and check a search-space YAML file."""
    where = str(path)
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpaceError(f"{where}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise SpaceError(f"{where}: not valid YAML: {exc}") from None
    return parse_space(data, where)


def parse_space(data: Any, where: str = "<space>") -> SearchSpace:
    """Check a loaded search space and build it; every error names the file and the key."""
    if not isinstance(data, dict):
        raise SpaceError(f"{where}: a search space is a mapping")
    known = {"name", "protocol_parameters", "stages", "rate_step_c", "time_budget_s", "claim_time_s", "constraints",
             "baseline"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SpaceError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
    stages_raw = data.get("stages")
    if not isinstance(stages_raw, list) or len(stages_raw) < 2:
        raise SpaceError(f"{where}: stages: a list of at least two SOC windows")
    stages: list[Stage] = []
    for number, raw in enumerate(stages_raw, start=1):
        if not isinstance(raw, dict):
            raise SpaceError(f"{where}: stages[{number}]: a mapping with soc_from, soc_to and rate_c or computed")
        try:
            soc_from, soc_to = float(raw["soc_from"]), float(raw["soc_to"])
        except (KeyError, TypeError, ValueError):
            raise SpaceError(f"{where}: stages[{number}]: soc_from and soc_to must be numbers (%)") from None
        if not 0 <= soc_from < soc_to <= 100:
            raise SpaceError(f"{where}: stages[{number}]: need 0 <= soc_from < soc_to <= 100")
        if stages and abs(stages[-1].soc_to - soc_from) > 1e-9:
            raise SpaceError(f"{where}: stages[{number}]: soc_from {soc_from:g} must equal the previous "
                             f"soc_to {stages[-1].soc_to:g}")
        if raw.get("computed"):
            stages.append(Stage(soc_from, soc_to, None))
            continue
        bounds = raw.get("rate_c")
        if not (isinstance(bounds, list) and len(bounds) == 2 and all(isinstance(b, (int, float)) for b in bounds)
                and 0 < bounds[0] < bounds[1]):
            raise SpaceError(f"{where}: stages[{number}].rate_c: [low, high] C-rates with 0 < low < high")
        stages.append(Stage(soc_from, soc_to, (float(bounds[0]), float(bounds[1]))))
    if sum(s.computed for s in stages) != 1:
        raise SpaceError(f"{where}: exactly one stage must be 'computed: true' (its rate follows the budget)")
    budget = data.get("time_budget_s")
    if not isinstance(budget, (int, float)) or budget <= 0:
        raise SpaceError(f"{where}: time_budget_s: a positive number of seconds")
    step = data.get("rate_step_c", 0.1)
    if not isinstance(step, (int, float)) or step <= 0:
        raise SpaceError(f"{where}: rate_step_c: a positive C-rate")
    constraints = data.get("constraints") or {}
    if not isinstance(constraints, dict):
        raise SpaceError(f"{where}: constraints: a mapping")
    rate_max = constraints.get("rate_c_max", "cell")
    if rate_max != "cell" and not (isinstance(rate_max, (int, float)) and rate_max > 0):
        raise SpaceError(f"{where}: constraints.rate_c_max: 'cell' or a positive C-rate")
    window = constraints.get("temperature_c")
    if window is not None and not (isinstance(window, list) and len(window) == 2 and window[0] < window[1]):
        raise SpaceError(f"{where}: constraints.temperature_c: [low, high] in °C")
    params = data.get("protocol_parameters") or {}
    rates = tuple(params.get("rates") or ())
    socs = tuple(params.get("soc_ends") or ())
    if len(rates) != len(stages):
        raise SpaceError(f"{where}: protocol_parameters.rates: one parameter name per stage ({len(stages)})")
    if len(socs) not in (0, len(stages) - 1):
        raise SpaceError(f"{where}: protocol_parameters.soc_ends: one name per stage but the last")
    baseline = str(data.get("baseline", "constant_current"))
    if baseline not in ("constant_current", "none"):
        raise SpaceError(f"{where}: baseline: 'constant_current' or 'none'")
    return SearchSpace(
        name=str(data.get("name", Path(where).stem)), stages=tuple(stages), time_budget_s=float(budget),
        rate_step_c=float(step), rate_c_min=float(constraints.get("rate_c_min", 0.0)), rate_c_max=rate_max,
        rate_parameters=rates, soc_parameters=socs,
        temperature_window_c=(float(window[0]), float(window[1])) if window else None,
        baseline=baseline, source=where, raw=dict(data))
