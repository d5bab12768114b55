"""report.html in a real browser: headless Chromium (Debian's ``chromium``) loads the page over
the DevTools protocol; the SVG DOM must hold every data point the report declares, each data
series must sit in a viewport clipped to its chart's axes, a violated invariant must be shown
in red, and the page must fetch nothing (no request but the file itself)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from zproxy.scenarios.measure import Outcome
from zproxy.scenarios.model import Invariant, PhaseSpec, Scenario, Traffic
from zproxy.scenarios.report import RunData, build_report
from zproxy.scenarios.report_html import render_html

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium not installed (Debian: apt-get install chromium; "
    "CI: add `chromium` to .ci/run's apt line)",
)

PROBE = """JSON.stringify({
  series: [...document.querySelectorAll('[data-series]')].map(e => ({
    name: e.dataset.series,
    declared: Number(e.dataset.points),
    drawn: e.tagName === 'polyline' ? e.points.numberOfItems : e.querySelectorAll('rect').length,
    clipped: !!e.closest('svg.plot') &&
      getComputedStyle(e.closest('svg.plot')).overflow === 'hidden',
    width: e.getBoundingClientRect().width,
  })),
  plots: [...document.querySelectorAll('svg.plot')].map(p => {
    const r = p.getBoundingClientRect(), c = p.closest('svg.chart').getBoundingClientRect();
    return {inside: r.left >= c.left && r.right <= c.right && r.top >= c.top &&
            r.bottom <= c.bottom, width: r.width};
  }),
  violated: [...document.querySelectorAll('li.violated')].map(
    li => getComputedStyle(li).borderLeftColor),
  resources: performance.getEntriesByType('resource').map(r => r.name),
})"""


def _scenario() -> Scenario:
    return Scenario(
        name="chromium",
        description="Three phases, time-compressed.",
        traffic=Traffic(rate=4, mix={"get_account": 1}),
        phases=(
            PhaseSpec("steady", 3),
            PhaseSpec("outage", 3, ({"mode": "down"},)),
            PhaseSpec("recovery", 2),
        ),
        invariants=(Invariant("no_lost_writes"), Invariant("min_success_rate", None, 1.0)),
        time_scale=0.01,
    )


def _runs() -> dict[str, RunData]:
    def outcomes(fail_from: float, fail_to: float) -> list[Outcome]:
        out = []
        for n in range(32):
            t = n / 4
            status = 503 if fail_from <= t < fail_to else 200
            out.append(Outcome(n, t, "get_account", "GET", status, 5.0 + n, cache_status=None))
        out.append(Outcome(99, 7.9, "update_account", "PUT", 202, 3.0, marker="w99"))
        return out

    zp = RunData(
        outcomes(3, 4),
        ledger=[],  # w99 acknowledged, never applied: no_lost_writes fails
        depth=[(t / 2, float(t % 3)) for t in range(20)],  # past the end: 9.5 s > 8 s
        breaker=[(0.0, 0.0), (3.2, 2.0), (5.5, 1.0), (6.1, 0.0)],
    )
    base = RunData(outcomes(3, 6), ledger=["w99"], through_proxy=False)
    return {"zproxy": zp, "baseline": base}


@contextlib.asynccontextmanager
async def _chromium(profile: Path) -> AsyncIterator[str]:
    """A headless Chromium with the DevTools protocol on a free loopback port; yields the
    browser's websocket URL; stopped (its own pid) on exit."""
    assert CHROMIUM is not None
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        f"--user-data-dir={profile}",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        async with asyncio.timeout(30):
            while True:
                line = (await proc.stderr.readline()).decode()
                assert line, "chromium exited before it listened"
                found = re.search(r"DevTools listening on (ws://\S+)", line)
                if found:
                    break
        yield found.group(1)
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                async with asyncio.timeout(10):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _load_and_probe(browser_ws: str, page: Path) -> tuple[dict[str, Any], list[str]]:
    base = "http://" + browser_ws.split("/")[2]
    async with aiohttp.ClientSession() as http:
        async with http.get(base + "/json/list") as resp:
            targets = await resp.json()
        ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        async with http.ws_connect(ws_url, max_msg_size=0) as ws:
            ids = iter(range(1, 10_000))
            requested: list[str] = []

            async def call(method: str, **params: Any) -> dict[str, Any]:
                n = next(ids)
                await ws.send_json({"id": n, "method": method, "params": params})
                async with asyncio.timeout(30):
                    while True:
                        msg = json.loads((await ws.receive()).data)
                        if msg.get("method") == "Network.requestWillBeSent":
                            requested.append(msg["params"]["request"]["url"])
                        if msg.get("id") == n:
                            return msg.get("result", {})  # type: ignore[no-any-return]

            await call("Network.enable")
            await call("Page.enable")
            await call("Page.navigate", url=page.as_uri())
            result: dict[str, Any] = {}
            for _ in range(100):  # until the document is complete
                state = await call("Runtime.evaluate", expression="document.readyState")
                if state["result"]["value"] == "complete":
                    result = await call("Runtime.evaluate", expression=PROBE)
                    break
                await asyncio.sleep(0.1)
    return json.loads(result["result"]["value"]), requested


async def test_report_charts_draw_their_data_in_chromium_offline(tmp_path: Path) -> None:
    report = build_report(_scenario(), _runs())
    assert report["ok"] is False
    page = tmp_path / "report.html"
    page.write_text(render_html(report), encoding="utf-8")

    async with _chromium(tmp_path / "profile") as browser:
        probe, requested = await _load_and_probe(browser, page)

    series = {s["name"]: s for s in probe["series"]}
    assert set(series) == {
        "success-zproxy",
        "success-baseline",
        "p99-zproxy",
        "p99-baseline",
        "queue-depth",
        "breaker",
    }
    # 8 seconds of timeline: a step line has 2 points per second, p99 one per second.
    assert series["success-zproxy"]["drawn"] == series["success-baseline"]["drawn"] == 16
    assert series["p99-zproxy"]["drawn"] == series["p99-baseline"]["drawn"] == 8
    assert series["queue-depth"]["drawn"] == 20
    assert series["breaker"]["drawn"] == 4
    for s in series.values():
        assert s["drawn"] == s["declared"], s
        assert s["clipped"], s
        assert s["width"] > 0, s
    assert probe["plots"]
    assert all(p["inside"] and p["width"] > 0 for p in probe["plots"])
    assert probe["violated"] == ["rgb(209, 36, 47)"] * 2
    assert probe["resources"] == []
    assert requested == [page.as_uri()]
