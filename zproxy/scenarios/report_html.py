"""``report.html``: one self-contained page (inline CSS and SVG; no scripts, fonts or URLs)."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

import orjson

from zproxy.scenarios.measure import CACHE_RESULTS
from zproxy.scenarios.report import improvement
from zproxy.scenarios.report_charts import (
    COLORS,
    breaker_band,
    depth_chart,
    p99_chart,
    success_chart,
)

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;
margin:24px auto;max-width:1120px;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.muted{color:#59636e}.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.card{border:1px solid #d1d9e0;border-radius:8px;padding:10px 14px;min-width:150px}
.card b{display:block;font-size:22px}.ok{color:#1a7f37}.bad{color:#d1242f}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid #d1d9e0;padding:5px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f6f8fa}
tr.fault td:first-child{border-left:4px solid #f0b429}
.legend span{display:inline-block;margin-right:18px}
.sw{display:inline-block;width:14px;height:4px;vertical-align:middle;margin-right:6px}
svg text{font:12px system-ui,sans-serif;fill:#59636e}
li.violated{background:#ffebe9;border-left:4px solid #d1242f;padding:2px 6px;color:#82071e}
li.violated b{color:#d1242f}
pre{background:#f6f8fa;padding:8px;overflow:auto;font-size:12px}
"""


def _pct(rate: float | None) -> str:
    return "&ndash;" if rate is None else f"{rate * 100:.1f}%"


def _num(value: float | None, unit: str = "") -> str:
    return "&ndash;" if value is None else f"{value:g}{unit}"


def _phase_rows(report: Mapping[str, Any]) -> str:
    zp, base = report["runs"]["zproxy"], report["runs"]["baseline"]
    rows = []
    for a, b in [*zip(zp["phases"], base["phases"], strict=True), (zp["total"], base["total"])]:
        name = a.get("name", "all phases")
        c, w = a["cache"], a["writes"]
        cls = ' class="fault"' if a.get("faulted") else ""
        cells = [
            escape(name),
            str(a["requests"]),
            _pct(a["success_rate"]),
            _pct(b["success_rate"]),
            f"{_num(a['p50_ms'])} / {_num(a['p99_ms'])}",
            f"{_num(b['p50_ms'])} / {_num(b['p99_ms'])}",
            " / ".join(str(c.get(k, 0)) for k in CACHE_RESULTS),
            " / ".join(
                str(w[k]) for k in ("accepted", "queued", "applied", "dead", "lost", "duplicates")
            ),
        ]
        rows.append(f"<tr{cls}>" + "".join(f"<td>{x}</td>" for x in cells) + "</tr>")
    head = (
        "<tr><th>phase</th><th>requests</th><th>zproxy ok</th><th>direct ok</th>"
        "<th>zproxy p50 / p99 ms</th><th>direct p50 / p99 ms</th>"
        "<th>cache (reads) hit / stale / stale-if-error / revalidated / miss / bypass / error</th>"
        "<th>writes accepted / queued / applied / dead / lost / dup</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _cards(report: Mapping[str, Any]) -> str:
    zp, base = report["runs"]["zproxy"], report["runs"]["baseline"]
    factor = improvement(zp["total"]["success_rate"], base["total"]["success_rate"])
    audit = zp["audit"]
    lost = len(audit["lost"]) + len(audit["duplicates"]) + len(audit["order_violations"])
    cards = [
        ("with zproxy", _pct(zp["total"]["success_rate"]), ""),
        ("straight to Zuora", _pct(base["total"]["success_rate"]), ""),
        ("fewer failures", "n/a" if factor is None else f"{factor:g}&times;", ""),
        (
            "error budget burned, with zproxy",
            _burn(zp["error_budget"]),
            "ok" if zp["error_budget"]["budget_share"] < 1 else "bad",
        ),
        ("error budget burned, straight to Zuora", _burn(base["error_budget"]), ""),
        (
            "time to drain",
            _num(zp["drain_seconds"], " s") if zp["drain_seconds"] is not None else "never",
            "",
        ),
        (
            "lost / duplicate / out of order",
            f"{len(audit['lost'])} / {len(audit['duplicates'])} / {len(audit['order_violations'])}",
            "ok" if not lost else "bad",
        ),
    ]
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><span class="muted">{escape(t)}</span><b class="{c}">{v}</b></div>'
            for t, v, c in cards
        )
        + "</div>"
    )


def _burn(budget: Mapping[str, Any]) -> str:
    return f"{budget['failed_client_minutes']:g} min ({budget['budget_share'] * 100:.1f}%)"


