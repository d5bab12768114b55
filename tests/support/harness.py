"""A cache-store harness per implementation, for the store contract suite."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis

from zproxy.clock import FakeClock
from zproxy.store.cache import CacheStore
from zproxy.store.memory import MemoryCacheStore
from zproxy.store.redis import RedisCacheStore


class Harness(Protocol):
    @property
    def store(self) -> CacheStore: ...

    async def ttl_of(self, key: str) -> float | None: ...

    async def expire(self, key: str) -> None: ...


@dataclass
class MemoryHarness:
    store: MemoryCacheStore
    clock: FakeClock

    async def ttl_of(self, key: str) -> float | None:
        return self.store.ttl_of(key)

    async def expire(self, key: str) -> None:
        ttl = self.store.ttl_of(key)
        if ttl is not None:
            self.clock.advance(ttl)  # memory store ages everything: good enough for one key


@dataclass
class RedisHarness:
    store: RedisCacheStore
    redis: aioredis.Redis

    async def ttl_of(self, key: str) -> float | None:
        pttl = int(await self.redis.pttl(key))
        return None if pttl < 0 else pttl / 1000

    async def expire(self, key: str) -> None:
        await self.redis.pexpireat(key, 1)  # a time in the past: gone now, as on expiry
