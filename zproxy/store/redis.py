"""The Redis cache store (redis.asyncio).

Keys (all under ``zc:``, none under the write queue's namespace; ``<P>`` is the principal,
written ``{P}`` on a Redis Cluster so that an identity's entries, markers, indexes and
coalescing locks share one hash slot and every script and MGET stays on one node)::

    zc:e:<P>:{digest}           an entry (``zproxy.store.codec`` bytes), PX = ttl
    zc:t:<P>:{tag}              ZSET of the digests of <P>'s entries with a tag, score = entry
                                expiry (ms)
    zc:p:<P>:{bucket}           ZSET of the digests of <P>'s entries, split in 16 buckets (hex
                                ``crc32(digest) % 16``), score = entry expiry (ms)
    zc:g:{tag}                  ZSET of the principals holding entries with a tag (score: the
                                latest expiry, writer's clock): a purge across identities
                                (writes, callouts, admin) reads it, then purges each
                                principal's own tag index, instead of scanning the keyspace
    zc:i:{entry key}            "soft-purged" marker, PX = the entry's remaining TTL: a write
                                or callout changed what the entry shows; read back with the
                                entry (one MGET) and removed when the entry is stored again

Index members are the digest, not the entry key (scripts rebuild ``zc:e:<P>:`` + digest), so
tag indexes and principal buckets (to ~2,000 entries a principal) stay within Redis's default
listpack limits (128 members <= 64 B): ~45 B a member, not ~150-220 B in a skiplist. With the
codec's dictionary an account entry (1.6 KB body) costs 0.35-0.4x its body in all
(``benchmarks/peers.py``). Server encoding settings only change that figure, never behaviour.

An index drops members whose entries have expired each time it is written to, and itself
expires with its last member, so indexes neither outlive their entries nor grow without
bound. ``set`` writes the entry and its principal's indexes in one Lua script (server time,
so workers' clock skew cannot prune a live member), and the global tag indexes beside it;
when the running fetch holds the key's coalescing lock (``zproxy.store.coalesce.held_lease``)
the same script releases it (compare-and-delete).
Every Redis error leaves as ``StoreUnavailable``.

The client must be created with ``decode_responses=False``: entries are bytes.
"""

from __future__ import annotations

import asyncio
import math
import time
import zlib
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Final, cast

import redis.asyncio as aioredis

from zproxy.policy.keys import ENTRY_PREFIX, KEY_PREFIX, principal_of_key
from zproxy.store import cache_scripts as scripts
from zproxy.store._errors import mapped
from zproxy.store.cache import CacheEntry
from zproxy.store.coalesce import held_lease
from zproxy.store.codec import Codec, CorruptEntry
from zproxy.store.connect import is_cluster

TAG_PREFIX: Final = KEY_PREFIX + "t:"
GLOBAL_TAG_PREFIX: Final = KEY_PREFIX + "g:"
PRINCIPAL_PREFIX: Final = KEY_PREFIX + "p:"
INVALIDATED_PREFIX: Final = KEY_PREFIX + "i:"
_BATCH: Final = 500
#: A principal's entry index is split in this many ZSETs, each small enough to stay listpack.
PRINCIPAL_BUCKETS: Final = 16
#: How far behind the writers' clocks a principal's global tag score may lag before pruning.
_GLOBAL_SLACK_MS: Final = 60_000


def _connection_kwargs(redis: aioredis.Redis) -> dict[str, Any]:
    kwargs: dict[str, Any] = cast(Any, redis).get_connection_kwargs()
    return kwargs