def _failures(report: Mapping[str, Any]) -> str:
    rows = []
    for run, label in (("zproxy", "with zproxy"), ("baseline", "straight to Zuora")):
        for kind, stats in report["runs"][run]["by_kind"].items():
            for status, count in stats["failures"].items():
                rows.append(
                    f"<tr><td>{escape(label)}</td><td>{escape(kind)}</td>"
                    f"<td>{escape(status)}</td><td>{count}</td></tr>"
                )
    if not rows:
        return "<p>No request failed in either run.</p>"
    head = "<tr><th>run</th><th>kind</th><th>status</th><th>failed requests</th></tr>"
    return f'<table class="failures">{head}{"".join(rows)}</table>'


def _meta(report: Mapping[str, Any]) -> str:
    meta = report.get("meta") or {}
    sc = report["scenario"]
    warm = report["runs"]["zproxy"].get("warmup") or {}
    warmed = (
        f"Before the timeline the cache was warmed with {warm.get('reads')} reads "
        "(one per distinct read and credential; not measured)."
        if warm.get("enabled")
        else "No cache warm-up: the run starts cold."
    )
    scale = float(sc.get("time_scale", 1))
    settings = orjson.dumps(
        {"settings": meta.get("settings"), "patched_routes": meta.get("patched_routes")},
        option=orjson.OPT_INDENT_2,
    ).decode()
    return (
        f'<p class="muted">zproxy {escape(str(meta.get("zproxy_version", "?")))}, run '
        f"{escape(str(meta.get('date', '?')))}. Time scale {scale:g}: one played second "
        f"stands for {1 / scale:g} s of the incident; the error budget counts real time. "
        f"{warmed}</p>"
        f"<details><summary>Effective zproxy settings</summary><pre>{escape(settings)}</pre>"
        "</details>"
    )


def _invariants(report: Mapping[str, Any]) -> str:
    items = "".join(
        f'<li class="{"passed" if c["ok"] else "violated"}">'
        f'<b class="{"ok" if c["ok"] else "bad"}">{"PASS" if c["ok"] else "FAIL"}</b> '
        f"{escape(c['label'])}: {escape(c['detail'])}</li>"
        for c in report["invariants"]
    )
    return f"<ul>{items or '<li>none declared</li>'}</ul>"


def render_html(report: Mapping[str, Any]) -> str:
    return page(f"zproxy scenario {report['scenario']['name']}", body(report))


def page(title: str, content: str) -> str:
    """A self-contained page around ``content`` (the CSS inline)."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>{CSS}</style></head><body>
{content}
</body></html>
"""


def body(report: Mapping[str, Any]) -> str:
    """One run's report, without the page around it."""
    sc = report["scenario"]
    t = sc["traffic"]
    verdict = (
        '<b class="ok">all invariants hold</b>'
        if report["ok"]
        else '<b class="bad">invariant violated</b>'
    )
    legend = "".join(
        f'<span><i class="sw" style="background:{c}"></i>{escape(n)}</span>'
        for n, c in (
            ("with zproxy", COLORS["zproxy"]),
            ("straight to Zuora", COLORS["baseline"]),
            ("fault phase", "#f0b42966"),
        )
    )
    return f"""<h1>Outage scenario: {escape(sc["name"])}</h1>
<p class="muted">{escape(sc["description"])}</p>
<p>{t["rate"]:g} req/s for {sc["duration"]:g} s, {t["accounts"]} accounts, {t["credentials"]}
credentials, seed {sc["seed"]}. Success = 2xx (or 202 for a queued write) within
{t["slo_ms"]:g} ms over all requests except client-caused 4xx. Error budget: failed
client-minutes against a 99.95% month (21.9 min). Result: {verdict}.</p>
{_meta(report)}
{_cards(report)}
<h2>Success rate per second</h2><div class="legend">{legend}</div>
{success_chart(report)}
<h2>Breaker state (zproxy)</h2>{breaker_band(report)}
<h2>p99 latency per second</h2>{p99_chart(report)}
<h2>Write queue</h2>{depth_chart(report)}
<h2>Per phase</h2>{_phase_rows(report)}
<h2>Failures by kind and status</h2>{_failures(report)}
<h2>Invariants</h2>{_invariants(report)}{_journeys(report)}"""


def _journeys(report: Mapping[str, Any]) -> str:
    """Each customer journey's error ratio through zproxy (nothing when not measured)."""
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td>{j['requests']}</td><td>{j['failed']}</td>"
        f"<td>{_pct(j['error_ratio'])}</td></tr>"
        for name, j in (report["runs"]["zproxy"].get("journeys") or {}).items()
    )
    if not rows:
        return ""
    head = "<tr><th>journey</th><th>requests</th><th>failed</th><th>error ratio</th></tr>"
    return f"\n<h2>Customer journeys (zproxy)</h2><table>{head}{rows}</table>"
