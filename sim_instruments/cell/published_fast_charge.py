"""The simulated APR18650M1A against a published multi-step fast-charge lifetime study (issue 30
item 3: "a published multi-step fast-charge lifetime dataset will be used to check the ranking").

Reference: the nine validation protocols of Attia et al., Nature 578 (2020) 397 (Fig. 4,
Extended Data Fig. 6), five cells each cycled to 80 % of nominal capacity
(``tests/data/reference/attia2020_validation_cycle_lives.csv``; where each number comes from:
``tests/data/reference/README_attia2020.md``). Their cycle, as the papers' Methods give it: four
constant-current steps CC1..CC4 over 0-20-40-60-80 % SOC of the 1.1 Ah rating (10 min in all),
then 1C CC-CV to 3.6 V, then a 4C discharge to 2.0 V with a CV hold at 2.0 V, in a forced-convection
chamber at 30 °C; every step is held at the 3.6 V / 2.0 V limits (a step that reaches 3.6 V goes
on at 3.6 V). Assumed here (not in the papers): the CV holds end at C/50, 5 min rests after the
charge and the discharge, forced convection h = 30 W/m²K.

The model's fade per cycle (loss of the OCV capacity, :attr:`CellModel.aged_capacity_ah`, from the
end of cycle 1 to the end of the last cycle, per cycle) is compared with the published 1/cycle
life by Spearman's rank correlation. Run ``python -m sim_instruments.cell.published_fast_charge``
for the table of docs/calibration.md. Units: A, Ah, °C, s.
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from sim_instruments.cell.model import CellModel
from sim_instruments.cell.preset_apr18650 import LFP_18650_APR
from sim_instruments.cell.presets import CellPreset

REFERENCE = Path(__file__).resolve().parents[2] / "tests" / "data" / "reference" / \
    "attia2020_validation_cycle_lives.csv"
CHAMBER_C = 30.0
#: Forced-convection film coefficient of the chamber, W/(m²·K) (assumed: forced air over an
#: 18650 at a few m/s gives 20-50; the papers give no figure).
FORCED_CONVECTION_W_PER_M2K = 30.0
STEP_FRACTION = 0.2       # each fast-charge step: 20 % of the nominal capacity
CV_END_C = 1.0 / 50.0     # CV holds end at C/50 (assumed)
REST_S = 300.0            # rest after the charge and after the discharge (assumed)
DT_S = 2.0                # physics step under current, s
REST_DT_S = 10.0


@dataclass(frozen=True)
class Policy:
    """One published protocol: the C-rates of its four 20 % steps and its measured lives."""

    name: str
    rates: tuple[float, ...]
    lives: tuple[int, ...]

    @property
    def mean_life(self) -> float:
        """Mean cycle life of the published cells (cycles to 80 % of nominal)."""
        return float(np.mean(self.lives))


@dataclass
class PolicyRun:
    """What the simulated cell did under one protocol (Ah, °C, V)."""

    capacity_ah: list[float] = field(default_factory=list)
    max_temperature_c: float = -273.15
    min_anode_v: float = float("inf")
    sei_ah: float = 0.0
    dead_lithium_ah: float = 0.0
    lam_ah: float = 0.0

    @property
    def fade_per_cycle_pct(self) -> float:
        """OCV-capacity loss per cycle from the end of the first recorded cycle to the end of the
        last, %."""
        n = len(self.capacity_ah) - 1
        return 100.0 * (1.0 - self.capacity_ah[-1] / self.capacity_ah[0]) / max(n, 1)


def load_policies(path: Path = REFERENCE) -> list[Policy]:
    """The published protocols and their cell lives."""
    with path.open(encoding="utf-8", newline="") as f:
        return [Policy(row["policy"], tuple(float(row[f"cc{i}_c"]) for i in range(1, 5)),
                       tuple(int(row[f"life_{i}"]) for i in range(1, 6))) for row in csv.DictReader(f)]


def chamber_preset(preset: CellPreset = LFP_18650_APR) -> CellPreset:
    """``preset`` in the studies' forced-convection chamber."""
    return replace(preset, convection_w_per_m2k=FORCED_CONVECTION_W_PER_M2K)


