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
from zproxy.store.redis import INVALIDATED_PREFIX, PRINCIPAL_BUCKETS, RedisCacheStore

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
    tag_index = b"zc:t:tA:account:A1"
    assert 10_000 < await redis_client.pttl(tag_index) <= 100_000
    assert await redis_client.zcard(tag_index) == 2
    # the principal's index bucket of each entry lives as long as its longest member
    short_bucket = store.layout.principal_index("tA", store.layout.member(short))
    long_bucket = store.layout.principal_index("tA", store.layout.member(long_))
    assert 10_000 < await redis_client.pttl(long_bucket) <= 100_000
    if short_bucket != long_bucket:
        assert 0 < await redis_client.pttl(short_bucket) <= 10_000
    assert sum([await redis_client.zcard(b) for b in store.layout.principal_indexes("tA")]) == 2


async def test_writing_an_index_prunes_expired_members(redis_client: aioredis.Redis) -> None:
    store = RedisCacheStore(redis_client)
    old = key_for("tA", "/old")
    member = store.layout.member(old)
    await store.set(old, ENTRY, 60)
    # age the member as if its entry had expired a while ago
    old_bucket = store.layout.principal_index("tA", member)
    await redis_client.zadd(old_bucket, {member: 1})
    await redis_client.zadd("zc:t:tA:account:A1", {member: 1})
    new = next(
        k
        for k in (key_for("tA", f"/new{i}") for i in range(1000))
        if store.layout.principal_index("tA", store.layout.member(k)) == old_bucket
    )
    await store.set(new, ENTRY, 60)
    assert await redis_client.zscore(old_bucket, member) is None
    assert await redis_client.zscore("zc:t:tA:account:A1", member) is None


@pytest.mark.parametrize("hash_tags", [False, True])
async def test_indexes_hold_digests_that_purge_and_invalidate_resolve(
    redis_client: aioredis.Redis, hash_tags: bool
) -> None:
    """Index members are the 32-char digest only; the scripts rebuild each entry's key (and
    its soft-purge marker) from the principal in the index's own name."""
    store = RedisCacheStore(redis_client, hash_tags=hash_tags)
    a, b, other = key_for("tA", "/a"), key_for("tA", "/b"), key_for("tB", "/a")
    for k in (a, b, other):
        await store.set(k, ENTRY, 60)
    p = store.layout.principal("tA")
    assert store.layout.entry(a).startswith(f"zc:e:{p}:")
    members = await redis_client.zrange(f"zc:t:{p}:account:A1", 0, -1)
    assert sorted(members) == sorted(store.layout.member(k).encode() for k in (a, b))
    assert all(len(m) == 32 and b":" not in m for m in members)
    buckets = store.layout.principal_indexes("tA")
    assert len(buckets) == PRINCIPAL_BUCKETS
    assert all(b.startswith(f"zc:p:{p}:") for b in buckets)

    assert await store.invalidate_tags(["account:A1"]) == 3
    assert await redis_client.exists(INVALIDATED_PREFIX + store.layout.entry(a)) == 1
    got = await store.get(a)
    assert got is not None
    assert got.invalidated
    assert await store.purge_tags(["account:A1"], scope="tA") == 2
    assert await store.get(a) is None
    assert await store.get(b) is None
    assert await store.get(other) is not None

    await store.set(a, ENTRY, 60)
    assert await store.purge_principal("tA") == 1
    assert await store.purge_principal("tB") == 1
    assert await store.get(a) is None
    assert await store.get(other) is None
    # (tag indexes are left to expire, as before; their members now resolve to nothing)
    assert [k async for k in redis_client.scan_iter(match="zc:[ep]:*")] == []


async def test_an_entry_of_the_previous_layout_is_a_miss_then_overwritten(
    redis_client: aioredis.Redis,
) -> None:
    store = RedisCacheStore(redis_client)
    k = key_for("tA")
    meta = b'[200,1.0,[["Content-Type","application/json"]],["account:A1"],2,"' + k.encode()
    await redis_client.set(k, b"\x01\x00\x00\x00\x00" + bytes([len(meta) + 2]) + meta + b'"]{}')
    assert await store.get(k) is None
    await store.set(k, ENTRY, 60)
    assert await store.get(k) == ENTRY


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
