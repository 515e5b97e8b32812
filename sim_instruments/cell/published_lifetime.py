"""Cycle lives of the simulated APR18650M1A under the nine protocols of Attia et al. 2020, to
80 % capacity, for the spread of lives (issue 30 item 3; the ranking over the first cycles is
:mod:`sim_instruments.cell.published_fast_charge`).

**Life**: cycles until the OCV capacity (:attr:`CellModel.aged_capacity_ah`) falls to 80 % of
its value after the first cycle (the papers: discharge capacity at 4C with a CV hold at 2.0 V to
80 % of the 1.1 Ah rating; the hold brings the two close), linearly interpolated between the last
two points.

**Cycle jumping** (the usual way of reaching end of life in ageing simulation; the cycle costs
~30 ms of CPU, a life 1,500-3,000 cycles): after each simulated cycle the growth of the ageing
pools over that cycle (SEI, dead lithium, loss of active material, throughput) is extrapolated
over ``k`` more cycles, ``k`` the largest that keeps the extrapolated loss within
``max_jump`` of the capacity (and <= ``max_skip``); the reversibly plated lithium, SOC and
temperatures carry over, and the next cycle is simulated with the aged cell's new capacity,
resistances and pore clogging, so the jumps shrink as the fade accelerates. Checked against
simulating every cycle (3.6C-6C-5.6C-4.755C, 600 cycles): the capacity agrees within 0.12 % of
the capacity (docs/calibration.md). Units: Ah, cycles.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from sim_instruments.cell.model import CellModel
from sim_instruments.cell.presets import CellPreset
from sim_instruments.cell.published_fast_charge import (
    Policy,
    PolicyRun,
    chamber_preset,
    load_policies,
    new_cell,
    run_cycle,
    spearman,
)

#: End of life: capacity / capacity after the first cycle.
END_OF_LIFE = 0.8


@dataclass
class Life:
    """The simulated life under one protocol: (cycle, OCV capacity Ah) after each simulated cycle
    (the jumps between them), the cycles to :data:`END_OF_LIFE`, and the pools at the end (Ah)."""

    trajectory: list[tuple[float, float]]
    cycles: float
    simulated_cycles: int
    sei_ah: float
    dead_lithium_ah: float
    lam_ah: float
    pore_resistance_factor: float

    def capacity_at(self, fraction_of_life: float) -> float:
        """Capacity at ``fraction_of_life`` of the life / the first cycle's (interpolated)."""
        n = fraction_of_life * self.cycles
        pairs = zip(self.trajectory, self.trajectory[1:], strict=False)
        (n1, c1), (n2, c2) = next((a, b) for a, b in pairs if b[0] >= n)
        return (c1 + (c2 - c1) * (n - n1) / (n2 - n1)) / self.trajectory[0][1]


def _pools(cell: CellModel) -> tuple[float, float, float, float]:
    """SEI, dead lithium, loss of active material, throughput, Ah."""
    return cell.sei_lithium_ah, cell.dead_lithium_ah, cell.lam_ah, cell.throughput_ah


