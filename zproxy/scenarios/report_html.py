"""``report.html``: one self-contained page (inline CSS and SVG; no scripts, fonts or URLs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

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
"""


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
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{color}" '
            'stroke-width="2.5" stroke-linejoin="round"/>'
        )
    title = "Client-perceived success rate per second"
    return _svg(H, title, parts)


def depth_chart(report: Mapping[str, Any]) -> str:
    sc, height = report["scenario"], 180
    samples = report["runs"]["zproxy"]["queue_depth"]
    end = max([float(sc["duration"])] + [t for t, _ in samples])
    top = max([1.0] + [d for _, d in samples])
    parts = _phase_bands(sc["phases"], end, height)
    parts += _axes(end, height, [(0, "0"), (0.5, f"{top / 2:g}"), (1, f"{top:g}")])
    points = " ".join(f"{_x(t, end):.1f},{_y(d / top, height):.1f}" for t, d in samples)
    parts.append(f'<polyline points="{points}" fill="none" stroke="#8250df" stroke-width="2"/>')
    return _svg(height, "zproxy write queue depth", parts)


def _svg(height: int, title: str, parts: Sequence[str]) -> str:
    return (
        f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {W} {height}" '
        f'width="100%">' + "".join(parts) + "</svg>"
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
            " / ".join(
                str(c.get(k, 0)) for k in ("hit", "stale", "stale_if_error", "miss", "bypass")
            ),
            " / ".join(str(w[k]) for k in ("accepted", "queued", "applied", "dead", "lost")),
        ]
        rows.append(f"<tr{cls}>" + "".join(f"<td>{x}</td>" for x in cells) + "</tr>")
    head = (
        "<tr><th>phase</th><th>requests</th><th>zproxy ok</th><th>direct ok</th>"
        "<th>zproxy p50 / p99 ms</th><th>direct p50 / p99 ms</th>"
        "<th>cache hit / stale / stale-if-error / miss / bypass</th>"
        "<th>writes accepted / queued / applied / dead / lost</th></tr>"
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
        ("fewer failures", "&ndash;" if factor is None else f"{factor:g}&times;", ""),
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


def _invariants(report: Mapping[str, Any]) -> str:
    items = "".join(
        f'<li><b class="{"ok" if c["ok"] else "bad"}">{"PASS" if c["ok"] else "FAIL"}</b> '
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
{t["slo_ms"]:g} ms over all requests except client-caused 4xx. Result: {verdict}.</p>
{_cards(report)}
<h2>Success rate per second</h2><div class="legend">{legend}</div>
{success_chart(report)}
<h2>Write queue</h2>{depth_chart(report)}
<h2>Per phase</h2>{_phase_rows(report)}
<h2>Invariants</h2>{_invariants(report)}
</body></html>
"""
