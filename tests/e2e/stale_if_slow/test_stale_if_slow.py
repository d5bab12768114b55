"""Zuora hangs or is slow after an entry was stored and went stale: the read is answered with
the stale entry (``detail=stale-if-slow``) instead of waiting; the fetch finishes in the
background, stores what Zuora answers, and its failures still open the breaker."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.support import eventually, zproxy_stack
from tests.support.fake import accounts, set_fault
from tests.support.http import Caller, Reply, breakers, caller

SLOW_AFTER = 0.3
FRESH = 1.0
#: Upstream timeouts well above SLOW_AFTER, so only stale-if-slow can answer early; one attempt
#: per read and a breaker that opens after two failures.
OVERRIDES: dict[str, Any] = {
    "cache": {"stale_if_slow": SLOW_AFTER},
    "upstream": {"connect_timeout": 1, "read_timeout": 2, "total_timeout": 2.5},
    "retry": {"max_attempts": 1},
    "breakers": {"defaults": {"fail_max": 2, "min_volume": 1000, "reset_timeout": 60}},
}
ROUTES = {"account": {"read": {"fresh": FRESH, "stale_while_revalidate": 0, "stale_if_error": 120}}}
SLOW_DETAIL = "zproxy; hit; fwd=stale; detail=stale-if-slow"


async def _stored_then_stale(alice: Caller, path: str) -> Reply:
    stored = time.time()
    first = await alice.get(path)
    assert first.cache == "zproxy; fwd=miss; stored", first.cache
    await asyncio.sleep(max(0.0, stored + FRESH + 0.2 - time.time()))
    return first


async def test_a_hanging_zuora_is_answered_stale_and_still_opens_the_breaker(
    tmp_path: Path, redis_url: str
) -> None:
    async with (
        zproxy_stack(tmp_path, redis_url, overrides=OVERRIDES, route_overrides=ROUTES) as (
            fz,
            [zp],
        ),
        aiohttp.ClientSession() as http,
    ):
        path = f"/v1/accounts/{accounts(fz)[0]}"
        alice = await caller(http, fz, zp)
        first = await _stored_then_stale(alice, path)
        set_fault(fz, {"mode": "timeout", "scope": "reads"})

        stale = await alice.get(path)
        assert stale.status == 200, stale.body
        assert stale.cache == SLOW_DETAIL
        assert stale.body == first.body
        assert int(stale.headers["Age"]) >= 1

        async def opened() -> bool:
            # Every read meanwhile is answered from the stale entry, never an error.
            reply = await alice.get(path)
            assert reply.status == 200, reply.body
            assert reply.cache in (SLOW_DETAIL, "zproxy; hit; detail=stale-if-error")
            return bool((await breakers(http, zp))["reads"]["state"] == "open")

        await eventually(opened, timeout=30.0, every=0.2, what="the read breaker opened")
        after = await alice.get(path)
        assert after.cache == "zproxy; hit; detail=stale-if-error"
        assert after.body == first.body


async def test_the_background_fetch_stores_what_a_slow_zuora_answers(
    tmp_path: Path, redis_url: str
) -> None:
    async with (
        zproxy_stack(tmp_path, redis_url, overrides=OVERRIDES, route_overrides=ROUTES) as (
            fz,
            [zp],
        ),
        aiohttp.ClientSession() as http,
    ):
        path = f"/v1/accounts/{accounts(fz)[0]}"
        alice = await caller(http, fz, zp)
        first = await _stored_then_stale(alice, path)
        set_fault(fz, {"mode": "slow", "scope": "reads", "latency_ms": 1200})

        stale = await alice.get(path)
        assert stale.cache == SLOW_DETAIL
        assert stale.body == first.body

        async def stored_again() -> bool:
            return (await alice.get(path)).cache.startswith("zproxy; hit; ttl=")

        await eventually(stored_again, timeout=20.0, what="the background fetch stored")
