"""Zuora down, hanging or dropping connections: warm keys are served stale-if-error inside the
window, cold keys and expired windows get a truthful 503 + Retry-After; after ``fresh`` a read
is served stale while exactly one background refresh goes upstream."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support import eventually, zproxy_stack
from tests.support.fake import accounts, path_count, set_fault
from tests.support.http import ADMIN, Reply, caller, request
from tests.support.metrics import cache_counts

#: Short upstream timeouts so a hanging Zuora costs well under a second per request.
QUICK: dict[str, Any] = {
    "upstream": {"connect_timeout": 0.5, "read_timeout": 0.4, "total_timeout": 0.6},
    "retry": {"deadline": 0.3, "max_attempts": 2, "base_delay": 0.01, "max_delay": 0.02},
}
FRESH, SIE = 1.0, 2.0


def _windows(*, swr: float, sie: float) -> dict[str, float]:
    return {"fresh": FRESH, "stale_while_revalidate": swr, "stale_if_error": sie}


async def _until_age(stored: float, age: float) -> None:
    """Sleep until ``age`` seconds have passed since ``stored`` (time.time based)."""
    await asyncio.sleep(max(0.0, stored + age - time.time()))


def _assert_unavailable(reply: Reply) -> None:
    assert reply.status == 503, (reply.status, reply.body)
    assert reply.headers["Retry-After"].isdigit()
    assert int(reply.headers["Retry-After"]) >= 1
    assert "Age" not in reply.headers
    doc = reply.json()
    assert doc["success"] is False
    assert doc["reasons"]
    assert isinstance(doc["reasons"][0]["code"], str | int)


@pytest.mark.parametrize("mode", ["down", "timeout", "reset"])
async def test_outage_serves_warm_keys_stale_if_error_then_503(
    tmp_path: Path, redis_url: str, mode: str
) -> None:
    routes = {"account": {"read": _windows(swr=0, sie=SIE)}}
    async with (
        zproxy_stack(tmp_path, redis_url, overrides=QUICK, route_overrides=routes) as (fz, [zp]),
        aiohttp.ClientSession() as http,
    ):
        warm, cold = (f"/v1/accounts/{a}" for a in accounts(fz)[:2])
        alice = await caller(http, fz, zp)
        stored = time.time()
        assert (await alice.get(warm)).cache == "zproxy; fwd=miss; stored"
        good = await alice.get(warm)
        assert good.cache.startswith("zproxy; hit; ttl=")

        await _until_age(stored, FRESH + 0.2)  # stale now: a read must go upstream
        set_fault(fz, {"mode": mode, "scope": "reads"})
        stale = await alice.get(warm)
        assert stale.status == 200, stale.body
        assert stale.cache == "zproxy; hit; detail=stale-if-error"
        assert int(stale.headers["Age"]) >= 1
        assert stale.body == good.body
        _assert_unavailable(await alice.get(cold))

        await _until_age(stored, FRESH + SIE + 0.3)  # past the stale-if-error window
        _assert_unavailable(await alice.get(warm))
        counts = await cache_counts(http, zp)
        # one result per request: cold warm-up, hit, stale-if-error, cold 503, expired 503
        assert {k[1]: v for k, v in counts.items() if k[0] == "account"} == {
            "miss": 3,
            "hit": 1,
            "stale_if_error": 1,
        }
        assert fz.fake.stats.faults, "the fault never reached the fake"


async def test_stale_while_revalidate_serves_stale_and_refreshes_once(
    tmp_path: Path, redis_url: str
) -> None:
    routes = {"account": {"read": _windows(swr=30, sie=0)}}
    async with (
        zproxy_stack(tmp_path, redis_url, route_overrides=routes) as (fz, [zp]),
        aiohttp.ClientSession() as http,
    ):
        path = f"/v1/accounts/{accounts(fz)[0]}"
        alice = await caller(http, fz, zp)
        stored = time.time()
        first = await alice.get(path)
        assert first.cache == "zproxy; fwd=miss; stored"
        assert path_count(fz, path) == 1
        await _until_age(stored, FRESH + 0.2)

        # Slow the refresh down so every stale read below lands while it is in flight.
        set_fault(fz, {"mode": "slow", "latency_ms": 300, "scope": "reads"})
        replies = await asyncio.gather(*(alice.get(path) for _ in range(10)))
        for reply in replies:
            assert reply.status == 200
            assert reply.cache == "zproxy; hit; fwd=stale; detail=revalidating"
            assert int(reply.headers["Age"]) >= 1
            assert reply.body == first.body

        async def refreshed() -> bool:
            return (await cache_counts(http, zp)).get(("account", "revalidated"), 0) >= 1

        assert await eventually(refreshed, timeout=10)
        assert path_count(fz, path) == 2  # exactly one background refresh
        after = await alice.get(path)
        assert after.cache.startswith("zproxy; hit; ttl="), after.cache
        assert path_count(fz, path) == 2
        counts = await cache_counts(http, zp)
        assert {k[1]: v for k, v in counts.items() if k[0] == "account"} == {
            "miss": 1,
            "stale": 10,
            "revalidated": 1,  # the background refresh, on top of the requests' results
            "hit": 1,
        }


async def test_breaker_forced_open_serves_warm_keys_without_calling_zuora(
    tmp_path: Path, redis_url: str
) -> None:
    """Planned maintenance (``force_open``): fresh entries hit, stale ones are served
    stale-if-error, cold keys get 503 + Retry-After, and nothing reaches Zuora."""
    routes = {"account": {"read": _windows(swr=0, sie=SIE)}}
    async with (
        zproxy_stack(tmp_path, redis_url, route_overrides=routes) as (fz, [zp]),
        aiohttp.ClientSession() as http,
    ):
        fresh, stale, cold = (f"/v1/accounts/{a}" for a in accounts(fz)[:3])
        alice = await caller(http, fz, zp)
        stored = time.time()
        await alice.get(stale)
        await _until_age(stored, FRESH + 0.2)
        await alice.get(fresh)
        breaker = zp.admin_url + "/admin/breaker"
        forced = await request(http, "POST", breaker, json={"mode": "force_open"}, headers=ADMIN)
        assert forced.status == 200, forced.body
        before = fz.fake.stats.to_json()["total"]

        assert (await alice.get(fresh)).cache.startswith("zproxy; hit; ttl=")
        sie = await alice.get(stale)
        assert sie.status == 200
        assert sie.cache == "zproxy; hit; detail=stale-if-error"
        assert int(sie.headers["Age"]) >= 1
        unavailable = await alice.get(cold)
        _assert_unavailable(unavailable)
        assert unavailable.json()["reasons"][0]["code"] == "ZPROXY_UPSTREAM_UNAVAILABLE"
        assert fz.fake.stats.to_json()["total"] == before
