"""Token -> principal learning: Redis shared by workers, an in-process LRU in front."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from zproxy.clock import FakeClock
from zproxy.errors import StoreUnavailable
from zproxy.store.embedded import RedisServer
from zproxy.store.principals import PrincipalStore


async def gets(redis_client: aioredis.Redis) -> int:
    stats = await redis_client.info("commandstats")
    return int(stats.get("cmdstat_get", {}).get("calls", 0))


async def test_remembered_principals_are_shared_by_workers(redis_client: aioredis.Redis) -> None:
    clock = FakeClock()
    one, two = PrincipalStore(redis_client, clock), PrincipalStore(redis_client, clock)
    await one.remember("th1", "oPrincipal", 3599)
    assert await two.lookup("th1") == "oPrincipal"
    assert await two.lookup("th-unknown") is None
    pttl = await redis_client.pttl("zc:k:th1")
    assert 3_500_000 < pttl <= 3_599_000


async def test_the_lru_answers_without_redis(redis_client: aioredis.Redis) -> None:
    clock = FakeClock()
    store = PrincipalStore(redis_client, clock, local_ttl=60)
    await store.remember("th1", "oP", 3599)
    await redis_client.config_resetstat()
    for _ in range(5):
        assert await store.lookup("th1") == "oP"
        assert await store.lookup("th-unknown") is None
    assert await gets(redis_client) == 1  # only the first unknown lookup went to Redis


async def test_local_entries_expire_and_forget_reaches_other_workers(
    redis_client: aioredis.Redis,
) -> None:
    clock = FakeClock()
    one = PrincipalStore(redis_client, clock, local_ttl=60, negative_ttl=5)
    two = PrincipalStore(redis_client, clock, local_ttl=60, negative_ttl=5)
    await one.remember("th1", "oP", 3599)
    assert await two.lookup("th1") == "oP"
    await one.forget("th1")
    assert await one.lookup("th1") is None
    assert await two.lookup("th1") == "oP"  # still in two's LRU ...
    clock.advance(61)
    assert await two.lookup("th1") is None  # ... for at most local_ttl


async def test_negative_answers_are_cached_briefly(redis_client: aioredis.Redis) -> None:
    clock = FakeClock()
    one = PrincipalStore(redis_client, clock, negative_ttl=5)
    two = PrincipalStore(redis_client, clock, negative_ttl=5)
    assert await two.lookup("th1") is None
    await one.remember("th1", "oP", 3599)
    assert await two.lookup("th1") is None
    clock.advance(6)
    assert await two.lookup("th1") == "oP"


async def test_local_entries_never_outlive_the_token(redis_client: aioredis.Redis) -> None:
    clock = FakeClock()
    store = PrincipalStore(redis_client, clock, local_ttl=60)
    await store.remember("th1", "oP", 10)
    await redis_client.delete("zc:k:th1")  # as if Redis expired it
    assert await store.lookup("th1") == "oP"
    clock.advance(11)
    assert await store.lookup("th1") is None


async def test_lru_is_bounded(redis_client: aioredis.Redis) -> None:
    clock = FakeClock()
    store = PrincipalStore(redis_client, clock, max_local=2)
    for i in range(3):
        await store.remember(f"th{i}", f"oP{i}", 3599)
    await redis_client.config_resetstat()
    assert await store.lookup("th2") == "oP2"
    assert await store.lookup("th0") == "oP0"  # evicted locally, found in Redis
    assert await gets(redis_client) == 1


async def test_non_positive_ttl_is_not_remembered(redis_client: aioredis.Redis) -> None:
    store = PrincipalStore(redis_client, FakeClock())
    await store.remember("th1", "oP", 0)
    assert await store.lookup("th1") is None


async def test_redis_errors_become_store_unavailable(own_redis: RedisServer) -> None:
    client = aioredis.Redis.from_url(own_redis.url, retry=Retry(NoBackoff(), 0))
    store = PrincipalStore(client, FakeClock())
    own_redis.kill()
    for call in (store.lookup("th1"), store.remember("th1", "oP", 60), store.forget("th1")):
        with pytest.raises(StoreUnavailable):
            await call
    await client.aclose()
