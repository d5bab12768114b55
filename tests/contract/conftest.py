"""The contract suites run once per implementation: every cache-store and write-queue test
on memory, on the real Redis zproxy picks (>= 7.2 / Valkey), and on the system's redis-server
(Debian's 7.0 in CI, without WAITAOF)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from tests.support.harness import Harness, MemoryHarness, RedisHarness
from tests.support.queue import KEY
from zproxy.clock import FakeClock
from zproxy.queue.crypto import Cipher
from zproxy.queue.redis_queue import RedisWriteQueue, queue_redis_client
from zproxy.queue.store import MemoryWriteQueue, WriteQueue
from zproxy.store.memory import MemoryCacheStore
from zproxy.store.redis import RedisCacheStore

REDIS_URLS = {"redis": "redis_url", "system-redis": "system_redis_url"}


@pytest.fixture(params=["memory", "redis", "system-redis"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    if request.param == "memory":
        clock = FakeClock()
        yield MemoryHarness(MemoryCacheStore(clock), clock)
        return
    url: str = request.getfixturevalue(REDIS_URLS[request.param])
    client = aioredis.Redis.from_url(url)
    yield RedisHarness(RedisCacheStore(client), client)
    await client.aclose()


@pytest.fixture(params=["memory", "redis", "system-redis"])
async def queue(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[WriteQueue]:
    if request.param == "memory":
        yield MemoryWriteQueue()
        return
    redis_url = request.getfixturevalue(REDIS_URLS[request.param])
    client = queue_redis_client(redis_url)
    q = RedisWriteQueue(client, Cipher({"k1": KEY}), clock=clock)
    status = await q.init()
    assert status.ok, status.reason
    yield q
    await client.aclose()
