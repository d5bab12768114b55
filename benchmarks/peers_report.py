"""The figures ``benchmarks.peers`` collects and the Markdown table it writes."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from benchmarks.wrk import WrkResult

FLOOR = "aiohttp floor"
NAIVE = "naive proxy"


@dataclass
class Row:
    name: str
    runs: list[WrkResult] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return statistics.median(r.rps for r in self.runs)

    @property
    def p50(self) -> float:
        return statistics.median(r.p50_ms for r in self.runs)

    @property
    def p99(self) -> float:
        return statistics.median(r.p99_ms for r in self.runs)

    @property
    def failures(self) -> int:
        return sum(r.errors + r.non2xx for r in self.runs)


@dataclass
class Figures:
    mean_body: float = 0.0
    redis_per_entry: float = 0.0
    naive_per_entry: float = 0.0
    rss_mb: list[float] = field(default_factory=list)
    rss2_mb: list[float] = field(default_factory=list)
    miss_direct_p50: float = 0.0
    miss_proxy_p50: float = 0.0
    outage_origin_per_request: float = 0.0
    outage_client_requests: int = 0
    half_rate_rps: float = 0.0
    half_rate_p99: float = 0.0


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "-"


def render(rows: list[Row], fig: Figures, header: str) -> str:
    by_name = {r.name: r for r in rows}
    floor = by_name[FLOOR].rps if FLOOR in by_name else 0.0
    naive = by_name[NAIVE].rps if NAIVE in by_name else 0.0
    lines = [
        "# Cache hits beside peers (`python -m benchmarks.peers`)",
        "",
        header,
        "",
        "| server | hits req/s (median) | runs | p50 ms | p99 ms | vs aiohttp floor "
        "| vs naive proxy | failed |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        runs = " / ".join(f"{r.rps:.0f}" for r in row.runs)
        lines.append(
            f"| {row.name} | {row.rps:,.0f} | {runs} | {row.p50:.2f} | {row.p99:.2f} "
            f"| {_ratio(row.rps, floor)} | {_ratio(row.rps, naive)} | {row.failures} |"
        )
    one = by_name.get("zproxy, 1 worker")
    two = by_name.get("zproxy, --workers 2")
    stale = by_name.get("zproxy, stale + Zuora 5 s")
    lines += ["", "| figure | value | target |", "|---|---:|---:|"]
    if one and two:
        lines.append(f"| hits, --workers 2 vs 1 worker | {_ratio(two.rps, one.rps)}x | >= 1.6x |")
    if fig.half_rate_rps:
        lines.append(
            f"| hits p99 at about half the 1-worker maximum ({fig.half_rate_rps:,.0f} req/s) "
            f"| {fig.half_rate_p99:.2f} ms | <= 5 ms |"
        )
    overhead = fig.miss_proxy_p50 - fig.miss_direct_p50
    lines += [
        f"| miss p50 over Zuora direct (50 ms) | {overhead:+.2f} ms "
        f"({fig.miss_proxy_p50:.2f} vs {fig.miss_direct_p50:.2f}) | <= 1 ms |",
        "| peak RSS per worker (1 worker; --workers 2) | "
        + ", ".join(f"{m:.0f}" for m in fig.rss_mb)
        + " MB; "
        + ", ".join(f"{m:.0f}" for m in fig.rss2_mb)
        + " MB | <= 150 MB |",
        f"| Redis memory per entry (zproxy) | {fig.redis_per_entry:,.0f} B = "
        f"{_ratio(fig.redis_per_entry, fig.mean_body)}x the {fig.mean_body:,.0f} B body "
        "| <= 0.4x |",
        f"| Redis memory per entry (naive: raw body) | {fig.naive_per_entry:,.0f} B = "
        f"{_ratio(fig.naive_per_entry, fig.mean_body)}x | - |",
        f"| Zuora 503, cold keys: origin requests per client request | "
        f"{fig.outage_origin_per_request:.4f} ({fig.outage_client_requests:,} requests) "
        "| <= 0.01 |",
    ]
    if stale and one:
        lines.append(
            f"| stale entries, Zuora 5 s: hits req/s, p99 | {stale.rps:,.0f} "
            f"({_ratio(stale.rps, one.rps)}x of fresh), p99 {stale.p99:.2f} ms | >= 0.8x |"
        )
    return "\n".join(lines) + "\n"