def _hold(cell: CellModel, current_a: float, limit_v: float, charge_ah: float, floor_a: float,
          run: PolicyRun) -> float:
    """``current_a`` held at ``limit_v`` (CV once reached) until ``charge_ah`` has moved or the
    held current falls to ``floor_a`` (magnitude); returns the charge moved, Ah."""
    sign = 1.0 if current_a > 0.0 else -1.0
    q = 0.0
    while q < charge_ah - 1e-12:
        i = current_a
        if sign * (cell.voltage_after_v(DT_S, i) - limit_v) > 0.0:
            i = cell.current_for_voltage_a(limit_v, DT_S)
            i = min(i, current_a) if sign > 0.0 else max(i, current_a)
            if sign * i <= floor_a:
                break
        h = min(DT_S, (charge_ah - q) * 3600.0 / abs(i))
        if sign > 0.0:
            run.min_anode_v = min(run.min_anode_v, cell.anode_potential_v(i))
        cell.step(h, i, CHAMBER_C)
        q += abs(i) * h / 3600.0
        run.max_temperature_c = max(run.max_temperature_c, cell.temperature_surface_c)
    return q


def _rest(cell: CellModel) -> None:
    for _ in range(int(REST_S / REST_DT_S)):
        cell.step(REST_DT_S, 0.0, CHAMBER_C)


def new_cell(preset: CellPreset) -> CellModel:
    """A fresh cell rested at SOC 0.5 in the 30 °C chamber."""
    return CellModel(preset, soc=0.5, temperature_c=CHAMBER_C, seed=None)


def run_cycle(cell: CellModel, rates: tuple[float, ...], run: PolicyRun) -> None:
    """One published cycle: 4C discharge to 2.0 V with a CV hold to C/50, rest, the fast-charge
    steps ``rates`` (C, 20 % each, held at 3.6 V), 1C CC-CV to C/50, rest."""
    p = cell.preset
    c = p.nominal_capacity_ah
    huge = 10.0 * c
    _hold(cell, -4.0 * c, p.voltage_min_v, huge, CV_END_C * c, run)  # 4C to 2.0 V, CV to C/50
    _rest(cell)
    for rate in rates:
        if _hold(cell, rate * c, p.voltage_max_v, STEP_FRACTION * c, 1.0 * c, run) < STEP_FRACTION * c - 1e-9:
            break  # held at 3.6 V below 1C: the fast charge is over
    _hold(cell, 1.0 * c, p.voltage_max_v, huge, CV_END_C * c, run)     # 1C CC-CV to C/50
    _rest(cell)


def simulate_policy(rates: tuple[float, ...], cycles: int = 12,
                    preset: CellPreset | None = None) -> PolicyRun:
    """The published cycle with the fast-charge steps ``rates`` (C) on a fresh cell that starts
    rested at SOC 0.5 in the 30 °C chamber: one cycle that starts with that half discharge (not
    recorded), then ``cycles`` recorded cycles (capacity at the end of each)."""
    p = preset or chamber_preset()
    cell = new_cell(p)
    run = PolicyRun()
    for _ in range(cycles + 1):
        run_cycle(cell, rates, run)
        run.capacity_ah.append(cell.aged_capacity_ah)
    run.capacity_ah = run.capacity_ah[1:]  # the first charge follows a half-cycle
    run.sei_ah, run.dead_lithium_ah, run.lam_ah = cell.sei_lithium_ah, cell.dead_lithium_ah, cell.lam_ah
    return run


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman's rank correlation (average ranks for ties)."""
    def ranks(v: list[float]) -> np.ndarray:
        a = np.asarray(v, dtype=float)
        order = a.argsort()
        r = np.empty(len(a))
        r[order] = np.arange(len(a), dtype=float)
        for value in np.unique(a):  # ties: the mean of their ranks
            tie = a == value
            r[tie] = r[tie].mean()
        return r
    return float(np.corrcoef(ranks(x), ranks(y))[0, 1])


