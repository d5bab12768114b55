"""One upstream call per cache key, however many requests miss it at once.

Two layers:

* ``SingleFlight`` (in process): concurrent callers of one key await one shared task. Its
  exception reaches all of them; cancelling one waiter does not cancel the shared fetch.
* ``RedisLock`` (across workers): ``SET key token NX PX ms``, released by compare-and-delete.

While the lock holder's ``fetch`` runs, ``held_lease(key)`` returns its ``Lease``: a store that
writes that key's entry may release the lock in the same round trip (compare-and-delete inside
its script) and mark the lease ``released``; otherwise the lock is released after ``fetch``.
A stored miss thus costs two round trips of the cache: the miss check, which takes the lock in
the same script when there is no entry (``Claim``, ``RedisCacheStore.get_or_lock``), and the
store, which releases it.

``Coalescer.run`` combines them: the lock holder fetches (and the caller's ``fetch`` stores);
other workers poll ``read_cached`` until the answer appears, and fetch themselves (a
pass-through) when the holder finished without a storable answer, when waiting exceeds
``wait``, or when Redis is unavailable. For a revalidation, ``read_cached`` must return only an
entry newer than the stale one in hand, or waiters take the stale one.
``Coalescer.revalidate_once`` is for background revalidations: nobody waits, so a key already
being fetched here or elsewhere is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial
from typing import Any, Final, TypeVar, cast

import redis.asyncio as aioredis

from zproxy.clock import Clock, SystemClock
from zproxy.errors import StoreUnavailable
from zproxy.policy.keys import ENTRY_PREFIX, KEY_PREFIX
from zproxy.store._errors import mapped
from zproxy.store.connect import is_cluster

T = TypeVar("T")
LOCK_PREFIX: Final = KEY_PREFIX + "l:"
#: A waiter's first look for the holder's entry (then doubling up to ``poll``).
_FIRST_POLL: Final = 0.005

_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(slots=True)
class Lease:
    """The cross-worker lock a running fetch holds on one cache key."""

    key: str
    #: The lock's Redis key and the holder's token (release = compare-and-delete).
    lock: str
    token: str
    #: Set by whoever released the lock (a store script), so it is not released twice.
    released: bool = False


#: The lease of the fetch running in this task (set by ``Coalescer`` around ``fetch``).
_LEASE: ContextVar[Lease | None] = ContextVar("zproxy_lease", default=None)


def held_lease(key: str) -> Lease | None:
    """The unreleased lease the running fetch holds on ``key``, else None."""
    lease = _LEASE.get()
    if lease is None or lease.key != key or lease.released:
        return None
    return lease


@dataclass(slots=True)
class Claim:
    """The lock a miss check may take in its own round trip (``RedisCacheStore.get_or_lock``:
    when there is no entry, ``SET lock token NX``). ``attempted``: the check found no entry
    and tried; ``held``: it took the lock, which ``Coalescer.run`` then uses (``used``) or
    releases. Made by ``Coalescer.claim``; the lock's name and token only when a check
    reaches Redis (a hit held in process costs nothing more)."""

    key: str
    service: RedisLock
    token: str = ""
    attempted: bool = False
    held: bool = False
    used: bool = False

    def take(self) -> tuple[str, str, int]:
        """(lock key, a new token, lock ms) for the check's script."""
        self.token = self.service.new_token()
        return self.service.lock_name(self.key), self.token, self.service.ttl_ms


