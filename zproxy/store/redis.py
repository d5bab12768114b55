"""The Redis cache store (redis.asyncio).

Keys (all under ``zc:``, none under the write queue's namespace)::

    zc:e:{principal}:{digest}   an entry (codec bytes), PX = ttl
    zc:t:{principal}:{tag}      ZSET of entry keys with a tag, score = entry expiry (ms)
    zc:p:{principal}            ZSET of a principal's entry keys, score = entry expiry (ms)
    zc:g:{tag}                  ZSET of every principal's entry keys with a tag (same scores):
                                a purge across identities (writes, callouts, admin) reads it
                                instead of scanning the keyspace
    zc:i:{entry key}            "soft-purged" marker, PX = the entry's remaining TTL: a write
                                or callout changed what the entry shows; read back with the
                                entry (one MGET) and removed when the entry is stored again

An index drops members whose entries have expired each time it is written to, and itself
expires with its last member, so indexes neither outlive their entries nor grow without
bound. ``set`` writes the entry and its indexes in one Lua script (server time, so workers'
clock skew cannot prune a live member); when the running fetch holds the key's coalescing
lock (``zproxy.store.coalesce.held_lease``) the same script releases it (compare-and-delete).
Every Redis error leaves as ``StoreUnavailable``.

The client must be created with ``decode_responses=False``: entries are bytes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Final, cast

import redis.asyncio as aioredis

from zproxy.policy.keys import ENTRY_PREFIX, KEY_PREFIX, principal_of_key
from zproxy.store._errors import mapped
from zproxy.store.cache import CacheEntry
from zproxy.store.coalesce import held_lease
from zproxy.store.codec import Codec, CorruptEntry

TAG_PREFIX: Final = KEY_PREFIX + "t:"
GLOBAL_TAG_PREFIX: Final = KEY_PREFIX + "g:"
PRINCIPAL_PREFIX: Final = KEY_PREFIX + "p:"
INVALIDATED_PREFIX: Final = KEY_PREFIX + "i:"
_BATCH: Final = 500

# KEYS[1] = entry, KEYS[2..] = indexes; ARGV[1] = payload, ARGV[2] = ttl ms. With ARGV[3] (a
# lock token) the last key is the entry's coalescing lock, deleted if the token still holds it.
_SET_LUA = """
local ttl = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expires = now + ttl
local last_index = #KEYS
if ARGV[3] then last_index = #KEYS - 1 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
redis.call('DEL', 'zc:i:' .. KEYS[1])
for i = 2, last_index do
  redis.call('ZADD', KEYS[i], expires, KEYS[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  local last = redis.call('ZRANGE', KEYS[i], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[i], last[2])
end
if ARGV[3] and redis.call('GET', KEYS[#KEYS]) == ARGV[3] then
  redis.call('DEL', KEYS[#KEYS])
end
return 1
"""

# KEYS = indexes; marks every live member entry invalidated until its own expiry.
_INVALIDATE_LUA = """
local marked = 0
for i = 1, #KEYS do
  local members = redis.call('ZRANGE', KEYS[i], 0, -1)
  for j = 1, #members do
    local ttl = redis.call('PTTL', members[j])
    if ttl > 0 then
      redis.call('SET', 'zc:i:' .. members[j], '1', 'PX', ttl)
      marked = marked + 1
    end
  end
end
return marked
"""

# KEYS = indexes; deletes every member entry and the indexes; returns entries deleted.
_PURGE_LUA = """
local deleted = 0
for i = 1, #KEYS do
  local members = redis.call('ZRANGE', KEYS[i], 0, -1)
  for j = 1, #members, 500 do
    deleted = deleted + redis.call('DEL', unpack(members, j, math.min(j + 499, #members)))
  end
  redis.call('DEL', KEYS[i])
end
return deleted
"""


def _connection_kwargs(redis: aioredis.Redis) -> dict[str, Any]:
    kwargs: dict[str, Any] = cast(Any, redis).get_connection_kwargs()
    return kwargs


class RedisCacheStore:
    def __init__(self, redis: aioredis.Redis, codec: Codec | None = None) -> None:
        if _connection_kwargs(redis).get("decode_responses"):
            raise ValueError("RedisCacheStore needs a client with decode_responses=False")
        self._redis = redis
        self._codec = codec or Codec()
        self._set = redis.register_script(_SET_LUA)
        self._purge = redis.register_script(_PURGE_LUA)
        self._invalidate = redis.register_script(_INVALIDATE_LUA)

    async def get(self, key: str) -> CacheEntry | None:
        with mapped("cache get"):
            data, invalidated = await self._redis.mget(key, INVALIDATED_PREFIX + key)
        if not isinstance(data, bytes):
            return None
        try:
            entry = self._codec.decode(data, key)
        except CorruptEntry:
            return None  # unreadable (e.g. another version's layout): a miss, overwritten later
        return replace(entry, invalidated=True) if invalidated is not None else entry

    async def set(self, key: str, entry: CacheEntry, ttl_seconds: float) -> None:
        principal = principal_of_key(key)
        ttl_ms = max(1, math.ceil(ttl_seconds * 1000))
        indexes = [PRINCIPAL_PREFIX + principal]
        for tag in dict.fromkeys(entry.tags):
            indexes += [f"{TAG_PREFIX}{principal}:{tag}", GLOBAL_TAG_PREFIX + tag]
        payload = self._codec.encode(entry, key)
        lease = held_lease(key)
        if lease is None:
            with mapped("cache set"):
                await self._set(keys=[key, *indexes], args=[payload, ttl_ms])
            return
        with mapped("cache set"):
            await self._set(keys=[key, *indexes, lease.lock], args=[payload, ttl_ms, lease.token])
        lease.released = True

    async def purge_tags(self, tags: Sequence[str], scope: str | None = None) -> int:
        if not tags:
            return 0
        if scope is not None:
            indexes = [f"{TAG_PREFIX}{scope}:{tag}" for tag in dict.fromkeys(tags)]
        else:
            indexes = [GLOBAL_TAG_PREFIX + tag for tag in dict.fromkeys(tags)]
        return await self._purge_indexes(indexes)

    async def invalidate_tags(self, tags: Sequence[str]) -> int:
        indexes = [GLOBAL_TAG_PREFIX + tag for tag in dict.fromkeys(tags)]
        if not indexes:
            return 0
        with mapped("cache invalidate"):
            return int(await self._invalidate(keys=indexes))

    async def purge_principal(self, principal: str) -> int:
        return await self._purge_indexes([PRINCIPAL_PREFIX + principal])

    async def purge_all(self) -> int:
        deleted = 0
        batch: list[bytes] = []
        with mapped("cache purge_all"):
            async for key in self._redis.scan_iter(match=KEY_PREFIX + "*", count=1000):
                if key.startswith((b"zc:e:", b"zc:t:", b"zc:p:", b"zc:g:", b"zc:i:")):
                    batch.append(key)
                if len(batch) >= _BATCH:
                    deleted += await self._delete(batch)
                    batch = []
            deleted += await self._delete(batch)
        return deleted

    async def _delete(self, keys: list[bytes]) -> int:
        if not keys:
            return 0
        entries = [k for k in keys if k.startswith(ENTRY_PREFIX.encode())]
        others = [k for k in keys if not k.startswith(ENTRY_PREFIX.encode())]
        async with self._redis.pipeline(transaction=False) as pipe:
            if entries:
                pipe.unlink(*entries)
            if others:
                pipe.unlink(*others)
            results = await pipe.execute()
        return int(results[0]) if entries else 0

    async def _purge_indexes(self, indexes: list[str]) -> int:
        deleted = 0
        with mapped("cache purge"):
            for start in range(0, len(indexes), _BATCH):
                deleted += int(await self._purge(keys=indexes[start : start + _BATCH]))
        return deleted