def simulate_life(rates: tuple[float, ...], preset: CellPreset | None = None, max_jump: float = 0.005,
                  max_skip: int = 50, max_cycles: int = 5000) -> Life:
    """Cycle a fresh cell under the protocol ``rates`` (C per 20 % step) to :data:`END_OF_LIFE`
    (or ``max_cycles``), jumping cycles as the module docstring says."""
    p = preset or chamber_preset()
    cell = new_cell(p)
    run = PolicyRun()
    run_cycle(cell, rates, run)  # the first cycle follows a half discharge: not a step of the life
    cap0 = cell.aged_capacity_ah
    trajectory = [(0.0, cap0)]
    n = 0.0
    simulated = 0
    while n < max_cycles:
        before = _pools(cell)
        run_cycle(cell, rates, run)
        simulated += 1
        n += 1.0
        after = _pools(cell)
        growth = [b - a for a, b in zip(before, after, strict=True)]
        lost = growth[0] + growth[1] + growth[2]
        k = int(min(max_skip, max(0.0, max_jump * cap0 / max(lost, 1e-15) - 1.0)))
        if k > 0:
            sei, dead, lam, thr = (b + k * g for b, g in zip(after, growth, strict=True))
            cell.set_ageing_pools_ah(sei, dead, lam, thr)
            n += k
        cap = cell.aged_capacity_ah
        trajectory.append((n, cap))
        if cap <= END_OF_LIFE * cap0:
            (n1, c1), (n2, c2) = trajectory[-2], trajectory[-1]
            n = n1 + (n2 - n1) * (c1 - END_OF_LIFE * cap0) / (c1 - c2)
            break
    return Life(trajectory, n, simulated, cell.sei_lithium_ah, cell.dead_lithium_ah, cell.lam_ah,
                cell.pore_resistance_factor)


@dataclass
class LifeComparison:
    """Simulated against published lives: Spearman rho and the longest / shortest ratios."""

    policies: list[Policy]
    lives: dict[str, Life]

    @property
    def rho(self) -> float:
        """Spearman rho of the simulated against the published mean lives."""
        return spearman([self.lives[p.name].cycles for p in self.policies], [p.mean_life for p in self.policies])

    @property
    def spread(self) -> float:
        """The model's longest / shortest life (= harshest / gentlest fade per cycle to 80 %)."""
        lives = [life.cycles for life in self.lives.values()]
        return max(lives) / min(lives)

    @property
    def published_spread(self) -> float:
        """Longest / shortest published mean life."""
        lives = [p.mean_life for p in self.policies]
        return max(lives) / min(lives)

    def model_best(self) -> str:
        """Protocol the model lives longest under."""
        return max(self.lives, key=lambda n: self.lives[n].cycles)

    def model_worst(self) -> str:
        """Protocol the model lives shortest under."""
        return min(self.lives, key=lambda n: self.lives[n].cycles)


def compare_lives(preset: CellPreset | None = None, max_jump: float = 0.005, max_skip: int = 50,
                  policies: list[Policy] | None = None) -> LifeComparison:
    """Every published protocol cycled to end of life."""
    policies = policies or load_policies()
    return LifeComparison(policies, {p.name: simulate_life(p.rates, preset, max_jump, max_skip) for p in policies})


def main(argv: list[str] | None = None) -> int:
    """Print the life table of docs/calibration.md (markdown)."""
    parser = argparse.ArgumentParser(description="Simulated cycle lives under Attia et al. 2020's protocols.")
    parser.add_argument("--max-jump", type=float, default=0.005,
                        help="largest extrapolated capacity loss per jump, fraction (default 0.005)")
    args = parser.parse_args(argv)
    out = compare_lives(max_jump=args.max_jump)
    lines = ["| policy (CC1-CC4) | published mean life | model life | capacity at half life | "
             "SEI | dead Li | LAM | R0 from pores | simulated cycles |", "|---|---|---|---|---|---|---|---|---|"]
    for p in out.policies:
        life = out.lives[p.name]
        lines.append(f"| {p.name} | {p.mean_life:.0f} | {life.cycles:.0f} | {100 * life.capacity_at(0.5):.1f} % | "
                     f"{1e3 * life.sei_ah:.0f} mAh | {1e3 * life.dead_lithium_ah:.0f} mAh | "
                     f"{1e3 * life.lam_ah:.0f} mAh | +{100 * life.pore_resistance_factor:.1f} % | "
                     f"{life.simulated_cycles} |")
    lines.append(f"\nSpearman rho (model life vs published mean life): {out.rho:+.3f}; model best "
                 f"{out.model_best()}, worst {out.model_worst()}; longest / shortest: model x{out.spread:.2f}, "
                 f"published x{out.published_spread:.2f}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
