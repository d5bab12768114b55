"""The pre-deploy gate's verdict (pure): the same scenario run on the current config and on a
new one, compared invariant by invariant and journey by journey.

The new config is *worse* when
  - an invariant that held on the current config fails on the new one (one that already failed
    is shown, not held against the change), or
  - a customer journey's error ratio rose by more than ``TOLERANCE`` (0.5 percentage points,
    absolute) *and* by more than ``NOISE_REQUESTS`` failed requests: both runs send the same
    requests, yet one or two of them may land either side of a fault's start or end.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Largest rise of a journey's error ratio (absolute) still taken as no worse: 0.5 points.
TOLERANCE = 0.005
#: ... and of its failed requests: a rise of this many or fewer is timing, not the config.
NOISE_REQUESTS = 2


def compare(current: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """``current`` / ``new``: two ``build_report`` results of one scenario and plan."""
    invariants = _invariants(current["invariants"], new["invariants"])
    journeys = _journeys(current["runs"]["zproxy"], new["runs"]["zproxy"])
    totals = {
        side: report["runs"]["zproxy"]["total"]["success_rate"]
        for side, report in (("current", current), ("new", new))
    }
    worse = [f"invariant {i['label']}" for i in invariants if i["worse"]] + [
        f"journey {j['journey']}" for j in journeys if j["worse"]
    ]
    return {
        "tolerance": TOLERANCE,
        "noise_requests": NOISE_REQUESTS,
        "success_rate": totals,
        "invariants": invariants,
        "journeys": journeys,
        "worse": worse,
        "ok": not worse,
    }


def _invariants(
    current: list[Mapping[str, Any]], new: list[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    out = []
    for a, b in zip(current, new, strict=True):
        out.append(
            {
                "label": a["label"],
                "current": {"ok": a["ok"], "detail": a["detail"]},
                "new": {"ok": b["ok"], "detail": b["detail"]},
                "worse": bool(a["ok"] and not b["ok"]),
            }
        )
    return out


def _journeys(current: Mapping[str, Any], new: Mapping[str, Any]) -> list[dict[str, Any]]:
    a, b = current.get("journeys") or {}, new.get("journeys") or {}
    out = []
    for name in sorted(set(a) | set(b)):
        cur, nxt = a.get(name), b.get(name)
        delta = None if cur is None or nxt is None else nxt["error_ratio"] - cur["error_ratio"]
        extra = (nxt or {}).get("failed", 0) - (cur or {}).get("failed", 0)
        worse = extra > NOISE_REQUESTS and (delta is None or delta > TOLERANCE)
        out.append(
            {
                "journey": name,
                "current": cur,
                "new": nxt,
                "delta": None if delta is None else round(delta, 4),
                "worse": worse,
            }
        )
    return out


def verdict_line(comparison: Mapping[str, Any]) -> str:
    if comparison["ok"]:
        return "result: the new config is no worse (gate passed)"
    return "result: the NEW CONFIG IS WORSE on " + ", ".join(comparison["worse"])
