"""Report math (pure): what each client saw, per phase and per second, and the write audit.

Client-perceived success (reliability-security §5): *good* is a 2xx whose body does not say
``success: false`` (a 202 for a queued write counts), within the latency SLO; client-caused
4xx are excluded from the denominator; everything else (5xx, 429, 401, timeouts, dropped
connections) is *bad*.

Write fates, judged against the fake's ledger after the drain:
  applied          acknowledged (2xx, or 202 queued) and in the ledger
  lost             acknowledged, not in the ledger, and zproxy does not know it as dead or queued
  dead             202'd, then dead-lettered by zproxy (visible to operators)
  pending          202'd and still queued when the drain timeout ran out
  refused          not acknowledged, not applied (the client knows it failed)
  applied_unacked  not acknowledged but applied (an ambiguous failure; the client was told so)
A marker in the ledger twice is a duplicate.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from zproxy.scenarios.traffic import MARKER_RE

CLIENT_ERRORS = frozenset({400, 404, 405, 413, 415, 422})
#: Every read through zproxy lands in exactly one (``error``: no usable ``Cache-Status``, i.e.
#: zproxy answered with an error or the client got no answer), so the columns add up to reads.
CACHE_RESULTS = ("hit", "stale", "stale_if_error", "revalidated", "miss", "bypass", "error")
#: 99.95% of an average month (365.25 / 12 days): 21.9 minutes of failure.
SLO_TARGET = 0.9995
BUDGET_MINUTES = round((1 - SLO_TARGET) * 365.25 / 12 * 24 * 60, 2)
FATES = ("applied", "lost", "dead", "pending", "refused", "applied_unacked")
Verdict = Literal["good", "bad", "excluded"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """One request as the client saw it. Times are seconds from the start of the traffic."""

    n: int
    t: float
    kind: str
    method: str
    status: int  # 0: no HTTP answer (timeout, dropped connection)
    latency_ms: float
    error: str | None = None
    cache_status: str | None = None
    business_failure: bool = False
    account: str | None = None
    marker: str | None = None
    write_id: str | None = None
    #: When the request actually left, and when its answer arrived.
    sent_at: float | None = None
    acked_at: float | None = None


def verdict(o: Outcome, slo_ms: float) -> Verdict:
    if o.status in CLIENT_ERRORS:
        return "excluded"
    if 200 <= o.status < 300 and not o.business_failure and o.latency_ms <= slo_ms:
        return "good"
    return "bad"


def acknowledged(o: Outcome) -> bool:
    return 200 <= o.status < 300 and not o.business_failure


def cache_result(value: str | None) -> str | None:
    """RFC 9211 ``Cache-Status`` from zproxy -> one of ``CACHE_RESULTS`` (None: no header)."""
    if not value:
        return None
    parts = [p.strip() for p in value.split(";")]
    if "hit" in parts:
        if "stale-if-error" in value:
            return "stale_if_error"
        return "stale" if "fwd=stale" in parts else "hit"
    if "fwd=miss" in parts:
        return "miss"
    if "fwd=bypass" in parts:
        return "bypass"
    if any(p.startswith("fwd=") for p in parts):
        return "revalidated"
    return "error"


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def ledger_markers(paths: Sequence[str]) -> list[str]:
    """The scenario markers in ledger order (paths without one are other traffic)."""
    out = []
    for path in paths:
        found = MARKER_RE.search(path)
        if found:
            out.append(found.group(1))
    return out


def write_fates(
    outcomes: Sequence[Outcome], ledger: Sequence[str], states: Mapping[str, str]
) -> dict[str, str]:
    """Marker -> fate for every write sent; ``states`` is zproxy's state per 202'd marker."""
    applied = Counter(ledger)
    fates = {}
    for o in outcomes:
        if o.marker is None:
            continue
        if applied[o.marker]:
            fates[o.marker] = "applied" if acknowledged(o) else "applied_unacked"
        elif not acknowledged(o):
            fates[o.marker] = "refused"
        elif states.get(o.marker) == "dead":
            fates[o.marker] = "dead"
        elif states.get(o.marker) in ("queued", "replaying"):
            fates[o.marker] = "pending"
        else:
            fates[o.marker] = "lost"
    return fates


def duplicates(ledger: Sequence[str]) -> list[str]:
    return sorted(m for m, n in Counter(ledger).items() if n > 1)


#: Writes zproxy never queues (``on_outage: reject`` and no order key in the shipped route
#: table): it promises them no order relative to queued writes, so a payment sent while an
#: account's earlier update waits in the queue may be applied first. Such pairs are counted
#: apart (``overtaking``), not as violations of ``per_account_order``.
UNORDERED_KINDS = frozenset({"payment", "payments_write", "payment_methods_write"})


def order_violations(
    outcomes: Sequence[Outcome], ledger: Sequence[str], *, unordered: bool = False
) -> list[list[str]]:
    """Pairs ``[earlier, later]`` of acknowledged writes to one account where ``earlier`` was
    acknowledged before ``later`` was sent, yet the ledger applied ``later`` first. Pairs with
    a write of ``UNORDERED_KINDS`` are left out, or (``unordered``) are the only ones kept."""
    first_pos: dict[str, int] = {}
    for pos, marker in enumerate(ledger):
        first_pos.setdefault(marker, pos)
    by_account: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        if o.marker and o.account and acknowledged(o) and o.marker in first_pos:
            by_account[o.account].append(o)
    bad = []
    for writes in by_account.values():
        for a in writes:
            for b in writes:
                sent = b.t if b.sent_at is None else b.sent_at
                acked_first = a.acked_at is not None and a.acked_at <= sent
                loose = a.kind in UNORDERED_KINDS or b.kind in UNORDERED_KINDS
                if loose != unordered:
                    continue
                if acked_first and first_pos[b.marker or ""] < first_pos[a.marker or ""]:
                    bad.append([a.marker or "", b.marker or ""])
    return sorted(bad)


def drain_seconds(samples: Sequence[tuple[float, float]], recovery_at: float) -> float | None:
    """Seconds from ``recovery_at`` until the queue depth is first seen at 0 (None: never)."""
    for t, depth in samples:
        if t >= recovery_at and depth == 0:
            return round(t - recovery_at, 3)
    return None


def group_stats(
    outcomes: Sequence[Outcome],
    fates: Mapping[str, str],
    slo_ms: float,
    duplicated: frozenset[str] = frozenset(),
    proxied: bool = True,
) -> dict[str, Any]:
    verdicts = Counter(verdict(o, slo_ms) for o in outcomes)
    valid = verdicts["good"] + verdicts["bad"]
    latencies = [o.latency_ms for o in outcomes]
    reads = [o for o in outcomes if o.marker is None]
    cache = Counter(cache_result(o.cache_status) or "error" for o in reads) if proxied else {}
    failed = Counter(_failure(o, slo_ms) for o in outcomes if verdict(o, slo_ms) == "bad")
    writes = [o for o in outcomes if o.marker]
    fate_counts = Counter(fates.get(o.marker or "", "refused") for o in writes)
    statuses = Counter(_status(o) for o in outcomes)
    return {
        "requests": len(outcomes),
        "reads": len(reads),
        "valid": valid,
        "good": verdicts["good"],
        "excluded": verdicts["excluded"],
        "success_rate": round(verdicts["good"] / valid, 4) if valid else None,
        "p50_ms": _round(percentile(latencies, 50)),
        "p99_ms": _round(percentile(latencies, 99)),
        "statuses": dict(sorted(statuses.items())),
        #: Bad answers by status (``slow-200``: a 2xx past the latency SLO; ``timeout``,
        #: ``connection``: no answer; ``200-failed``: a 2xx saying ``success: false``).
        "failures": dict(sorted(failed.items())),
        "cache": {k: cache[k] for k in CACHE_RESULTS if cache.get(k)},
        "writes": {
            "sent": len(writes),
            "accepted": sum(1 for o in writes if acknowledged(o)),
            "queued": sum(1 for o in writes if o.status == 202),
            **{fate: fate_counts[fate] for fate in FATES},
            "duplicates": sum(1 for o in writes if o.marker in duplicated),
        },
    }


def _failure(o: Outcome, slo_ms: float) -> str:
    """A bad answer's status; ``slow-200`` for a 2xx past the latency SLO."""
    if 200 <= o.status < 300 and not o.business_failure and o.latency_ms > slo_ms:
        return f"slow-{o.status}"
    return _status(o)


