"""The miss check takes the coalescing lock in its own round trip (``get_or_lock`` + ``Claim``),
the fetch holds it until its store writes the entry, and a purge waits for stores under way
(real Redis)."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from zproxy.clock import SystemClock
from zproxy.store.cache import CacheEntry
from zproxy.store.coalesce import Claim, Coalescer, RedisLock
from zproxy.store.hot import HotLayer
from zproxy.store.hot_sync import HotCacheStore, get_within
from zproxy.store.redis import INVALIDATED_PREFIX, RedisCacheStore

KEY = "zc:e:tA:0123"
LOCK = RedisLock.name(KEY)


def _entry(body: bytes, tags: tuple[str, ...] = ("account:A",)) -> CacheEntry:
    return CacheEntry(200, (("Content-Type", "application/json"),), body, time.time(), tags)


def _parts(redis: aioredis.Redis) -> tuple[RedisCacheStore, RedisLock, HotCacheStore]:
    store, lock = RedisCacheStore(redis), RedisLock(redis, ttl=30)
    return store, lock, HotCacheStore(store, HotLayer(1 << 20), SystemClock(), redis)


async def _never() -> str | None:
    return None


async def test_a_miss_takes_the_lock_in_the_same_round_trip(redis_client: aioredis.Redis) -> None:
    _store, lock, hot = _parts(redis_client)
    await get_within(hot, "zc:e:tA:warm", 60, Claim("zc:e:tA:warm", lock))  # script loaded
    claim = Claim(KEY, lock)
    await redis_client.config_resetstat()
    assert await get_within(hot, KEY, 60, claim) is None
    stats = await redis_client.info("commandstats")
    assert claim.attempted
    assert claim.held
    assert await redis_client.get(LOCK) == claim.token.encode()
    assert "cmdstat_mget" not in stats  # no separate read
    assert stats["cmdstat_evalsha"]["calls"] == 1  # one script: read, and lock


async def test_a_hit_takes_no_lock_and_reports_its_soft_purge(redis_client: aioredis.Redis) -> None:
    store, lock, _hot = _parts(redis_client)
    await store.set(KEY, _entry(b'{"a":1}'), 60)
    await redis_client.set(INVALIDATED_PREFIX + KEY, "1", px=60_000)
    claim = Claim(KEY, lock)
    entry, held = await store.get_or_lock(KEY, *claim.take())
    assert entry is not None
    assert entry.body == b'{"a":1}'
    assert entry.invalidated
    assert not held
    assert not await redis_client.exists(LOCK)


async def test_a_lock_held_elsewhere_is_waited_for_not_taken_again(
    redis_client: aioredis.Redis,
) -> None:
    store, lock, hot = _parts(redis_client)
    await redis_client.set(LOCK, "another-worker", px=30_000)
    claim = Claim(KEY, lock)
    assert await get_within(hot, KEY, 60, claim) is None
    assert claim.attempted
    assert not claim.held
    coalescer = Coalescer(lock, wait=5.0, poll=0.01)
    fetched: list[str] = []

    async def fetch() -> str:
        fetched.append("called")
        return "fetched here"

    async def read_cached() -> str | None:
        entry = await store.get(KEY)
        return entry.body.decode() if entry is not None else None

    async def the_other_worker_stores() -> None:
        await asyncio.sleep(0.05)
        await store.set(KEY, _entry(b"theirs"), 60)
        await redis_client.delete(LOCK)

    other = asyncio.create_task(the_other_worker_stores())
    assert await coalescer.run(KEY, fetch, read_cached, claim) == "theirs"
    await other
    assert fetched == []  # waited for the holder's entry, fetched nothing
    assert await redis_client.get(LOCK) is None


async def test_the_lock_of_a_claim_passes_to_the_fetch_and_the_store_releases_it(
    redis_client: aioredis.Redis,
) -> None:
    _store, lock, hot = _parts(redis_client)
    claim = Claim(KEY, lock)
    assert await get_within(hot, KEY, 60, claim) is None
    await redis_client.config_resetstat()
    seen: list[bytes | None] = []

    async def fetch() -> str:
        seen.append(await redis_client.get(LOCK))  # the claim's lock, no second one taken
        await hot.set(KEY, _entry(b"ours"), 60)
        return "answered"

    assert await Coalescer(lock).run(KEY, fetch, _never, claim) == "answered"
    stats = await redis_client.info("commandstats")
    assert seen == [claim.token.encode()]
    assert "cmdstat_set" not in stats or stats["cmdstat_set"]["calls"] == 1  # the entry only
    assert await redis_client.get(LOCK) is None  # released by the store's own script
    assert claim.used


async def test_an_unused_claim_is_released(redis_client: aioredis.Redis) -> None:
    _store, lock, hot = _parts(redis_client)
    claim = Claim(KEY, lock)
    assert await get_within(hot, KEY, 60, claim) is None
    assert claim.held
    await Coalescer(lock).drop_claim(claim)
    assert not await redis_client.exists(LOCK)
    assert claim.used


class _GatedStore(RedisCacheStore):
    """The real store, whose writes wait for ``gate`` (a store still under way)."""

    def __init__(self, redis: aioredis.Redis, gate: asyncio.Event) -> None:
        super().__init__(redis)
        self.gate = gate

    async def set(self, key: str, entry: CacheEntry, ttl_seconds: float) -> None:
        await self.gate.wait()
        await super().set(key, entry, ttl_seconds)


async def test_a_purge_waits_for_a_store_under_way(redis_client: aioredis.Redis) -> None:
    """A purge that starts while an answered entry is still being stored runs after it: the
    entry cannot land after the purge that should have removed it."""
    gate = asyncio.Event()
    inner = _GatedStore(redis_client, gate)
    hot = HotCacheStore(inner, HotLayer(1 << 20), SystemClock(), redis_client)
    storing = asyncio.create_task(hot.set(KEY, _entry(b"old"), 60))
    await asyncio.sleep(0)  # under way: held here, not yet in Redis
    purging = asyncio.create_task(hot.purge_tags(["account:A"]))
    await asyncio.sleep(0.05)
    assert not purging.done()  # waits for the store
    gate.set()
    await asyncio.gather(storing, purging)
    assert await hot.get(KEY) is None
    assert not await redis_client.exists(KEY)
