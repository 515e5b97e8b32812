"""Conditions of Replay steps (``replay_profile`` events): which profile, scaled how, and how a
power profile was followed (the bench closes the loop at the sample rate)."""

from __future__ import annotations

from typing import Any

from bench.runfile.reader import RunFile


def replay_conditions(run: RunFile) -> list[dict[str, Any]]:
    """One dict per Replay step applied in ``run`` (the event's data), in run order."""
    return [dict(e["data"]) for e in run.events if e["kind"] == "replay_profile"]


def add_replay_conditions(run: RunFile, conditions: dict[str, Any]) -> None:
    """``conditions["replay"]`` (profiles and power loop) when the run replayed a profile."""
    unique: list[dict[str, Any]] = []
    for data in replay_conditions(run):
        entry = {k: v for k, v in data.items() if k != "step_index"}
        if entry not in unique:  # the same profile replayed twice (warm and cold) is one condition
            unique.append(entry)
    if unique:
        conditions["replay"] = unique
