"""Short runs of every shipped protocol, made once per test session through the CLI as a user
makes them (virtual time), for the tests that read their reports, plots and metrics."""

from __future__ import annotations

from pathlib import Path

#: Shipped protocol -> (overrides that keep it short, extra run arguments).
SHORT_RUNS: dict[str, tuple[dict[str, str], list[str]]] = {
    "capacity_check": ({"rate": "1C"}, []),
    "cold_capacity": ({"soak": "2 hours"}, []),
    "cold_range": ({"soak": "2 hours", "peak": "1.4C", "rest": "10 minutes"}, []),
    "cold_capacity_eis": ({"soak": "2 hours"}, []),
    "cycle_life": ({"rpt_every": "1", "rpt_blocks": "1"}, []),
    "fade_to_80": ({"max_cycles": "1"}, []),
    "fast_charge": ({}, []),
    "fast_charge_cccv": ({}, []),
    "fast_charge_cycling": ({"cycles": "1", "blocks": "2"}, []),
    "fast_charge_gb38031": ({"cycles": "1"}, []),
    "fast_charge_profile_cycling": ({"cycles": "1"}, []),
    "hot_box": ({"observe": "10 minutes"}, []),
    "interface_impedance": ({}, []),
    "nail_penetration": ({"observe": "10 minutes"}, []),
    "puncture_safe_cycling": ({"cycles": "1", "rest": "5 minutes"},
                              ["--fault", "internal_short@40min,resistance_ohm=0.1", "--observe", "10min"]),
}


class ShippedRuns:
    """``runs.get(name)``: the run file of a shipped protocol's short run (made on first use)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._made: dict[str, Path] = {}

    def get(self, name: str) -> Path:
        """Run ``name`` once (exit 0, 1 or 3: a verdict or a trip) and return its file."""
        if name not in self._made:
            from bench.cli import main

            overrides, extra = SHORT_RUNS[name]
            out = self.directory / f"{name}.h5"
            args = ["run", name, "--out", str(out), "--no-progress"] + extra
            for key, value in overrides.items():
                args += ["--set", f"{key}={value}"]
            code = main(args)
            assert code in (0, 1, 3), (name, code)
            self._made[name] = out
        return self._made[name]
