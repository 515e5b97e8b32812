"""Whether a run's last stretch was judged for internal shorts, and what that does to its claims.

The engine ends every completed protocol with a final observation (bench/engine/final_watch.py)
and records ``final_observation_end`` with ``judged``. A claim that the cell stayed safe ("no
fire, no explosion", "no internal short") covers the whole run only when that observation judged
it; otherwise the claim is "not tested" (never "met"): a soft short that started in the last
discharge, charge or rest would have gone unseen. Runs with an abuse test are judged by their own
analysis (their rests after the abuse are the observation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: Metrics whose claims say the cell stayed safe through the end of the run.
SAFETY_METRICS = frozenset({"eucar_hazard_level", "fire_inferred", "explosion_inferred", "internal_short_detected"})


def last_stretch(events: Sequence[Mapping[str, Any]], status: str) -> dict[str, Any] | None:
    """``{"judged", "reason", ...}`` of a completed run's final observation (None: not applicable:
    the run did not complete, or it is an abuse test)."""
    if status != "completed" or any(e["kind"] in ("abuse_applied", "operator_prompt") for e in events):
        return None
    end = next((e for e in reversed(events) if e["kind"] == "final_observation_end"), None)
    if end is None:
        return {"judged": False, "reason": "the run has no final observation (recorded before it existed, or "
                                           "cut short): the last cycle was not judged for internal shorts"}
    data = dict(end.get("data") or {})
    return {"judged": bool(data.get("judged")), "reason": str(data.get("reason") or end.get("message", "")),
            "excess_k": data.get("excess_k"), "observed_s": data.get("observed_s"),
            "judged_through_s": data.get("judged_through_s")}


def short_detected(stretch: Mapping[str, Any] | None, trips: Sequence[str]) -> int | None:
    """The ``internal_short_detected`` metric: 1 when an internal-short rule tripped, 0 when none
    did and the last stretch was judged, None (not measured) otherwise."""
    if any(rule.startswith("internal_short") for rule in trips):
        return 1
    return 0 if stretch is not None and stretch["judged"] else None


def apply_last_stretch(checks: list[dict[str, Any]], stretch: Mapping[str, Any] | None) -> None:
    """Turn a met safety claim into not tested when the last stretch was not judged (in place)."""
    if stretch is None or stretch["judged"]:
        return
    for check in checks:
        if check.get("metric") in SAFETY_METRICS and check["status"] == "met":
            check["status"] = "not tested"
            check["passed"] = None
            check["reason"] = f"the last stretch of the run was not judged for internal shorts: {stretch['reason']}"