class KeyLayout:
    """Where a principal's keys live: ``P`` on one Redis, ``{P}`` (its own hash slot) on a
    Cluster. ``entry`` maps a ``zproxy.policy.keys.cache_key`` to its Redis key."""

    def __init__(self, hash_tags: bool) -> None:
        self.hash_tags = hash_tags

    def principal(self, principal: str) -> str:
        return "{" + principal + "}" if self.hash_tags else principal

    def entry(self, key: str) -> str:
        if not self.hash_tags:
            return key
        principal = principal_of_key(key)
        rest = key[len(ENTRY_PREFIX) + len(principal) :]
        return ENTRY_PREFIX + self.principal(principal) + rest

    def entry_prefix(self, principal: str) -> str:
        """``zc:e:<P>:``: an index member (the digest) appended to it is the entry's key."""
        return ENTRY_PREFIX + self.principal(principal) + ":"

    @staticmethod
    def member(key: str) -> str:
        """The index member of a ``cache_key``: its digest (the index names the principal)."""
        return key[len(ENTRY_PREFIX) + len(principal_of_key(key)) + 1 :]

    def principal_index(self, principal: str, member: str) -> str:
        """The bucket of ``principal``'s entry index that lists ``member``."""
        bucket = zlib.crc32(member.encode()) % PRINCIPAL_BUCKETS
        return f"{PRINCIPAL_PREFIX}{self.principal(principal)}:{bucket:x}"

    def principal_indexes(self, principal: str) -> list[str]:
        """Every bucket of ``principal``'s entry index."""
        p = self.principal(principal)
        return [f"{PRINCIPAL_PREFIX}{p}:{bucket:x}" for bucket in range(PRINCIPAL_BUCKETS)]


