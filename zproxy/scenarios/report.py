"""Assemble ``report.json`` (pure): per-phase numbers for both runs, timelines, the write audit
and the invariant verdicts."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from zproxy.policy.routes import RouteTable
from zproxy.scenarios import measure as ms
from zproxy.scenarios.invariants import evaluate
from zproxy.scenarios.journeys import journey_stats, label
from zproxy.scenarios.model import Scenario

RUNS = ("zproxy", "baseline")


@dataclass(slots=True)
class RunData:
    """What one run produced: outcomes, the ledger's markers, zproxy's write states."""

    outcomes: list[ms.Outcome]
    ledger: list[str]
    states: dict[str, str] = field(default_factory=dict)
    #: (seconds from traffic start, zproxy_write_queue_depth) samples; empty for the baseline.
    depth: list[tuple[float, float]] = field(default_factory=list)
    through_proxy: bool = True
    #: (seconds from traffic start, worst breaker state: 0 closed, 1 half-open, 2 open).
    breaker: list[tuple[float, float]] = field(default_factory=list)
    #: Reads sent to warm the cache before the timeline (None: no warm-up).
    warmed: int | None = None
    #: Request number -> (method, path) as sent: to label each request with its journey.
    requests: dict[int, tuple[str, str]] = field(default_factory=dict)


def summarize_run(
    scenario: Scenario, data: RunData, table: RouteTable | None = None
) -> dict[str, Any]:
    """``table``: the route table whose journeys label the requests (None: no journeys)."""
    slo = scenario.traffic.slo_ms
    fates = ms.write_fates(data.outcomes, data.ledger, data.states)
    dupes = frozenset(ms.duplicates(data.ledger))
    proxied = data.through_proxy
    phases = []
    for index, (spec, start) in enumerate(
        zip(scenario.phases, scenario.phase_starts(), strict=True)
    ):
        mine = [o for o in data.outcomes if scenario.phase_at(o.t) == index]
        stats = ms.group_stats(mine, fates, slo, dupes, proxied)
        phases.append(
            {
                "name": spec.name,
                "start": start,
                "end": start + spec.duration,
                "faulted": spec.faulted,
                **stats,
            }
        )
    seconds = max(1, math.ceil(scenario.duration))
    drain = ms.drain_seconds(data.depth, scenario.recovery_at()) if data.through_proxy else None
    timeline = ms.timeline(data.outcomes, slo, seconds)
    violations = ms.order_violations(data.outcomes, data.ledger)
    overtaking = ms.order_violations(data.outcomes, data.ledger, unordered=True)
    journeys = {} if table is None else journey_stats(data.outcomes, label(data.requests, table))
    return {
        "phases": phases,
        "total": ms.group_stats(data.outcomes, fates, slo, dupes, proxied),
        #: Per customer journey: requests, failed (5xx, success: false, no answer), ratio.
        "journeys": journeys,
        "by_kind": {
            kind: ms.group_stats(
                [o for o in data.outcomes if o.kind == kind], fates, slo, proxied=proxied
            )
            for kind in sorted({o.kind for o in data.outcomes})
        },
        "timeline": timeline,
        "error_budget": ms.error_budget(timeline, scenario.time_scale),
        "warmup": {"enabled": scenario.warmup and proxied, "reads": data.warmed},
        "queue_depth": [[round(t, 2), d] for t, d in data.depth],
        "breaker": [[round(t, 2), s] for t, s in data.breaker],
        "drain_seconds": drain,
        "audit": {
            "lost": sorted(m for m, f in fates.items() if f == "lost"),
            "dead": sorted(m for m, f in fates.items() if f == "dead"),
            "pending": sorted(m for m, f in fates.items() if f == "pending"),
            "duplicates": ms.duplicates(data.ledger),
            "order_violations": violations,
            #: Payments applied before an earlier, queued write to their account (see
            #: ``measure.UNORDERED_KINDS``): not promised by zproxy, shown to be judged.
            "overtaking": overtaking,
            #: What each write named in a violation did: to debug it from report.json.
            "order_detail": _writes_named(data, violations + overtaking),
        },
    }


def _writes_named(data: RunData, pairs: Sequence[Sequence[str]]) -> list[dict[str, Any]]:
    named = {m for pair in pairs for m in pair}
    ledger = {m: pos for pos, m in reversed(list(enumerate(data.ledger)))}
    return [
        {
            "marker": o.marker,
            "kind": o.kind,
            "account": o.account,
            "sent_at": o.sent_at,
            "acked_at": o.acked_at,
            "status": o.status,
            "cache": o.cache_status,
            "state": data.states.get(o.marker or ""),
            "ledger_position": ledger.get(o.marker or ""),
        }
        for o in data.outcomes
        if o.marker in named
    ]


def build_report(
    scenario: Scenario,
    runs: Mapping[str, RunData],
    meta: Mapping[str, Any] | None = None,
    table: RouteTable | None = None,
) -> dict[str, Any]:
    """``meta``: the run's zproxy version, date and effective settings (see ``cli.run_meta``);
    ``table``: the route table that names each request's journey."""
    summaries = {name: summarize_run(scenario, runs[name], table) for name in RUNS if name in runs}
    checks = evaluate(scenario, summaries)
    return {
        "meta": dict(meta or {}),
        "scenario": scenario_json(scenario),
        "runs": summaries,
        "invariants": checks,
        "ok": all(c["ok"] for c in checks),
    }


def scenario_json(s: Scenario) -> dict[str, Any]:
    t = s.traffic
    return {
        "name": s.name,
        "description": s.description,
        "file": str(s.source) if s.source else None,
        "seed": s.seed,
        "duration": s.duration,
        "time_scale": s.time_scale,
        "warmup": s.warmup,
        "recovery_at": s.recovery_at(),
        "drain_timeout": s.drain_timeout,
        "traffic": {
            "rate": t.rate,
            "accounts": t.accounts,
            "credentials": t.credentials,
            "mix": dict(t.mix),
            "recorded": str(t.recorded) if t.recorded else None,
            "timeout": t.timeout,
            "slo_ms": t.slo_ms,
        },
        "phases": [
            {
                "name": p.name,
                "start": start,
                "duration": p.duration,
                "faults": [dict(f) for f in p.faults],
                "admin": None
                if p.admin is None
                else {"breaker": p.admin.breaker, "group": p.admin.group},
                "redis": p.redis,
                "faulted": p.faulted,
            }
            for p, start in zip(s.phases, s.phase_starts(), strict=True)
        ],
        "invariants": [i.label() for i in s.invariants],
    }


def improvement(zp: float | None, base: float | None) -> float | None:
    """How many times fewer failures zproxy's clients saw; None when undefined (no rates, or
    zproxy's clients saw no failure at all: a ratio over zero is no number to print)."""
    if zp is None or base is None or 1 - zp <= 0:
        return None
    return round((1 - base) / (1 - zp), 2)


def rates(report: Mapping[str, Any], phase: int | None) -> Sequence[float | None]:
    out: list[float | None] = []
    for run in RUNS:
        data = report["runs"].get(run)
        if data is None:
            out.append(None)
            continue
        stats = data["total"] if phase is None else data["phases"][phase]
        out.append(stats["success_rate"])
    return out
