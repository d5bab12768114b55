"""What the chaos test concludes from its samples and the fake Zuora's ledger: the faults it
asserts (a 202 not applied exactly once, out of order, a queued payment, a 500) and the
figures it prints (requests, 202s, applied, duplicates, 500s, p99 per phase)."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from tests.e2e.chaos.traffic import Sample

_TAG = re.compile(r"[?&]c=([^&]+)")


def applied_tags(ledger: Iterable[Mapping[str, Any]]) -> list[str]:
    """The tag of every ledger entry that has one, in the order Zuora applied them."""
    out = []
    for entry in ledger:
        found = _TAG.search(str(entry["path"]))
        if found:
            out.append(found.group(1))
    return out


@dataclass(slots=True)
class Verdict:
    accepted: list[str] = field(default_factory=list)  # tags answered 202
    not_once: dict[str, int] = field(default_factory=dict)  # 202'd tag -> times applied (!= 1)
    duplicates: dict[str, int] = field(default_factory=dict)  # any tag applied more than once
    out_of_order: dict[str, list[int]] = field(default_factory=dict)  # writer -> applied n's
    refused_applied: list[str] = field(default_factory=list)  # "not queued" 503s applied
    queued_payments: list[str] = field(default_factory=list)
    errors_500: list[str] = field(default_factory=list)

    @property
    def faults(self) -> dict[str, Any]:
        """Everything that must be empty."""
        found = {
            "202 not applied exactly once": self.not_once,
            "applied more than once": self.duplicates,
            "out of per-account order": self.out_of_order,
            "answered 503 not queued, yet applied": self.refused_applied,
            "payments answered 202": self.queued_payments,
            "answered 500": self.errors_500,
        }
        return {k: v for k, v in found.items() if v}


def judge(samples: Sequence[Sample], ledger_tags: Sequence[str]) -> Verdict:
    verdict = Verdict()
    times = Counter(ledger_tags)
    verdict.accepted = [s.tag for s in samples if s.status == 202 and s.tag]
    verdict.not_once = {t: times[t] for t in verdict.accepted if times[t] != 1}
    verdict.duplicates = {t: n for t, n in times.items() if n > 1}
    verdict.refused_applied = [
        f"{s.tag} in {s.phase}: {s.code}"
        for s in samples
        if s.status == 503 and s.code.startswith("ZPROXY_") and s.tag and times[s.tag]
    ]
    verdict.queued_payments = [
        s.tag or "" for s in samples if s.kind == "payment" and s.status == 202
    ]
    verdict.errors_500 = [
        f"{s.kind} {s.tag or ''} in {s.phase}" for s in samples if s.status == 500
    ]
    by_writer: dict[str, list[int]] = defaultdict(list)
    for tag in ledger_tags:
        if not tag.startswith("pay."):
            writer, _, n = tag.rpartition(".")
            by_writer[writer].append(int(n))
    verdict.out_of_order = {
        w: ns for w, ns in by_writer.items() if any(a >= b for a, b in pairwise(ns))
    }
    return verdict


def p99(latencies: Sequence[float]) -> float:
    if not latencies:
        return 0.0
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def figures(samples: Sequence[Sample], ledger_tags: Sequence[str], verdict: Verdict) -> str:
    """The closing note's figures: totals, then one line per phase."""
    times = Counter(ledger_tags)
    lines = [
        f"requests {len(samples)}  202s {len(verdict.accepted)}  "
        f"applied {sum(1 for t in verdict.accepted if times[t] >= 1)}  "
        f"duplicates {sum(n - 1 for n in times.values() if n > 1)}  "
        f"500s {len(verdict.errors_500)}  no-answer {sum(1 for s in samples if s.status == 0)}",
        f"{'phase':<14}{'reqs':>6}{'202':>6}{'503':>6}{'none':>6}{'p99 all':>9}{'p99 read':>10}"
        f"{'p99 read 200':>14}  statuses",
    ]
    phases: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        phases[s.phase].append(s)
    for phase, group in phases.items():
        statuses = Counter(s.status for s in group)
        reads = [s.latency for s in group if s.kind == "read"]
        served = [s.latency for s in group if s.kind == "read" and s.status == 200]
        lines.append(
            f"{phase:<14}{len(group):>6}{statuses[202]:>6}{statuses[503]:>6}{statuses[0]:>6}"
            f"{p99([s.latency for s in group]):>8.2f}s{p99(reads):>9.2f}s{p99(served):>13.2f}s  "
            + " ".join(f"{k}:{v}" for k, v in sorted(statuses.items()))
        )
    errors = Counter(f"{s.phase}/{s.kind}/{s.status}/{s.code}" for s in samples if s.status >= 400)
    lines.append(
        "errors (phase/kind/status/code): "
        + ", ".join(f"{k} x{v}" for k, v in sorted(errors.items()))
    )
    return "\n".join(lines)
