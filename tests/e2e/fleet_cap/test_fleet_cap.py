"""Two zproxy processes share one concurrency cap toward Zuora (issue 12 finding 9).

The fake Zuora allows as many concurrent requests per tenant as the cap and answers 429 over
it. Each process alone would let the whole cap through (together twice the cap); through the
fleet limiter in Redis, Zuora never sees more than the cap at once, and reads over the cap
that have a stale entry are answered from it with ``Cache-Status: ...; detail=shed``."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.support import zproxy_stack
from tests.support.fake import accounts, set_fault
from tests.support.http import Caller, caller

CAP = 4
READS = 16  # per burst, spread over both processes
FRESH = 1.0
OVERRIDES: dict[str, Any] = {
    "upstream": {
        "pools": {"default": CAP, "zoql": CAP},
        "pool_wait": 0.2,
        "connect_timeout": 1,
        "read_timeout": 5,
        "total_timeout": 6,
    },
    "cache": {"stale_if_slow": 0},
    "retry": {"max_attempts": 1},
}
ROUTES = {"account": {"read": {"fresh": FRESH, "stale_while_revalidate": 0, "stale_if_error": 120}}}
FAKE = {"concurrency_limit": CAP, "zoql_concurrency_limit": CAP}
SHED = "zproxy; hit; detail=shed"


def paths(accts: list[str]) -> list[str]:
    """``READS`` distinct cache keys (so no two reads are coalesced)."""
    return [f"/v1/accounts/{accts[i % len(accts)]}?n={i}" for i in range(READS)]


async def test_zuora_never_sees_more_than_the_fleet_cap_and_the_rest_is_shed(
    tmp_path: Path, redis_url: str
) -> None:
    async with (
        zproxy_stack(
            tmp_path,
            redis_url,
            overrides=OVERRIDES,
            route_overrides=ROUTES,
            processes=2,
            fake_kwargs=FAKE,
        ) as (fz, procs),
        aiohttp.ClientSession() as http,
    ):
        callers: list[Caller] = [await caller(http, fz, zp) for zp in procs]
        targets = paths(accounts(fz))
        for i, path in enumerate(targets):
            first = await callers[i % 2].get(path)
            assert first.cache == "zproxy; fwd=miss; stored", (first.status, first.cache)
        stored_at = time.time()  # the last one: every entry is stale after FRESH
        await asyncio.sleep(max(0.0, stored_at + FRESH + 0.2 - time.time()))
        set_fault(fz, {"mode": "slow", "scope": "reads", "latency_ms": 1500})

        replies = await asyncio.gather(
            *(callers[i % 2].get(path) for i, path in enumerate(targets))
        )

        stats = fz.fake.stats.to_json()
        assert stats["max_in_flight"] <= CAP, stats  # per process, it would have been 2 x CAP
        assert "429" not in stats["by_status"], stats["by_status"]
        assert all(r.status == 200 for r in replies), [(r.status, r.body) for r in replies]
        shed = [r for r in replies if r.cache == SHED]
        fetched = [r for r in replies if r.cache.startswith("zproxy; fwd=stale; fwd-status=200")]
        assert len(shed) + len(fetched) == READS, sorted({r.cache for r in replies})
        assert 1 <= len(fetched) <= CAP
        assert len(shed) >= READS - CAP
        assert all(int(r.headers["Age"]) >= 1 for r in shed)


async def test_a_read_over_the_cap_without_a_stale_entry_gets_a_truthful_503(
    tmp_path: Path, redis_url: str
) -> None:
    async with (
        zproxy_stack(
            tmp_path,
            redis_url,
            overrides=OVERRIDES,
            route_overrides=ROUTES,
            processes=2,
            fake_kwargs=FAKE,
        ) as (fz, procs),
        aiohttp.ClientSession() as http,
    ):
        callers: list[Caller] = [await caller(http, fz, zp) for zp in procs]
        set_fault(fz, {"mode": "slow", "scope": "reads", "latency_ms": 1500})
        replies = await asyncio.gather(
            *(callers[i % 2].get(path) for i, path in enumerate(paths(accounts(fz))))
        )
        stats = fz.fake.stats.to_json()
        assert stats["max_in_flight"] <= CAP, stats
        assert "429" not in stats["by_status"], stats["by_status"]
        refused = [r for r in replies if r.status == 503]
        assert len(refused) >= READS - CAP, [r.status for r in replies]
        for reply in refused:
            assert reply.code == "ZPROXY_UPSTREAM_UNAVAILABLE", reply.body
            assert int(reply.headers["Retry-After"]) >= 1
            assert reply.json()["success"] is False
        assert all(r.status == 200 for r in replies if r not in refused)
