"""Operator signals over real HTTP (issue 13 item 3): an upstream that does not resolve or
refuses gives an ``upstream_error`` warning naming its cause and
``zproxy_upstream_errors_total{cause}``; Zuora going down opens the breaker with a
``breaker_opened`` warning naming the reason and the counts; every answer is one sample of
``zproxy_request_duration_seconds``; write and cache results start at 0 per configured route."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import aiohttp

from tests.support import eventually, launch, zproxy_stack
from tests.support.fake import accounts, set_fault
from tests.support.http import breakers, caller, request
from tests.support.metrics import metrics
from zproxy.testing.proxy_process import ZproxyProcess

FAIL_MAX = 3
BREAKER = {
    "breakers": {"defaults": {"fail_max": FAIL_MAX, "reset_timeout": 30, "min_volume": 1000}}
}
AUTH = {"Authorization": "Bearer some-token"}


def _events(proc: ZproxyProcess, name: str) -> list[dict[str, Any]]:
    found = []
    for line in proc.logs().splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            if event.get("event") == name:
                found.append(event)
    return found


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _per_route(sample: dict[str, float], prefix: str, route: str) -> float:
    return sum(v for k, v in sample.items() if k.startswith(prefix) and f'route="{route}"' in k)


async def _counted(http: aiohttp.ClientSession, proc: ZproxyProcess, n: int) -> dict[str, float]:
    """The metrics once ``n`` answers on ``account`` are counted (the request log counts an
    answer once it went out, so a scrape right after it may come first)."""
    sample: dict[str, float] = {}

    async def done() -> bool:
        nonlocal sample
        sample = await metrics(http, proc)
        return _per_route(sample, "zproxy_requests_total", "account") >= n

    assert await eventually(done, timeout=5)
    assert _per_route(sample, "zproxy_requests_total", "account") == n
    return sample


async def _failing_upstream(tmp_path: Path, redis_url: str, upstream: str, cause: str) -> None:
    proc = launch(tmp_path, upstream, redis_url)
    try:
        await proc.astart()
        async with aiohttp.ClientSession() as http:
            reply = await request(http, "GET", proc.url + "/v1/accounts/A00000001", headers=AUTH)
            assert reply.status in (502, 503, 504), reply.text
            assert "Traceback" not in reply.text

            async def logged() -> bool:
                return bool(_events(proc, "upstream_error"))

            assert await eventually(logged, timeout=5)
            line = _events(proc, "upstream_error")[0]
            assert line["level"] == "warning"
            assert (line["cause"], line["route"], line["method"]) == (cause, "account", "GET")
            assert "some-token" not in proc.logs()
            m = await _counted(http, proc, 1)
            errors = m[f'zproxy_upstream_errors_total{{cause="{cause}",route="account"}}']
            assert errors == len(_events(proc, "upstream_error")) >= 1
            assert not any(
                k.startswith("zproxy_upstream_errors_total") and f'cause="{cause}"' not in k
                for k in m
            )
            assert m['zproxy_request_duration_seconds_count{route="account"}'] == 1
    finally:
        proc.kill()


async def test_an_upstream_that_does_not_resolve_is_dns(tmp_path: Path, redis_url: str) -> None:
    await _failing_upstream(tmp_path, redis_url, "http://nonexistent.invalid", "dns")


async def test_a_closed_upstream_port_is_refused(tmp_path: Path, redis_url: str) -> None:
    await _failing_upstream(tmp_path, redis_url, f"http://127.0.0.1:{_closed_port()}", "refused")


async def test_zuora_down_opens_the_breaker_with_a_warning(tmp_path: Path, redis_url: str) -> None:
    async with (
        zproxy_stack(tmp_path, redis_url, overrides=BREAKER) as (fz, [zp]),
        aiohttp.ClientSession() as http,
    ):
        m = await metrics(http, zp)
        # counted from the start: every result of a queueable route, of a cached route
        for result in ("queued", "applied", "retried", "dead"):
            assert m[f'zproxy_writes_total{{result="{result}",route="orders_create"}}'] == 0
        for result in ("hit", "miss", "stale", "stale_if_error", "bypass", "revalidated"):
            assert m[f'zproxy_cache_total{{result="{result}",route="account"}}'] == 0
        assert not any(k.startswith('zproxy_writes_total{result="dead",route="account"') for k in m)

        c = await caller(http, fz, zp)
        base = f"/v1/accounts/{accounts(fz)[0]}"
        assert (await c.get(base)).status == 200
        set_fault(fz, {"mode": "down"})
        sent = 2  # the 200 above and the refusal below
        for i in range(20):
            sent += 1
            assert (await c.get(f"{base}?n={i}")).status == 503
            if (await breakers(http, zp))["reads"]["state"] == "open":
                break
        assert (await c.get(f"{base}?open=1")).status == 503  # refused by the open breaker

        [opened] = _events(zp, "breaker_opened")
        assert opened["level"] == "warning"
        assert (opened["group"], opened["from_state"], opened["to_state"]) == (
            "reads",
            "closed",
            "open",
        )
        assert opened["reason"] == "consecutive_failures"
        assert opened["consecutive_failures"] == opened["failure_threshold"] == FAIL_MAX
        m = await _counted(http, zp, sent)
        assert m['zproxy_breaker_transitions_total{to="open"}'] == 1
        assert m['zproxy_request_duration_seconds_count{route="account"}'] == sent
        # Zuora answered 503: an answer, not an upstream error
        assert not any(k.startswith("zproxy_upstream_errors_total{") for k in m)
