"""The terminal table: per phase, zproxy next to the baseline, then the audit and invariants."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from zproxy.scenarios.report import improvement

HEAD = (
    "phase",
    "secs",
    "reqs",
    "zproxy ok",
    "direct ok",
    "zp p50/p99 ms",
    "direct p50/p99 ms",
    "cache hit/stale/sie/miss/byp",
    "writes acc/q/app/dead/lost/dup",
)


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def _ms(p50: float | None, p99: float | None) -> str:
    def one(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f}"

    return f"{one(p50)}/{one(p99)}"


def _cache(c: Mapping[str, int]) -> str:
    keys = ("hit", "stale", "stale_if_error", "miss", "bypass")
    return "/".join(str(c.get(k, 0)) for k in keys)


def _writes(w: Mapping[str, int]) -> str:
    keys = ("accepted", "queued", "applied", "dead", "lost", "duplicates")
    return "/".join(str(w[k]) for k in keys)


def _row(name: str, secs: str, zp: Mapping[str, Any], base: Mapping[str, Any]) -> list[str]:
    return [
        name,
        secs,
        str(zp["requests"]),
        _pct(zp["success_rate"]),
        _pct(base["success_rate"]),
        _ms(zp["p50_ms"], zp["p99_ms"]),
        _ms(base["p50_ms"], base["p99_ms"]),
        _cache(zp["cache"]),
        _writes(zp["writes"]),
    ]


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def _first_sentence(text: str) -> str:
    line = " ".join(text.split())
    return line.split(": ", 1)[0].split(". ", 1)[0].rstrip(".")


def render_text(report: Mapping[str, Any]) -> str:
    sc, zp, base = report["scenario"], report["runs"]["zproxy"], report["runs"]["baseline"]
    rows: list[list[str]] = [list(HEAD)]
    for spec, a, b in zip(sc["phases"], zp["phases"], base["phases"], strict=True):
        label = spec["name"] + (" *" if spec["faulted"] else "")
        rows.append(_row(label, f"{spec['duration']:g}", a, b))
    rows.append(_row("all", f"{sc['duration']:g}", zp["total"], base["total"]))
    drain = zp["drain_seconds"]
    audit = zp["audit"]
    factor = improvement(zp["total"]["success_rate"], base["total"]["success_rate"])
    lines = [
        f"scenario {sc['name']}: {_first_sentence(sc['description'])}",
        f"traffic {sc['traffic']['rate']:g} req/s, {sc['traffic']['accounts']} accounts, "
        f"{sc['traffic']['credentials']} credentials; * = fault phase; ok = good/valid "
        f"(2xx or 202 queued, within {sc['traffic']['slo_ms']:g} ms)",
        "",
        *_table(rows),
        "",
        f"time to drain after recovery: {'never (timeout)' if drain is None else f'{drain:g} s'}"
        f"; failures avoided: {'n/a' if factor is None else f'{factor:g}x fewer'}",
        f"write audit (zproxy): lost {len(audit['lost'])}, dead {len(audit['dead'])}, "
        f"pending {len(audit['pending'])}, duplicates {len(audit['duplicates'])}, "
        f"order violations {len(audit['order_violations'])}; "
        f"baseline duplicates {len(base['audit']['duplicates'])}",
        "",
    ]
    for check in report["invariants"]:
        lines.append(f"{'PASS' if check['ok'] else 'FAIL'}  {check['label']}: {check['detail']}")
    lines.append(f"result: {'all invariants hold' if report['ok'] else 'INVARIANT VIOLATED'}")
    return "\n".join(lines)
