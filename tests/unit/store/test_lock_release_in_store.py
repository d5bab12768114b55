"""Proposed for tests/store/: the store script releases the fetch's coalescing lock."""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from zproxy.store.cache import CacheEntry
from zproxy.store.coalesce import Coalescer, RedisLock, held_lease
from zproxy.store.redis import RedisCacheStore

KEY = "zc:e:tA:0123"
LOCK = RedisLock.name(KEY)


def _entry(body: bytes) -> CacheEntry:
    return CacheEntry(200, (), body, time.time(), ("account:A",))


async def _never() -> str | None:
    return None


async def test_storing_releases_the_lock_in_the_same_script(redis_client: aioredis.Redis) -> None:
    store, co = RedisCacheStore(redis_client), Coalescer(RedisLock(redis_client, ttl=30))
    await store.set("zc:e:tA:warm", _entry(b"w"), 10)  # the script is loaded
    seen: list[bool] = []

    async def fetch() -> str:
        seen.append(bool(await redis_client.exists(LOCK)))
        await redis_client.config_resetstat()
        await store.set(KEY, _entry(b"x"), 10)
        seen.append(bool(await redis_client.exists(LOCK)))
        return "ok"

    assert await co.run(KEY, fetch, _never) == "ok"
    stats = await redis_client.info("commandstats")
    assert seen == [True, False]  # held while fetching, gone once stored
    assert stats["cmdstat_evalsha"]["calls"] == 1  # no separate unlock script afterwards
    assert held_lease(KEY) is None


async def test_a_lock_taken_over_by_another_holder_is_left_alone(
    redis_client: aioredis.Redis,
) -> None:
    store, co = RedisCacheStore(redis_client), Coalescer(RedisLock(redis_client, ttl=30))

    async def fetch() -> str:
        await redis_client.set(LOCK, "someone-else", px=30_000)  # ours expired, theirs now
        await store.set(KEY, _entry(b"y"), 10)
        return "ok"

    assert await co.run(KEY, fetch, _never) == "ok"
    assert await redis_client.get(LOCK) == b"someone-else"
    assert (await store.get(KEY)) is not None


async def test_without_a_store_the_lock_is_released_after_the_fetch(
    redis_client: aioredis.Redis,
) -> None:
    co = Coalescer(RedisLock(redis_client, ttl=30))

    async def fetch() -> str:
        assert held_lease(KEY) is not None
        return "not stored"

    assert await co.run(KEY, fetch, _never) == "not stored"
    assert not await redis_client.exists(LOCK)


async def test_a_store_outside_a_fetch_touches_no_lock(redis_client: aioredis.Redis) -> None:
    store = RedisCacheStore(redis_client)
    await redis_client.set(LOCK, "held", px=30_000)
    await store.set(KEY, _entry(b"z"), 10)
    assert await redis_client.get(LOCK) == b"held"
