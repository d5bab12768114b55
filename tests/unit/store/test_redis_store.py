"""What only the Redis store has to prove: round trips, index hygiene, namespaces, errors."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from zproxy.errors import StoreUnavailable
from zproxy.policy.keys import Hasher, Identity, cache_key
from zproxy.store.cache import CacheEntry
from zproxy.store.embedded import RedisServer
from zproxy.store.redis import RedisCacheStore

H = Hasher(b"redis-store-test-secret")


def key_for(principal: str, path: str = "/v1/accounts/A1") -> str:
    return cache_key(H, Identity(principal=principal), "GET", path, "")


ENTRY = CacheEntry(200, (("Content-Type", "application/json"),), b"{}", 1.0, ("account:A1",))


async def commands_since_reset(redis_client: aioredis.Redis) -> dict[str, int]:
    stats = await redis_client.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): int(v["calls"])
        for name, v in stats.items()
        if not name.startswith(("cmdstat_info", "cmdstat_config"))
    }


async def test_get_is_one_round_trip(redis_client: aioredis.Redis) -> None:
    store = RedisCacheStore(redis_client)
    k = key_for("tA")
    await store.set(k, ENTRY, 60)
    await redis_client.config_resetstat()
    assert await store.get(k) == ENTRY
    # the entry and its soft-purge marker: one MGET
    assert await commands_since_reset(redis_client) == {"mget": 1}


async def test_indexes_expire_with_their_last_entry(redis_client: aioredis.Redis) -> None:
    store = RedisCacheStore(redis_client)
    short, long_ = key_for("tA", "/a"), key_for("tA", "/b")
    await store.set(short, ENTRY, 10)
    await store.set(long_, ENTRY, 100)
    for index in (b"zc:p:tA", b"zc:t:tA:account:A1"):
        pttl = await redis_client.pttl(index)
        assert 10_000 < pttl <= 100_000
        assert await redis_client.zcard(index) == 2


async def test_writing_an_index_prunes_expired_members(redis_client: aioredis.Redis) -> None:
    store = RedisCacheStore(redis_client)
    old = key_for("tA", "/old")
    await store.set(old, ENTRY, 60)
    # age the member as if its entry had expired a while ago
    await redis_client.zadd("zc:p:tA", {old: 1})
    await redis_client.zadd("zc:t:tA:account:A1", {old: 1})
    await store.set(key_for("tA", "/new"), ENTRY, 60)
    assert await redis_client.zscore("zc:p:tA", old) is None
    assert await redis_client.zscore("zc:t:tA:account:A1", old) is None


async def test_purge_all_touches_only_cache_keys(redis_client: aioredis.Redis) -> None:
    store = RedisCacheStore(redis_client)
    for i in range(1200):  # more than one SCAN batch
        await redis_client.set(f"zc:e:tA:{i:040d}", b"x", px=60_000)
    await store.set(key_for("tA"), ENTRY, 60)
    others = {"zq:stream": "queued write", "zc:k:tokenhash": "principal", "zc:l:tA:x": "lock"}
    for name, value in others.items():
        await redis_client.set(name, value)
    assert await store.purge_all() == 1201
    assert await redis_client.dbsize() == len(others)
    for name, value in others.items():
        assert await redis_client.get(name) == value.encode()


async def test_an_unreadable_entry_is_a_miss(redis_client: aioredis.Redis) -> None:
    store = RedisCacheStore(redis_client)
    k = key_for("tA")
    for junk in (b"", b"\x09\x00", b"\x01\x00\x00\x00\x00\x05[1,2", b"\x01\x07\x00\x00\x00\x02[]"):
        await redis_client.set(k, junk)
        assert await store.get(k) is None


async def test_an_entry_copied_under_another_key_is_a_miss(redis_client: aioredis.Redis) -> None:
    store = RedisCacheStore(redis_client)
    await store.set(key_for("tA"), ENTRY, 60)
    await redis_client.copy(key_for("tA"), key_for("tB"))
    assert await store.get(key_for("tB")) is None


async def test_cancelled_gets_never_hand_a_reply_to_another_request(redis_url: str) -> None:
    """reliability-security §3.3: cancel tasks mid-command under load; every reply that does
    arrive must belong to its own request. (A plain pool raises MaxConnectionsError past 100
    concurrent commands: the app should use a BlockingConnectionPool, as here.)"""
    pool = aioredis.BlockingConnectionPool.from_url(redis_url, max_connections=20, timeout=10)
    client = aioredis.Redis(connection_pool=pool)
    store = RedisCacheStore(client)
    keys = [key_for(f"t{i}") for i in range(200)]
    for i, k in enumerate(keys):
        await store.set(k, CacheEntry(200, (), f"body-{i}".encode(), 1.0), 60)
    for _round in range(3):
        tasks = [asyncio.ensure_future(store.get(k)) for k in keys]
        for _ in range(3):
            await asyncio.sleep(0)
        for task in tasks[::3]:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for i, result in enumerate(results):
            if isinstance(result, CacheEntry):
                assert result.body == f"body-{i}".encode()
            else:
                assert isinstance(result, asyncio.CancelledError)
        assert sum(isinstance(r, CacheEntry) for r in results) >= len(keys) * 2 // 3
    await client.aclose()
    await pool.aclose()


def test_refuses_a_client_that_decodes_responses(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    with pytest.raises(ValueError, match="decode_responses"):
        RedisCacheStore(client)


async def test_redis_errors_become_store_unavailable(own_redis: RedisServer) -> None:
    client = aioredis.Redis.from_url(own_redis.url, retry=Retry(NoBackoff(), 0))
    store = RedisCacheStore(client)
    await store.set(key_for("tA"), ENTRY, 60)
    own_redis.kill()
    calls = [
        store.get(key_for("tA")),
        store.set(key_for("tA"), ENTRY, 60),
        store.purge_tags(["account:A1"], scope="tA"),
        store.purge_tags(["account:A1"]),
        store.purge_principal("tA"),
        store.purge_all(),
    ]
    for call in calls:
        with pytest.raises(StoreUnavailable) as err:
            await call
        assert "tA" not in str(err.value)  # no keys in the message
    await client.aclose()
