"""Coalescing: one upstream call per key, in one process and across workers."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from zproxy.clock import FakeClock
from zproxy.store.coalesce import Coalescer, RedisLock, SingleFlight
from zproxy.store.embedded import RedisServer

KEY = "zc:e:tA:0123"


class Upstream:
    """A fetch that blocks until released and counts its calls."""

    def __init__(self, result: str = "answer") -> None:
        self.calls = 0
        self.release = asyncio.Event()
        self.started = asyncio.Event()
        self.result = result
        self.error: Exception | None = None

    async def fetch(self) -> str:
        self.calls += 1
        self.started.set()
        await self.release.wait()
        if self.error is not None:
            raise self.error
        return self.result


async def test_hundred_concurrent_callers_share_one_fetch() -> None:
    flight, up = SingleFlight(), Upstream()
    waiters = [asyncio.ensure_future(flight.fetch_once(KEY, up.fetch)) for _ in range(100)]
    await up.started.wait()
    up.release.set()
    assert await asyncio.gather(*waiters) == ["answer"] * 100
    assert up.calls == 1
    assert not flight.busy(KEY)


async def test_other_keys_fetch_separately() -> None:
    flight, up = SingleFlight(), Upstream()
    up.release.set()
    assert await asyncio.gather(flight.fetch_once("a", up.fetch), flight.fetch_once("b", up.fetch))
    assert up.calls == 2


async def test_an_exception_reaches_every_waiter() -> None:
    flight, up = SingleFlight(), Upstream()
    up.error = RuntimeError("upstream reset")
    waiters = [asyncio.ensure_future(flight.fetch_once(KEY, up.fetch)) for _ in range(5)]
    up.release.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert up.calls == 1
    up.error = None
    assert await flight.fetch_once(KEY, up.fetch) == "answer"  # failures are not remembered
    assert up.calls == 2


async def test_a_cancelled_waiter_does_not_cancel_the_shared_fetch() -> None:
    flight, up = SingleFlight(), Upstream()
    first = asyncio.ensure_future(flight.fetch_once(KEY, up.fetch))
    second = asyncio.ensure_future(flight.fetch_once(KEY, up.fetch))
    await up.started.wait()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    up.release.set()
    assert await second == "answer"
    assert up.calls == 1


async def test_the_fetch_finishes_even_when_every_waiter_left() -> None:
    flight, up = SingleFlight(), Upstream()
    stored: list[str] = []

    async def fetch_and_store() -> str:
        result = await up.fetch()
        stored.append(result)
        return result

    only = asyncio.ensure_future(flight.fetch_once(KEY, fetch_and_store))
    await up.started.wait()
    shared = flight._inflight[KEY]
    only.cancel()
    up.release.set()
    assert await shared == "answer"
    assert stored == ["answer"]
    assert only.cancelled()


class Worker:
    """One zproxy worker: its own Redis client and Coalescer, a cache shared through Redis."""

    def __init__(self, url: str, up: Upstream, cache: dict[str, str], **kw: object) -> None:
        self.client = aioredis.Redis.from_url(url)
        self.coalescer = Coalescer(RedisLock(self.client, ttl=30), poll=0.005, **kw)  # type: ignore[arg-type]
        self.up, self.cache = up, cache
        self.reads = 0
        self.read_once = asyncio.Event()

    async def fetch_and_store(self) -> str:
        result = await self.up.fetch()
        if result != "not storable":
            self.cache[KEY] = result
        return result

    async def read_cached(self) -> str | None:
        self.reads += 1
        self.read_once.set()
        return self.cache.get(KEY)

    async def get(self) -> str:
        return await self.coalescer.run(KEY, self.fetch_and_store, self.read_cached)


async def test_two_workers_fetch_once_between_them(redis_url: str) -> None:
    up, cache = Upstream(), dict[str, str]()
    a, b = Worker(redis_url, up, cache), Worker(redis_url, up, cache)
    from_a = asyncio.ensure_future(a.get())
    await up.started.wait()
    from_b = [asyncio.ensure_future(b.get()) for _ in range(10)]
    await b.read_once.wait()  # b is waiting on a's lock
    up.release.set()
    assert await from_a == "answer"
    assert await asyncio.gather(*from_b) == ["answer"] * 10
    assert up.calls == 1
    assert not await a.client.exists(RedisLock.name(KEY))  # released
    await a.client.aclose()
    await b.client.aclose()


async def test_a_waiter_fetches_itself_when_the_answer_was_not_stored(redis_url: str) -> None:
    up, cache = Upstream("not storable"), dict[str, str]()
    a, b = Worker(redis_url, up, cache), Worker(redis_url, up, cache)
    from_a = asyncio.ensure_future(a.get())
    await up.started.wait()
    from_b = asyncio.ensure_future(b.get())
    await b.read_once.wait()
    up.release.set()
    assert await from_a == await from_b == "not storable"
    assert up.calls == 2
    await a.client.aclose()
    await b.client.aclose()


async def test_a_waiter_gives_up_after_wait_and_passes_through(redis_url: str) -> None:
    clock = FakeClock()

    async def sleep(seconds: float) -> None:
        clock.advance(seconds)
        await asyncio.sleep(0)

    up, cache = Upstream(), dict[str, str]()
    a = Worker(redis_url, up, cache)
    b = Worker(redis_url, up, cache, clock=clock, sleep=sleep, wait=1.0)
    from_a = asyncio.ensure_future(a.get())
    await up.started.wait()
    up.started.clear()
    from_b = asyncio.ensure_future(b.get())
    await up.started.wait()  # b gave up waiting on a's lock and fetched itself
    assert b.reads >= 1
    up.release.set()
    assert await from_a == await from_b == "answer"
    assert up.calls == 2
    await a.client.aclose()
    await b.client.aclose()


async def test_without_redis_it_still_coalesces_in_process(own_redis: RedisServer) -> None:
    client = aioredis.Redis.from_url(own_redis.url, retry=Retry(NoBackoff(), 0))
    own_redis.kill()
    up = Upstream()
    coalescer = Coalescer(RedisLock(client))

    async def never_cached() -> str | None:
        return None

    waiters = [asyncio.ensure_future(coalescer.run(KEY, up.fetch, never_cached)) for _ in range(10)]
    await up.started.wait()
    up.release.set()
    assert await asyncio.gather(*waiters) == ["answer"] * 10
    assert up.calls == 1
    await client.aclose()


async def test_lock_release_is_compare_and_delete(redis_client: aioredis.Redis) -> None:
    lock = RedisLock(redis_client, ttl=5)
    token = await lock.acquire(KEY)
    assert token is not None
    assert await lock.acquire(KEY) is None
    assert not await lock.release(KEY, "someone-else")
    assert await lock.held(KEY)
    assert 0 < await redis_client.pttl(RedisLock.name(KEY)) <= 5000
    assert await lock.release(KEY, token)
    assert not await lock.held(KEY)


async def test_revalidate_once_skips_keys_already_in_flight(redis_url: str) -> None:
    up, cache = Upstream(), dict[str, str]()
    a, b = Worker(redis_url, up, cache), Worker(redis_url, up, cache)
    first = asyncio.ensure_future(a.coalescer.revalidate_once(KEY, up.fetch))
    await up.started.wait()
    assert await a.coalescer.revalidate_once(KEY, up.fetch) is None  # busy here
    assert await b.coalescer.revalidate_once(KEY, up.fetch) is None  # locked by a
    up.release.set()
    assert await first == "answer"
    assert up.calls == 1
    assert await b.coalescer.revalidate_once(KEY, up.fetch) == "answer"  # free again
    await a.client.aclose()
    await b.client.aclose()
