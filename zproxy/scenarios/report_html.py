"""``report.html``: one self-contained page (inline CSS and SVG; no scripts, fonts or URLs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

import orjson

from zproxy.scenarios.measure import CACHE_RESULTS
from zproxy.scenarios.report import improvement

W, H, PAD_L, PAD_R, PAD_T, PAD_B = 1080, 300, 56, 16, 28, 34
COLORS = {"zproxy": "#1f6feb", "baseline": "#d1242f"}
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
BREAKER_COLORS = {0: "#2da44e", 1: "#f0b429", 2: "#d1242f"}
BREAKER_NAMES = {0: "closed", 1: "half-open", 2: "open"}


def _pct(rate: float | None) -> str:
    return "&ndash;" if rate is None else f"{rate * 100:.1f}%"


def _num(value: float | None, unit: str = "") -> str:
    return "&ndash;" if value is None else f"{value:g}{unit}"


def _x(t: float, duration: float) -> float:
    return PAD_L + (W - PAD_L - PAD_R) * t / max(duration, 1e-9)


def _y(frac: float, height: int = H) -> float:
    return PAD_T + (height - PAD_T - PAD_B) * (1 - frac)


def _phase_bands(phases: Sequence[Mapping[str, Any]], duration: float, height: int) -> list[str]:
    out = []
    for p in phases:
        x0, x1 = _x(p["start"], duration), _x(p["start"] + p["duration"], duration)
        if p["faulted"]:
            out.append(
                f'<rect x="{x0:.1f}" y="{PAD_T}" width="{x1 - x0:.1f}" '
                f'height="{height - PAD_T - PAD_B}" fill="#f0b429" fill-opacity="0.18"/>'
            )
        out.append(
            f'<text x="{(x0 + x1) / 2:.1f}" y="{PAD_T - 10}" text-anchor="middle">'
            f"{escape(p['name'])}</text>"
        )
    return out


def _axes(duration: float, height: int, labels: Sequence[tuple[float, str]]) -> list[str]:
    out = [
        f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{_y(0, height)}" y2="{_y(0, height)}" '
        'stroke="#8c959f"/>'
    ]
    for frac, text in labels:
        y = _y(frac, height)
        out.append(
            f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eaeef2"/>'
        )
        out.append(f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end">{text}</text>')
    step = max(1, round(duration / 12))
    for t in range(0, int(duration) + 1, step):
        out.append(
            f'<text x="{_x(t, duration):.1f}" y="{height - PAD_B + 16}" '
            f'text-anchor="middle">{t}s</text>'
        )
    return out


def success_chart(report: Mapping[str, Any]) -> str:
    sc = report["scenario"]
    duration = float(sc["duration"])
    parts = _phase_bands(sc["phases"], duration, H)
    parts += _axes(duration, H, [(f, f"{int(f * 100)}%") for f in (0, 0.25, 0.5, 0.75, 1)])
    for run, color in COLORS.items():
        data = report["runs"].get(run)
        if not data:
            continue
        # A step line: each second's rate is flat across that second.
        points = " ".join(
            f"{_x(min(b['t'] + dx, duration), duration):.1f},{_y(b['success_rate']):.1f}"
            for b in data["timeline"]
            if b["success_rate"] is not None
            for dx in (0, 1)
        )
        count = sum(1 for b in data["timeline"] if b["success_rate"] is not None) * 2
        line = (
            f'<polyline data-series="success-{run}" data-points="{count}" points="{points}" '
            f'fill="none" stroke="{color}" stroke-width="2.5" stroke-linejoin="round"/>'
        )
        parts.append(_clipped(H, line))
    return _svg(H, "Client-perceived success rate per second", parts)


def p99_chart(report: Mapping[str, Any]) -> str:
    """p99 latency per second of both runs (a point at each second's middle)."""
    sc, height = report["scenario"], 220
    duration = float(sc["duration"])
    values = [
        b["p99_ms"]
        for run in COLORS
        for b in (report["runs"].get(run) or {}).get("timeline", [])
        if b.get("p99_ms") is not None
    ]
    top = max([1.0, *values])
    parts = _phase_bands(sc["phases"], duration, height)
    parts += _axes(
        duration, height, [(0, "0"), (0.5, f"{top / 2000:.3g} s"), (1, f"{top / 1000:.3g} s")]
    )
    for run, color in COLORS.items():
        data = report["runs"].get(run)
        if not data:
            continue
        pts = [
            f"{_x(b['t'] + 0.5, duration):.1f},{_y(b['p99_ms'] / top, height):.1f}"
            for b in data["timeline"]
            if b.get("p99_ms") is not None
        ]
        line = (
            f'<polyline data-series="p99-{run}" data-points="{len(pts)}" '
            f'points="{" ".join(pts)}" fill="none" stroke="{color}" stroke-width="2"/>'
        )
        parts.append(_clipped(height, line))
    return _svg(height, "p99 latency per second", parts)


def breaker_band(report: Mapping[str, Any]) -> str:
    """zproxy's worst breaker state over time, one coloured rect per sample interval."""
    sc, height = report["scenario"], 70
    samples = report["runs"]["zproxy"].get("breaker") or []
    end = max([float(sc["duration"])] + [t for t, _ in samples])
    parts = _phase_bands(sc["phases"], end, height)
    rects = []
    for index, (t, state) in enumerate(samples):
        t0 = max(t, 0.0)
        t1 = samples[index + 1][0] if index + 1 < len(samples) else end
        if t1 <= 0:
            continue
        x0, x1 = _x(t0, end), _x(min(t1, end), end)
        color = BREAKER_COLORS.get(int(state), "#8c959f")
        rects.append(
            f'<rect data-state="{BREAKER_NAMES.get(int(state), "?")}" x="{x0:.1f}" '
            f'y="{PAD_T}" width="{max(x1 - x0, 0.5):.1f}" height="{height - PAD_T - PAD_B}" '
            f'fill="{color}"/>'
        )
    group = f'<g data-series="breaker" data-points="{len(rects)}">' + "".join(rects) + "</g>"
    parts.append(_clipped(height, group))
    parts += _axes(end, height, [])
    return _svg(height, "zproxy breaker state (green closed, amber half-open, red open)", parts)


def depth_chart(report: Mapping[str, Any]) -> str:
    sc, height = report["scenario"], 180
    samples = report["runs"]["zproxy"]["queue_depth"]
    end = max([float(sc["duration"])] + [t for t, _ in samples])
    top = max([1.0] + [d for _, d in samples])
    parts = _phase_bands(sc["phases"], end, height)
    parts += _axes(end, height, [(0, "0"), (0.5, f"{top / 2:g}"), (1, f"{top:g}")])
    points = " ".join(f"{_x(t, end):.1f},{_y(d / top, height):.1f}" for t, d in samples)
    line = (
        f'<polyline data-series="queue-depth" data-points="{len(samples)}" points="{points}" '
        'fill="none" stroke="#8250df" stroke-width="2"/>'
    )
    parts.append(_clipped(height, line))
    return _svg(height, "zproxy write queue depth", parts)


def _clipped(height: int, inner: str) -> str:
    """``inner`` inside a nested viewport of the plot area (same coordinates): whatever runs
    past the axes is clipped (an inner ``<svg>`` clips to its viewport; no ``url()`` needed)."""
    w, h = W - PAD_L - PAD_R, height - PAD_T - PAD_B
    return (
        f'<svg class="plot" x="{PAD_L}" y="{PAD_T}" width="{w}" height="{h}" '
        f'viewBox="{PAD_L} {PAD_T} {w} {h}" overflow="hidden">{inner}</svg>'
    )


def _svg(height: int, title: str, parts: Sequence[str]) -> str:
    return (
        f'<svg class="chart" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {W} {height}" width="100%">' + "".join(parts) + "</svg>"
    )


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
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>zproxy scenario {escape(sc["name"])}</title>
<style>{CSS}</style></head><body>
<h1>Outage scenario: {escape(sc["name"])}</h1>
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
<h2>Invariants</h2>{_invariants(report)}
</body></html>
"""