@dataclass
class Comparison:
    """The model against the published lives: Spearman rho of the model's fade per cycle against
    1/(mean life), of each against the first-step current, the harshest / gentlest ratios."""

    policies: list[Policy]
    runs: dict[str, PolicyRun]

    def fade(self) -> list[float]:
        """The model's fade per cycle of each policy, %, in the order of :attr:`policies`."""
        return [self.runs[pol.name].fade_per_cycle_pct for pol in self.policies]

    @property
    def rho(self) -> float:
        """Spearman rho between the model's fade per cycle and the published 1/(mean life)."""
        return spearman(self.fade(), [1.0 / pol.mean_life for pol in self.policies])

    @property
    def rho_fade_vs_cc1(self) -> float:
        """Spearman rho of the model's fade against the first-step C-rate."""
        return spearman(self.fade(), [pol.rates[0] for pol in self.policies])

    @property
    def rho_life_vs_cc1(self) -> float:
        """Spearman rho of the published mean life against the first-step C-rate."""
        return spearman([pol.mean_life for pol in self.policies], [pol.rates[0] for pol in self.policies])

    @property
    def spread(self) -> float:
        """The model's harshest / gentlest fade per cycle."""
        return max(self.fade()) / min(self.fade())

    @property
    def published_spread(self) -> float:
        """Longest / shortest published mean life (the same ratio for 1/life)."""
        lives = [pol.mean_life for pol in self.policies]
        return max(lives) / min(lives)

    def model_best(self) -> str:
        """Policy the model fades least under."""
        return min(self.runs, key=lambda n: self.runs[n].fade_per_cycle_pct)

    def model_worst(self) -> str:
        """Policy the model fades most under."""
        return max(self.runs, key=lambda n: self.runs[n].fade_per_cycle_pct)

    def published_best(self) -> str:
        """Policy with the longest published mean life."""
        return max(self.policies, key=lambda pol: pol.mean_life).name

    def published_worst(self) -> str:
        """Policy with the shortest published mean life."""
        return min(self.policies, key=lambda pol: pol.mean_life).name


def compare(cycles: int = 12, policies: list[Policy] | None = None,
            preset: CellPreset | None = None) -> Comparison:
    """Every policy simulated for ``cycles`` cycles (``preset``: default the APR18650M1A in the
    chamber) and compared with its published lives."""
    policies = policies or load_policies()
    return Comparison(policies, {pol.name: simulate_policy(pol.rates, cycles, preset) for pol in policies})


def _emit(text: str) -> None:
    sys.stdout.write(text + "\n")


def main(argv: list[str] | None = None) -> int:
    """Print the comparison table (markdown) of docs/calibration.md."""
    parser = argparse.ArgumentParser(description="The simulated APR18650M1A against Attia et al. 2020.")
    parser.add_argument("--cycles", type=int, default=12, help="simulated cycles per policy")
    args = parser.parse_args(argv)
    out = compare(args.cycles)
    _emit("| policy (CC1-CC4) | published mean life | model fade / cycle | 20 % / life | peak T | "
          "min anode | SEI | dead Li | LAM |")
    _emit("|---|---|---|---|---|---|---|---|---|")
    for pol in out.policies:
        r = out.runs[pol.name]
        _emit(f"| {pol.name} | {pol.mean_life:.0f} | {r.fade_per_cycle_pct:.5f} % | "
              f"{20.0 / pol.mean_life:.4f} % | {r.max_temperature_c:.1f} °C | "
              f"{1e3 * r.min_anode_v:+.0f} mV | {1e3 * r.sei_ah:.3f} mAh | "
              f"{1e3 * r.dead_lithium_ah:.3f} mAh | {1e3 * r.lam_ah:.3f} mAh |")
    _emit(f"\nSpearman rho (model fade/cycle vs published 1/life): {out.rho:+.3f}; "
          f"model best {out.model_best()}, worst {out.model_worst()}; "
          f"published best {out.published_best()}, worst {out.published_worst()}")
    _emit(f"harshest / gentlest: model fade x{out.spread:.3f}, published 1/life x{out.published_spread:.2f}; "
          f"Spearman vs CC1: model fade {out.rho_fade_vs_cc1:+.3f}, published life {out.rho_life_vs_cc1:+.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
