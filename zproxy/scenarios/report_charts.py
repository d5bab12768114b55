"""The charts of ``report.html``: inline SVG, one viewBox per chart, every data series inside a
nested viewport of the plot area so nothing is drawn past the axes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

W, H, PAD_L, PAD_R, PAD_T, PAD_B = 1080, 300, 56, 16, 28, 34
COLORS = {"zproxy": "#1f6feb", "baseline": "#d1242f"}
BREAKER_COLORS = {0: "#2da44e", 1: "#f0b429", 2: "#d1242f"}
BREAKER_NAMES = {0: "closed", 1: "half-open", 2: "open"}


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
