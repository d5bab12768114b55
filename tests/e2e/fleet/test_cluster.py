"""Two zproxy processes on a 3-primary Redis Cluster (``redis+cluster://``): a breaker forced
on one is adopted by the other (sharded pub/sub on the ``{breaker}`` slot), reads are cached and
shared, and writes queued during a Zuora outage through either process spread over the
primaries and are applied exactly once, in per-account order, once Zuora recovers."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import redis.asyncio as aioredis

from tests.e2e.writes.helpers import (
    QUICK_BREAKERS,
    assert_accepted,
    drained,
    ledger_seqs,
    put_account,
)
from tests.support import eventually, fake, zproxy_stack
from tests.support.http import admin, bearer, request, set_mode
from zproxy.store.connect import redis_client
from zproxy.testing.redis_sets import ClusterSet

PER_ACCOUNT = 4


async def _queue_keys_per_primary(url: str) -> list[int]:
    client = redis_client(url, socket_timeout=2, connect_timeout=1, max_connections=4, pool_wait=2)
    try:
        assert isinstance(client, aioredis.RedisCluster)
        await client.initialize()
        counts = []
        for node in client.get_primaries():
            keys = await client.keys("zq:*", target_nodes=node)
            counts.append(len(keys))
        return counts
    finally:
        await client.aclose()


async def test_two_processes_share_breaker_cache_and_queue_on_a_cluster(
    tmp_path: Path, http: aiohttp.ClientSession, cluster_set: ClusterSet
) -> None:
    async with zproxy_stack(tmp_path, cluster_set.url, overrides=QUICK_BREAKERS, processes=2) as (
        fz,
        procs,
    ):
        token = await fz.token(http)
        accounts = fake.accounts(fz)[:8]

        # Reads: a miss through one process is a hit through the other.
        url = f"/v1/accounts/{accounts[0]}"
        first = await request(http, "GET", procs[0].url + url, headers=bearer(token))
        second = await request(http, "GET", procs[1].url + url, headers=bearer(token))
        assert (first.status, second.status) == (200, 200)
        assert "hit" in second.cache.split(";")[1], second.cache

        # Breaker: forced on one process, adopted by the other.
        await set_mode(http, procs[0], "force_open", group="writes")

        async def adopted() -> bool:
            reply = await admin(http, procs[1], "GET", "/admin/breaker")
            return bool(reply.json()["groups"]["writes"]["mode"] == "force_open")

        await eventually(adopted, timeout=20, what="force_open adopted by the other process")

        # Writes during an outage, alternating processes, all queued.
        fake.set_fault(fz, mode="down")
        for seq in range(PER_ACCOUNT):
            for i, account in enumerate(accounts):
                reply = await put_account(http, procs[(seq + i) % 2], token, account, seq)
                assert_accepted(reply)
        spread = await _queue_keys_per_primary(cluster_set.url)
        assert sum(1 for n in spread if n > 0) >= 2, spread  # partitions on several primaries

        fake.set_fault(fz, mode="up")
        await set_mode(http, procs[1], "auto")

        async def all_drained() -> bool:
            return all([await drained(http, proc) for proc in procs])

        await eventually(all_drained, timeout=60, what="queues drained")
        seqs = ledger_seqs(fz)
        assert {a: seqs.get(a, []) for a in accounts} == {
            a: list(range(PER_ACCOUNT)) for a in accounts
        }