class SingleFlight:
    """In-process deduplication of concurrent calls by key."""

    def __init__(self) -> None:
        self._inflight: dict[str, asyncio.Task[Any]] = {}

    def busy(self, key: str) -> bool:
        return key in self._inflight

    async def fetch_once(self, key: str, fetch: Callable[[], Awaitable[T]]) -> T:
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(_call(fetch))
            self._inflight[key] = task
            task.add_done_callback(partial(self._done, key))
        # shield: a cancelled waiter stops waiting; the shared fetch goes on for the others
        return cast(T, await asyncio.shield(task))

    def _done(self, key: str, task: asyncio.Task[Any]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved: no "exception never retrieved" when all waiters left


async def _call(fetch: Callable[[], Awaitable[T]]) -> T:
    return await fetch()


class RedisLock:
    """A short cross-process lock per cache key; Redis errors raise ``StoreUnavailable``."""

    def __init__(
        self, redis: aioredis.Redis, *, ttl: float = 10.0, hash_tags: bool | None = None
    ) -> None:
        """``hash_tags``: name locks ``zc:l:{P}:...`` so a store script can release them in
        the entry's hash slot (default: on a Cluster client only)."""
        self._redis = redis
        self._hash_tags = is_cluster(redis) if hash_tags is None else hash_tags
        self.ttl_ms = max(1, int(ttl * 1000))
        self._release = redis.register_script(_RELEASE_LUA)
        # Tokens only need to be unique: a random prefix per lock service, then a counter.
        self._token_prefix = secrets.token_hex(8)
        self._serial = itertools.count()

    @staticmethod
    def name(key: str, hash_tags: bool = False) -> str:
        """The lock of cache key ``zc:e:P:d``: ``zc:l:P:d`` (``zc:l:{P}:d`` with hash tags)."""
        rest = key.removeprefix(ENTRY_PREFIX)
        if hash_tags:
            principal, sep, digest = rest.partition(":")
            rest = "{" + principal + "}" + sep + digest
        return LOCK_PREFIX + rest

    def lock_name(self, key: str) -> str:
        return self.name(key, self._hash_tags)

    def new_token(self) -> str:
        return f"{self._token_prefix}{next(self._serial):x}"

    async def acquire(self, key: str) -> str | None:
        """A token when this caller now holds the lock, else None."""
        token = self.new_token()
        with mapped("lock"):
            got = await self._redis.set(self.lock_name(key), token, nx=True, px=self.ttl_ms)
        return token if got else None

    async def release(self, key: str, token: str) -> bool:
        """Delete the lock only if ``token`` still holds it."""
        with mapped("unlock"):
            return bool(await self._release(keys=[self.lock_name(key)], args=[token]))

    async def held(self, key: str) -> bool:
        with mapped("lock check"):
            return bool(await self._redis.exists(self.lock_name(key)))


class Coalescer:
    """SingleFlight in process, ``RedisLock`` across processes (None: in process only)."""

    def __init__(
        self,
        lock: RedisLock | None,
        *,
        wait: float = 5.0,
        poll: float = 0.05,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._lock = lock
        self._wait = wait
        self._poll = poll
        self._clock = clock or SystemClock()
        self._sleep = sleep
        self._flight = SingleFlight()

    def claim(self, key: str) -> Claim | None:
        """A claim for the miss check of ``key`` to try (None: no lock service)."""
        if self._lock is None:
            return None
        return Claim(key, self._lock)

    async def run(
        self,
        key: str,
        fetch: Callable[[], Awaitable[T]],
        read_cached: Callable[[], Awaitable[T | None]],
        claim: Claim | None = None,
    ) -> T:
        """The answer for ``key``: fetched by one caller across all workers, or read back.
        ``claim``: what the miss check learned of the lock (no second round trip for it)."""
        try:
            return await self._flight.fetch_once(
                key, partial(self._across_workers, key, fetch, read_cached, claim)
            )
        finally:
            if claim is not None:
                await self.drop_claim(claim)  # when it joined a fetch already running here

    async def drop_claim(self, claim: Claim) -> None:
        """Release a lock the miss check took and nobody used."""
        if claim.held and not claim.used and self._lock is not None:
            claim.used = True
            with contextlib.suppress(StoreUnavailable):
                await self._lock.release(claim.key, claim.token)

    async def revalidate_once(self, key: str, fetch: Callable[[], Awaitable[T]]) -> T | None:
        """Run ``fetch`` unless ``key`` is already being fetched here or in another worker."""
        if self._flight.busy(key):
            return None
        return await self._flight.fetch_once(key, partial(self._if_lock_free, key, fetch))

    async def _if_lock_free(self, key: str, fetch: Callable[[], Awaitable[T]]) -> T | None:
        token = await self._try_acquire(key)
        if token is None:
            return None
        return await self._holding(key, token, fetch)

    async def _across_workers(
        self,
        key: str,
        fetch: Callable[[], Awaitable[T]],
        read_cached: Callable[[], Awaitable[T | None]],
        claim: Claim | None = None,
    ) -> T:
        if claim is not None and claim.attempted:
            claim.used = claim.held
            token = claim.token if claim.held else None
        else:
            token = await self._try_acquire(key)
        if token is not None:
            return await self._holding(key, token, fetch)
        if self._lock is not None:
            cached = await self._wait_for(key, read_cached)
            if cached is not None:
                return cached
        return await fetch()

    async def _try_acquire(self, key: str) -> str | None:
        """A lock token; "" means: no lock service, go ahead; None: someone else holds it."""
        if self._lock is None:
            return ""
        try:
            return await self._lock.acquire(key)
        except StoreUnavailable:
            return ""

    async def _holding(self, key: str, token: str, fetch: Callable[[], Awaitable[T]]) -> T:
        if not token or self._lock is None:
            return await fetch()
        lease = Lease(key, self._lock.lock_name(key), token)
        previous = _LEASE.set(lease)
        try:
            return await fetch()
        finally:
            _LEASE.reset(previous)
            if not lease.released:
                with contextlib.suppress(StoreUnavailable):  # else it expires by itself
                    await self._lock.release(key, token)

    async def _wait_for(self, key: str, read_cached: Callable[[], Awaitable[T | None]]) -> T | None:
        assert self._lock is not None
        deadline = self._clock.monotonic() + self._wait
        pause = min(_FIRST_POLL, self._poll)
        while self._clock.monotonic() < deadline:
            # soon at first (the holder may be storing its answer already), then every ``poll``
            await self._sleep(pause)
            pause = min(pause * 2, self._poll)
            try:
                cached = await read_cached()
                if cached is not None:
                    return cached
                if not await self._lock.held(key):
                    # released: the answer was stored just now, or was not storable
                    return await read_cached()
            except StoreUnavailable:
                return None
        return None