def _status(o: Outcome) -> str:
    if not o.status:
        return o.error or "error"
    if 200 <= o.status < 300 and o.business_failure:
        return f"{o.status}-failed"
    return str(o.status)


def error_budget(timeline: Sequence[Mapping[str, Any]], time_scale: float) -> dict[str, Any]:
    """Failed client-minutes, in real time: each played second weighs ``1 / time_scale`` real
    seconds, of which the share of valid requests that failed is burned (a minute in which
    every client failed burns one minute, as a full outage does)."""
    seconds = 0.0
    for bucket in timeline:
        if bucket["valid"]:
            seconds += (bucket["valid"] - bucket["good"]) / bucket["valid"] / time_scale
    minutes = round(seconds / 60, 2)
    return {
        "failed_client_minutes": minutes,
        "budget_minutes": BUDGET_MINUTES,
        "slo": SLO_TARGET,
        "budget_share": round(minutes / BUDGET_MINUTES, 4),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def timeline(outcomes: Sequence[Outcome], slo_ms: float, seconds: int) -> list[dict[str, Any]]:
    """Per whole second of the plan: requests, valid, good, the success rate and p99."""
    good: Counter[int] = Counter()
    valid: Counter[int] = Counter()
    total: Counter[int] = Counter()
    latency: dict[int, list[float]] = defaultdict(list)
    for o in outcomes:
        second = min(int(o.t), max(seconds - 1, 0))
        total[second] += 1
        latency[second].append(o.latency_ms)
        v = verdict(o, slo_ms)
        if v != "excluded":
            valid[second] += 1
            good[second] += v == "good"
    return [
        {
            "t": s,
            "requests": total[s],
            "valid": valid[s],
            "good": good[s],
            "success_rate": round(good[s] / valid[s], 4) if valid[s] else None,
            "p99_ms": _round(percentile(latency[s], 99)),
        }
        for s in range(seconds)
    ]
