"""Check a scenario's invariants against the run summaries (pure).

Write invariants and the drain judge zproxy's run; success-rate and latency invariants judge
zproxy's clients (``beats_baseline`` compares them with the baseline's)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zproxy.scenarios.model import Invariant, Scenario

_AUDIT = {
    "no_lost_writes": ("lost", "acknowledged writes never applied"),
    "no_duplicate_writes": ("duplicates", "writes applied more than once"),
    "per_account_order": ("order_violations", "per-account order violations"),
    "no_dead_writes": ("dead", "dead-lettered writes"),
}


def evaluate(scenario: Scenario, runs: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [_check(scenario, inv, runs) for inv in scenario.invariants]


def _check(
    scenario: Scenario, inv: Invariant, runs: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    zp = runs["zproxy"]
    ok, detail = True, ""
    if inv.name in _AUDIT:
        key, what = _AUDIT[inv.name]
        found = zp["audit"][key]
        ok = not found
        detail = f"{len(found)} {what}" + (f": {_preview(found)}" if found else "")
    elif inv.name == "max_drain_seconds":
        drain = zp["drain_seconds"]
        ok = drain is not None and inv.value is not None and drain <= inv.value
        detail = "queue never drained" if drain is None else f"drained in {drain:g} s"
    else:
        stats = _stats(scenario, zp, inv.phase)
        if inv.name == "min_success_rate":
            rate = stats["success_rate"]
            ok = rate is None or (inv.value is not None and rate >= inv.value)
            detail = "no valid requests" if rate is None else f"success rate {rate:.2%}"
        elif inv.name == "max_p99_ms":
            p99 = stats["p99_ms"]
            ok = p99 is None or (inv.value is not None and p99 <= inv.value)
            detail = "no requests" if p99 is None else f"p99 {p99:g} ms"
        else:  # beats_baseline
            base = (
                _stats(scenario, runs["baseline"], inv.phase)["success_rate"]
                if ("baseline" in runs)
                else None
            )
            mine = stats["success_rate"]
            ok = mine is not None and (base is None or mine >= base)
            detail = f"zproxy {_pct(mine)} vs baseline {_pct(base)}"
    return {"name": inv.name, "label": inv.label(), "ok": ok, "detail": detail}


def _stats(scenario: Scenario, run: Mapping[str, Any], phase: str | None) -> Mapping[str, Any]:
    if phase is None:
        return run["total"]  # type: ignore[no-any-return]
    index = [p.name for p in scenario.phases].index(phase)
    return run["phases"][index]  # type: ignore[no-any-return]


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.2%}"


def _preview(items: list[Any]) -> str:
    shown = ", ".join(str(i) for i in items[:5])
    return shown + (f" (+{len(items) - 5} more)" if len(items) > 5 else "")
