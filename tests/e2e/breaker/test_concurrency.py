"""200 concurrent clients against a slow Zuora: it never sees more in flight than the pool's
limit; excess requests wait up to ``pool_wait`` and then get 503 + ``Retry-After``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from tests.e2e.breaker.helpers import total
from tests.support import zproxy_stack
from tests.support.fake import accounts, set_fault
from tests.support.http import breakers, caller
from tests.support.metrics import metrics

LIMIT = 10
CLIENTS = 200
OVERRIDES = {
    "upstream": {"pools": {"default": LIMIT, "zoql": 5}, "pool_wait": 1.0},
    "breakers": {"defaults": {"min_volume": 1000}},
}


async def test_in_flight_never_exceeds_the_pool(tmp_path: Path, redis_url: str) -> None:
    async with (
        zproxy_stack(tmp_path, redis_url, overrides=OVERRIDES) as (fz, [zp]),
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CLIENTS)) as http,
    ):
        c = await caller(http, fz, zp)
        accts = accounts(fz)
        fz.fake.stats.max_in_flight = 0
        set_fault(fz, {"mode": "slow", "latency_ms": 200})
        before = total(fz)

        # distinct cache keys, so nothing is coalesced: each client needs its own call
        replies = await asyncio.gather(
            *(c.get(f"/v1/accounts/{accts[i % len(accts)]}?client={i}") for i in range(CLIENTS))
        )

        assert fz.fake.stats.max_in_flight == LIMIT
        ok = [r for r in replies if r.status == 200]
        busy = [r for r in replies if r.status == 503]
        assert len(ok) + len(busy) == CLIENTS, sorted({r.status for r in replies})
        assert len(ok) >= LIMIT
        assert busy
        for r in busy:
            # zproxy's own refusal (BUSY from the limiter; the read path may report it as
            # UNAVAILABLE), never Zuora's
            assert r.code in ("ZPROXY_UPSTREAM_BUSY", "ZPROXY_UPSTREAM_UNAVAILABLE")
            assert int(r.headers["Retry-After"]) >= 1
        # every request that got a slot reached Zuora; the refused ones never did
        assert total(fz) - before == len(ok)

        m = await metrics(http, zp)
        pool = 'pool="default"'
        assert m[f'zproxy_limiter_total{{event="rejected_concurrency",{pool}}}'] == len(busy)
        # some waited for a freed slot instead of being refused at once
        assert m[f'zproxy_limiter_total{{event="waited_concurrency",{pool}}}'] >= 1
        # zproxy's own refusals say nothing about Zuora's health
        groups = await breakers(http, zp)
        assert groups["reads"]["state"] == "closed"
        assert groups["reads"]["window_calls"] == len(ok)
