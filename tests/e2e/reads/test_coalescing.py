"""Concurrent cold reads of one key cost one upstream request, in one zproxy process and across
two processes sharing one Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from tests.support import zproxy_stack
from tests.support.fake import accounts, path_count, set_fault
from tests.support.http import Caller, caller
from tests.support.metrics import cache_counts

#: The upstream answer takes long enough that every request below arrives while it is pending.
SLOW = {"mode": "slow", "latency_ms": 400, "scope": "reads"}


async def _burst(callers: list[Caller], path: str, each: int) -> list[bytes]:
    replies = await asyncio.gather(*(c.get(path) for c in callers for _ in range(each)))
    assert {r.status for r in replies} == {200}, {r.status for r in replies}
    return [r.body for r in replies]


async def test_100_concurrent_cold_reads_make_one_upstream_request(
    tmp_path: Path, redis_url: str
) -> None:
    async with zproxy_stack(tmp_path, redis_url) as (fz, [zp]), aiohttp.ClientSession() as http:
        path = f"/v1/accounts/{accounts(fz)[0]}"
        alice = await caller(http, fz, zp)
        set_fault(fz, SLOW)
        bodies = await _burst([alice], path, 100)
        assert len(set(bodies)) == 1
        assert path_count(fz, path) == 1
        counts = await cache_counts(http, zp)
        assert counts[("account", "miss")] + counts.get(("account", "hit"), 0) == 100
        # requests that arrived while the one fetch was pending were coalesced onto it
        assert counts[("account", "miss")] >= 2


async def test_cold_reads_across_two_processes_make_one_upstream_request(
    tmp_path: Path, redis_url: str
) -> None:
    async with (
        zproxy_stack(tmp_path, redis_url, processes=2) as (fz, [zp1, zp2]),
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as http,
    ):
        path = f"/v1/accounts/{accounts(fz)[0]}"
        alice = await caller(http, fz, zp1)
        set_fault(fz, SLOW)
        bodies = await _burst([alice, alice.via(zp2)], path, 50)
        assert len(set(bodies)) == 1
        assert path_count(fz, path) == 1
        for zp in (zp1, zp2):
            counts = await cache_counts(http, zp)
            served = counts.get(("account", "miss"), 0) + counts.get(("account", "hit"), 0)
            assert served == 50
        # and the entry is shared: a read on either process is now a hit
        for c in (alice, alice.via(zp2)):
            assert (await c.get(path)).cache.startswith("zproxy; hit; ttl=")
        assert path_count(fz, path) == 1
