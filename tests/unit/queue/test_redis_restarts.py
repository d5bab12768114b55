"""A Redis restart costs the queue nothing: pooled clients reconnect on their own, and an
outcome Zuora already gave is recorded once Redis is back, never paid for with a resend."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import redis.asyncio as aioredis

from zproxy.clock import FakeClock
from zproxy.policy.replay import ReplayResult
from zproxy.queue.crypto import Cipher
from zproxy.queue.model import QueuedWrite
from zproxy.queue.redis_queue import RedisWriteQueue, queue_redis_client
from zproxy.queue.replayer import Replayer
from zproxy.store.connect import redis_client
from zproxy.store.embedded import RedisServer

T0 = 1_700_000_000.0
KEY = Cipher.generate_key()


def _write(n: int = 0) -> QueuedWrite:
    return QueuedWrite.create(
        method="PUT",
        path=f"/v1/accounts/A00000001?n={n}",
        headers=(("Authorization", "Bearer secret-token"),),
        body=b'{"n": %d}' % n,
        identity="id-1",
        order_key="A00000001",
        route="accounts.update",
        accepted_at=T0,
        idempotency_key=f"key-{n}",
    )


def _main_client(url: str) -> aioredis.Redis:
    return redis_client(url, socket_timeout=2, connect_timeout=2, max_connections=64, pool_wait=2)


@pytest.mark.parametrize("make", [queue_redis_client, _main_client], ids=["queue", "main"])
async def test_pooled_connections_survive_a_redis_restart(
    own_redis: RedisServer, make: Callable[[str], aioredis.Redis]
) -> None:
    client = make(own_redis.url)
    try:
        # Fill the pool with connections that the restart leaves dead.
        await asyncio.gather(*(client.set(f"k{i}", i) for i in range(20)))
        await asyncio.to_thread(own_redis.stop)
        await asyncio.to_thread(own_redis.start)
        values = await asyncio.gather(*(client.get(f"k{i}") for i in range(20)))
        assert values == [str(i).encode() for i in range(20)]  # the AOF brought them back
    finally:
        await client.aclose()


async def test_finish_answers_again_to_the_claim_that_finished(redis_url: str) -> None:
    """A FINISH whose reply was lost is sent again by the client's retry: same answer."""
    client = queue_redis_client(redis_url)
    queue = RedisWriteQueue(client, Cipher({"k1": KEY}), clock=FakeClock(T0))
    try:
        assert (await queue.init()).ok
        await queue.enqueue(_write())
        (claim,) = await queue.claim("c1", T0, 30, 4)
        assert await queue.mark_applied(claim, 200, b"{}", T0)
        assert await queue.mark_applied(claim, 200, b"{}", T0)
        assert not await queue.mark_dead(claim, "x", 400, b"{}", T0)  # not what it recorded
        record = await queue.get(claim.write_id)
        assert record is not None
        assert record.state == "applied"
        assert await queue.depth() == 0
    finally:
        await client.aclose()


async def test_outcome_recorded_after_redis_restart_is_never_resent(
    own_redis: RedisServer,
) -> None:
    """Zuora applies the PUT, Redis goes down before the record: the replayer keeps retrying
    the record (its injected sleep brings Redis back) and the write is sent exactly once."""
    clock = FakeClock(T0)
    client = queue_redis_client(own_redis.url, socket_timeout=1, connect_timeout=1)
    queue = RedisWriteQueue(client, Cipher({"k1": KEY}), clock=clock)
    sent: list[str] = []
    retries: list[float] = []

    async def send(write: QueuedWrite) -> ReplayResult:
        sent.append(write.id)
        await asyncio.to_thread(own_redis.stop)  # after Zuora answered, before the record
        return ReplayResult(200, b'{"success": true}')

    async def sleep(delay: float) -> None:
        retries.append(delay)
        if len(retries) == 3:
            await asyncio.to_thread(own_redis.start)

    replayer = Replayer(queue, send, clock=clock, consumer_id="c1", sleep=sleep, lease_seconds=5)
    try:
        assert (await queue.init()).ok
        accepted = await queue.enqueue(_write())
        assert await replayer.drain_once() == 1
        record = await queue.get(accepted.write_id)
        assert record is not None
        assert record.state == "applied"
        assert len(retries) >= 3  # it did wait for Redis
        clock.advance(60)  # long past the lease: nothing left to claim
        assert await replayer.drain_once() == 0
        assert sent == [accepted.write_id]
    finally:
        await client.aclose()