class RedisCacheStore:
    def __init__(
        self, redis: aioredis.Redis, codec: Codec | None = None, *, hash_tags: bool | None = None
    ) -> None:
        """``hash_tags``: write principals as ``{P}`` (default: on a Cluster client only)."""
        if _connection_kwargs(redis).get("decode_responses"):
            raise ValueError("RedisCacheStore needs a client with decode_responses=False")
        self._redis = redis
        self._cluster = is_cluster(redis)
        self.layout = KeyLayout(self._cluster if hash_tags is None else hash_tags)
        self._codec = codec or Codec()
        self._set = redis.register_script(scripts.SET_LUA)
        self._get_or_lock = redis.register_script(scripts.GET_OR_LOCK_LUA)
        self._purge = redis.register_script(scripts.PURGE_LUA)
        self._invalidate = redis.register_script(scripts.INVALIDATE_LUA)

    async def get(self, key: str) -> CacheEntry | None:
        stored = self.layout.entry(key)
        with mapped("cache get"):
            data, invalidated = await self._redis.mget(stored, INVALIDATED_PREFIX + stored)
        return self._decoded(data, invalidated is not None, key)

    async def get_or_lock(
        self, key: str, lock: str, token: str, lock_ms: int
    ) -> tuple[CacheEntry | None, bool]:
        """``get``, and when there is no entry, ``SET lock token NX PX lock_ms`` in the same
        round trip (the miss check of ``zproxy.store.coalesce``): (entry, whether this caller
        now holds the lock). ``lock`` must share the entry's hash slot (``RedisLock.name``)."""
        stored = self.layout.entry(key)
        with mapped("cache get"):
            data, invalidated, locked = await self._get_or_lock(
                keys=[stored, INVALIDATED_PREFIX + stored, lock], args=[token, lock_ms]
            )
        entry = self._decoded(data or None, bool(invalidated), key)
        return entry, bool(locked)

    def _decoded(self, data: object, invalidated: bool, key: str) -> CacheEntry | None:
        if not isinstance(data, bytes):
            return None
        try:
            entry = self._codec.decode(data, key)
        except CorruptEntry:
            return None  # unreadable (e.g. another version's layout): a miss, overwritten later
        return replace(entry, invalidated=True) if invalidated else entry

    async def set(self, key: str, entry: CacheEntry, ttl_seconds: float) -> None:
        principal = principal_of_key(key)
        ttl_ms = max(1, math.ceil(ttl_seconds * 1000))
        tags = list(dict.fromkeys(entry.tags))
        member = self.layout.member(key)
        indexes = [self.layout.principal_index(principal, member)]
        indexes += self._tag_indexes(principal, tags)
        # One node (single Redis, Sentinel): the global tag indexes are written by the same
        # script, one round trip. A Cluster keeps them in other slots: written beside it.
        together = tags if not self._cluster else []
        keys = [self.layout.entry(key), *indexes, *(GLOBAL_TAG_PREFIX + t for t in together)]
        args: list[bytes | int | str] = [
            self._codec.encode(entry, key),
            ttl_ms,
            member,
            len(indexes),
            len(together),
            principal,
            _GLOBAL_SLACK_MS,
        ]
        lease = held_lease(key)
        if lease is not None:
            keys.append(lease.lock)
            args.append(lease.token)
        with mapped("cache set"):
            if tags and not together:
                await asyncio.gather(
                    self._set(keys=keys, args=args), self._index_globally(principal, tags, ttl_ms)
                )
            else:
                await self._set(keys=keys, args=args)
        if lease is not None:
            lease.released = True

    async def _index_globally(self, principal: str, tags: list[str], ttl_ms: int) -> None:
        """``zc:g:{tag}`` gains ``principal`` (plain commands: one key each, any slot)."""
        now = int(time.time() * 1000)
        async with self._redis.pipeline(transaction=False) as pipe:
            for tag in tags:
                index = GLOBAL_TAG_PREFIX + tag
                pipe.zadd(index, {principal: now + ttl_ms}, gt=True)
                pipe.zremrangebyscore(index, "-inf", now - _GLOBAL_SLACK_MS)
                pipe.pexpire(index, ttl_ms + _GLOBAL_SLACK_MS, nx=True)
                pipe.pexpire(index, ttl_ms + _GLOBAL_SLACK_MS, gt=True)
            await pipe.execute()

    async def purge_tags(self, tags: Sequence[str], scope: str | None = None) -> int:
        if not tags:
            return 0
        unique = list(dict.fromkeys(tags))
        if scope is not None:
            return await self._purge_indexes(scope, self._tag_indexes(scope, unique))
        deleted = 0
        for principal, its_tags in (await self._holders(unique)).items():
            deleted += await self._purge_indexes(principal, self._tag_indexes(principal, its_tags))
        return deleted

    async def invalidate_tags(self, tags: Sequence[str]) -> int:
        marked = 0
        for principal, its_tags in (await self._holders(list(dict.fromkeys(tags)))).items():
            with mapped("cache invalidate"):
                marked += int(
                    await self._invalidate(
                        keys=self._tag_indexes(principal, its_tags),
                        args=[self.layout.entry_prefix(principal)],
                    )
                )
        return marked

    async def purge_principal(self, principal: str) -> int:
        return await self._purge_indexes(principal, self.layout.principal_indexes(principal))

    def _tag_indexes(self, principal: str, tags: Sequence[str]) -> list[str]:
        p = self.layout.principal(principal)
        return [f"{TAG_PREFIX}{p}:{tag}" for tag in tags]

    async def _holders(self, tags: Sequence[str]) -> dict[str, list[str]]:
        """principal -> the tags it holds entries with (from the global tag indexes)."""
        if not tags:
            return {}
        with mapped("cache tag index"):
            async with self._redis.pipeline(transaction=False) as pipe:
                for tag in tags:
                    pipe.zrange(GLOBAL_TAG_PREFIX + tag, 0, -1)
                replies = await pipe.execute()
        holders: dict[str, list[str]] = {}
        for tag, members in zip(tags, replies, strict=True):
            for member in members:
                principal = member.decode() if isinstance(member, bytes) else str(member)
                holders.setdefault(principal, []).append(tag)
        return holders

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
        if self._cluster:  # keys of many slots: one UNLINK per slot
            slot_of = cast(Any, self._redis).keyslot
            by_slot: dict[int, list[bytes]] = {}
            for key in entries:
                by_slot.setdefault(slot_of(key), []).append(key)
            for key in others:
                by_slot.setdefault(-1 - slot_of(key), []).append(key)
            counts = await asyncio.gather(*(self._redis.unlink(*ks) for ks in by_slot.values()))
            return sum(int(n) for slot, n in zip(by_slot, counts, strict=True) if slot >= 0)
        async with self._redis.pipeline(transaction=False) as pipe:
            if entries:
                pipe.unlink(*entries)
            if others:
                pipe.unlink(*others)
            results = await pipe.execute()
        return int(results[0]) if entries else 0

    async def _purge_indexes(self, principal: str, indexes: list[str]) -> int:
        """Delete ``indexes`` (all ``principal``'s) and the entries they list."""
        deleted = 0
        prefix = [self.layout.entry_prefix(principal)]
        with mapped("cache purge"):
            for start in range(0, len(indexes), _BATCH):
                batch = indexes[start : start + _BATCH]
                deleted += int(await self._purge(keys=batch, args=prefix))
        return deleted
