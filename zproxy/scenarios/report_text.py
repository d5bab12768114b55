"""The terminal table: per phase, zproxy next to the baseline, then the audit and invariants."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from zproxy.scenarios.measure import CACHE_RESULTS
from zproxy.scenarios.report import improvement

RED, BOLD, RESET = "\x1b[31m", "\x1b[1m", "\x1b[0m"

HEAD = (
    "phase",
    "secs",
    "reqs",
    "zproxy ok",
    "direct ok",
    "zp p50/p99 ms",
    "direct p50/p99 ms",
    "cache hit/stale/sie/reval/miss/byp/err",
    "writes acc/q/app/dead/lost/dup",
)


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def _ms(p50: float | None, p99: float | None) -> str:
    def one(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f}"

    return f"{one(p50)}/{one(p99)}"


def _cache(c: Mapping[str, int]) -> str:
    return "/".join(str(c.get(k, 0)) for k in CACHE_RESULTS)


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


def _budget(zp: Mapping[str, Any], base: Mapping[str, Any]) -> str:
    a, b = zp["error_budget"], base["error_budget"]
    return (
        f"error budget ({a['slo'] * 100:g}% month = {a['budget_minutes']:g} min) burned: "
        f"with zproxy {a['failed_client_minutes']:g} failed client-min "
        f"({a['budget_share'] * 100:.1f}%), straight to Zuora {b['failed_client_minutes']:g} "
        f"({b['budget_share'] * 100:.1f}%)"
    )


def failure_lines(run: Mapping[str, Any], label: str) -> list[str]:
    """``failures with zproxy: get_account 503x4 timeout x1; ...`` (nothing when none)."""
    parts = []
    for kind, stats in run["by_kind"].items():
        if stats["failures"]:
            detail = " ".join(f"{s}x{n}" for s, n in stats["failures"].items())
            parts.append(f"{kind} {detail}")
    if not parts:
        return [f"failures {label}: none"]
    return [f"failures {label} (kind status x count): " + "; ".join(parts)]


def _meta(report: Mapping[str, Any], zp: Mapping[str, Any]) -> list[str]:
    meta = report.get("meta") or {}
    warm = zp.get("warmup") or {}
    warmed = (
        f"cache warmed first with {warm.get('reads')} reads (not measured)"
        if warm.get("enabled")
        else "no cache warm-up"
    )
    sc = report["scenario"]
    scale = sc.get("time_scale", 1)
    shown = ", ".join(f"{k}={v}" for k, v in _flat(meta.get("overrides") or {}))
    return [
        f"zproxy {meta.get('zproxy_version', '?')}, run {meta.get('date', '?')}; {warmed}; "
        f"time scale {scale:g} (1 s played = {1 / scale:g} s real)",
        f"settings over the shipped file (all in report.json): {shown or 'none'}"
        + (
            f"; patched routes: {', '.join(r['name'] for r in meta['patched_routes'])}"
            if meta.get("patched_routes")
            else ""
        ),
    ]


def _flat(doc: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in doc.items():
        if isinstance(value, Mapping):
            out += _flat(value, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", value))
    return out


def render_text(report: Mapping[str, Any], color: bool = False) -> str:
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
        *_meta(report, zp),
        "",
        f"time to drain after recovery: {'never (timeout)' if drain is None else f'{drain:g} s'}"
        f"; failures avoided: {'n/a' if factor is None else f'{factor:g}x fewer'}",
        _budget(zp, base),
        *failure_lines(zp, "with zproxy"),
        *failure_lines(base, "straight to Zuora"),
        f"write audit (zproxy): lost {len(audit['lost'])}, dead {len(audit['dead'])}, "
        f"pending {len(audit['pending'])}, duplicates {len(audit['duplicates'])}, "
        f"order violations {len(audit['order_violations'])}, "
        f"payments applied before a queued write {len(audit.get('overtaking', []))}; "
        f"baseline duplicates {len(base['audit']['duplicates'])}",
        "",
    ]
    for check in report["invariants"]:
        line = f"{'PASS' if check['ok'] else 'FAIL'}  {check['label']}: {check['detail']}"
        lines.append(line if check["ok"] or not color else f"{RED}{BOLD}{line}{RESET}")
    result = f"result: {'all invariants hold' if report['ok'] else 'INVARIANT VIOLATED'}"
    lines.append(result if report["ok"] or not color else f"{RED}{BOLD}{result}{RESET}")
    return "\n".join(lines)
