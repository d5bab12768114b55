"""Fixtures for the write queue: the same tests run against memory and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.queue import KEY, T0
from zproxy.clock import FakeClock
from zproxy.queue.crypto import Cipher
from zproxy.queue.redis_queue import RedisWriteQueue, queue_redis_client
from zproxy.queue.store import MemoryWriteQueue, WriteQueue


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture(params=["memory", "redis"])
async def queue(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[WriteQueue]:
    if request.param == "memory":
        yield MemoryWriteQueue()
        return
    redis_url = request.getfixturevalue("redis_url")
    client = queue_redis_client(redis_url)
    q = RedisWriteQueue(client, Cipher({"k1": KEY}), clock=clock)
    status = await q.init()
    assert status.ok, status.reason
    yield q
    await client.aclose()
