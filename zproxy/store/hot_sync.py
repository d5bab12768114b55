"""The hot layer kept true across workers and hosts: a ``CacheStore`` in front of the Redis
store, and the Redis pub/sub channel every purge is announced on.

``HotCacheStore`` answers ``get`` from the worker's ``HotLayer`` when it can, else from the
inner store; ``set`` holds the entry, then stores it in Redis (a purge of this worker waits
for stores under way, so it always comes after them). Every purge (``purge_tags``,
``invalidate_tags`` = a write's or a callout's soft purge, ``purge_principal``, ``purge_all``)
runs on Redis first, then drops the entries here and publishes one message on ``CHANNEL``;
``listen`` (one task per worker) applies every message to its layer, so a purge anywhere
reaches every worker within the pub/sub delivery time (milliseconds). While the listener is
not subscribed (Redis down, reconnecting) the layer keeps serving, each entry only inside its
own windows; once subscribed again it drops everything, since messages may have been missed.

On a Redis Cluster the channel is a sharded one (``SPUBLISH``/``SSUBSCRIBE`` through redis-py's
``ClusterPubSub``, as ``zproxy.upstream.breaker_sync`` does).

Messages are small JSON objects: ``{"op": "tags", "tags": [...], "scope": null}``,
``{"op": "principal", "principal": "..."}``, ``{"op": "all"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, cast

import orjson
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from zproxy.clock import Clock
from zproxy.errors import StoreUnavailable
from zproxy.store._errors import mapped
from zproxy.store.cache import CacheEntry, CacheStore
from zproxy.store.coalesce import Claim
from zproxy.store.connect import raise_if_cancelled
from zproxy.store.hot import HotLayer
from zproxy.store.redis import RedisCacheStore

CHANNEL: Final = "zc:hot"
_RETRY_SECONDS: Final = 0.5
_POLL_SECONDS: Final = 1.0


def tags_message(tags: Sequence[str], scope: str | None = None) -> bytes:
    return orjson.dumps({"op": "tags", "tags": list(tags), "scope": scope})


def principal_message(principal: str) -> bytes:
    return orjson.dumps({"op": "principal", "principal": principal})


def all_message() -> bytes:
    return orjson.dumps({"op": "all"})


def apply(layer: HotLayer, data: bytes | str) -> int:
    """Apply one channel message to ``layer``; anything unreadable drops everything (a
    message we cannot read may have been a purge). Returns the entries dropped."""
    try:
        msg: Any = orjson.loads(data)
        op = msg["op"]
        if op == "tags":
            scope = msg.get("scope")
            return layer.drop_tags(
                [str(t) for t in msg["tags"]], str(scope) if scope is not None else None
            )
        if op == "principal":
            return layer.drop_principal(str(msg["principal"]))
        if op == "all":
            return layer.drop_all()
    except (orjson.JSONDecodeError, KeyError, TypeError):
        pass
    return layer.drop_all()


class HotCacheStore:
    """A ``CacheStore``: the worker's hot layer in front of ``inner`` (the Redis store), with
    purges announced on ``CHANNEL`` through ``redis`` (None: this worker only, for tests)."""

    def __init__(
        self,
        inner: CacheStore,
        layer: HotLayer,
        clock: Clock,
        redis: aioredis.Redis | None = None,
    ) -> None:
        self.inner = inner
        self.layer = layer
        self._clock = clock
        self._redis = redis
        self._storing: set[asyncio.Future[None]] = set()

    async def get(self, key: str) -> CacheEntry | None:
        """From Redis (a coalescing waiter polls here for what another worker stored: the
        layer must not hide it); the held copy only while Redis is unreachable, inside its
        windows."""
        try:
            return await self.inner.get(key)
        except StoreUnavailable:
            held = self.layer.get(key, self._clock.time())
            if held is None:
                raise
            return held

    async def get_within(
        self, key: str, ttl_seconds: float, claim: Claim | None = None
    ) -> CacheEntry | None:
        """From the layer, else from Redis, then held until ``stored_at + ttl_seconds`` (the
        route's fresh + max(swr, sie), as ``ReadPolicy.ttl``) unless a drop came meanwhile.
        ``claim``: on a miss in Redis, take the key's coalescing lock in the same round trip."""
        held = self.layer.get(key, self._clock.time())
        if held is not None:
            return held
        return await self.load(key, ttl_seconds, claim)

    async def load(
        self, key: str, ttl_seconds: float, claim: Claim | None = None
    ) -> CacheEntry | None:
        """From Redis, then held (as ``get_within``): what another worker stored since."""
        generation = self.layer.generation
        if claim is not None and isinstance(self.inner, RedisCacheStore):
            entry, claim.held = await self.inner.get_or_lock(key, *claim.take())
            claim.attempted = entry is None
        else:
            entry = await self.inner.get(key)
        if entry is not None:
            now = self._clock.time()
            self.layer.put(key, entry, entry.stored_at + ttl_seconds, now, generation)
        return entry

    async def set(self, key: str, entry: CacheEntry, ttl_seconds: float) -> None:
        """Held here at once, then stored in Redis. A purge that starts meanwhile waits for
        this store (``_settled``), so it cannot run before the entry it should remove lands."""
        now = self._clock.time()
        self.layer.put(key, entry, min(now, entry.stored_at) + ttl_seconds, now)
        done = asyncio.get_running_loop().create_future()
        self._storing.add(done)
        try:
            await self.inner.set(key, entry, ttl_seconds)
        finally:
            self._storing.discard(done)
            done.set_result(None)

    async def _settled(self) -> None:
        """Wait for this worker's stores under way: a purge must come after them."""
        if self._storing:
            await asyncio.wait(list(self._storing))

    async def purge_tags(self, tags: Sequence[str], scope: str | None = None) -> int:
        await self._settled()
        count = await self.inner.purge_tags(tags, scope)
        self.layer.drop_tags(tags, scope)
        await self._publish(tags_message(tags, scope))
        return count

    async def invalidate_tags(self, tags: Sequence[str]) -> int:
        await self._settled()
        count = await self.inner.invalidate_tags(tags)
        self.layer.drop_tags(tags)
        await self._publish(tags_message(tags))
        return count

    async def purge_principal(self, principal: str) -> int:
        await self._settled()
        count = await self.inner.purge_principal(principal)
        self.layer.drop_principal(principal)
        await self._publish(principal_message(principal))
        return count

    async def purge_all(self) -> int:
        await self._settled()
        count = await self.inner.purge_all()
        self.layer.drop_all()
        await self._publish(all_message())
        return count

    async def _publish(self, message: bytes) -> None:
        if self._redis is None:
            return
        with mapped("cache publish"):
            if isinstance(self._redis, RedisCluster):  # a sharded channel (one slot's node)
                await self._redis.spublish(CHANNEL, message)
            else:
                await self._redis.publish(CHANNEL, message)


async def get_within(
    cache: CacheStore, key: str, ttl_seconds: float, claim: Claim | None = None
) -> CacheEntry | None:
    """The read path's lookup: through the hot layer when ``cache`` has one (and then, on a
    miss, with the coalescing lock taken in the same round trip when ``claim`` is given)."""
    if isinstance(cache, HotCacheStore):
        return await cache.get_within(key, ttl_seconds, claim)
    return await cache.get(key)


async def stored_newer(cache: CacheStore, key: str, ttl_seconds: float, than: CacheEntry) -> bool:
    """Before a stale held entry is revalidated: did another worker store a newer one? Then
    it is held from now on and no call to Zuora is needed (without a layer: never, the
    lookup just read Redis)."""
    if not isinstance(cache, HotCacheStore):
        return False
    try:
        entry = await cache.load(key, ttl_seconds)
    except StoreUnavailable:
        return False
    return entry is not None and not entry.invalidated and entry.stored_at > than.stored_at


async def listen(
    redis: aioredis.Redis,
    layer: HotLayer,
    *,
    subscribed: asyncio.Event | None = None,
    on_error: Callable[[str], None] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Apply every ``CHANNEL`` message to ``layer`` until cancelled (run it as a task per
    worker). ``subscribed`` is set each time the subscription is (re)made, after the layer
    was emptied; Redis errors are reported to ``on_error`` and retried."""
    sharded = isinstance(redis, RedisCluster)
    while True:
        pubsub: Any = redis.pubsub(ignore_subscribe_messages=True)
        try:
            if sharded:  # a Cluster: the channel is sharded (SSUBSCRIBE on its slot's node)
                await cast(RedisCluster, redis).initialize()
                await pubsub.ssubscribe(CHANNEL)
            else:
                await pubsub.subscribe(CHANNEL)
            layer.drop_all()  # whatever was published while we were away is unknown
            if subscribed is not None:
                subscribed.set()
            while True:
                if sharded:
                    message = await pubsub.get_sharded_message(timeout=_POLL_SECONDS)
                else:
                    message = await pubsub.get_message(timeout=None)
                raise_if_cancelled()
                if message is not None and message.get("type") in ("message", "smessage"):
                    apply(layer, message["data"])
        except (RedisError, OSError):
            if subscribed is not None:
                subscribed.clear()
            if on_error is not None:
                on_error("hot_listen")
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()
        await sleep(_RETRY_SECONDS)
