"""Breaker state shared through a real Redis: two BreakerSets stand for two processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import redis.asyncio as aioredis

from tests.support.fakes import Transitions, breakers_of, trip
from zproxy.clock import FakeClock
from zproxy.policy.outcomes import Outcome
from zproxy.store.embedded import RedisServer, free_port
from zproxy.upstream.breaker import BreakerSet
from zproxy.upstream.breaker_model import Permit
from zproxy.upstream.breaker_sync import BreakerSync


async def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll until ``predicate`` holds; a generous bound, not a timing assertion."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


@asynccontextmanager
async def process(url: str, clock: FakeClock) -> AsyncIterator[BreakerSync]:
    """One zproxy process's breakers and sync, on its own Redis client."""
    client = aioredis.Redis.from_url(url)
    sync = BreakerSync(client, BreakerSet(clock), backoff=0.05, max_backoff=0.2)
    await sync.start()
    try:
        yield sync
    finally:
        await sync.stop()
        await client.aclose()


async def test_open_in_one_process_is_seen_in_the_other(redis_url: str) -> None:
    clock = FakeClock()
    async with process(redis_url, clock) as a, process(redis_url, clock) as b:
        await eventually(lambda: a.subscribed and b.subscribed)
        seen = Transitions()
        breakers_of(b).add_listener(seen)
        trip(breakers_of(a)["writes"])
        await eventually(lambda: breakers_of(b)["writes"].state == "open")
        assert breakers_of(b)["reads"].state == "closed"  # only that group
        assert seen.seen == [("writes", "closed", "open")]  # metrics see adopted changes
        assert breakers_of(b)["writes"].retry_after() == 10.0  # same opening time

        clock.advance(10)  # a's probe succeeds: both close
        probe = breakers_of(a)["writes"].acquire()
        assert isinstance(probe, Permit)
        breakers_of(a)["writes"].record(probe, Outcome.SUCCESS)
        await eventually(lambda: breakers_of(b)["writes"].state == "closed")


async def test_forced_modes_propagate(redis_url: str) -> None:
    clock = FakeClock()
    async with process(redis_url, clock) as a, process(redis_url, clock) as b:
        await eventually(lambda: a.subscribed and b.subscribed)
        breakers_of(a).set_mode("force_open")
        await eventually(lambda: all(br.mode == "force_open" for br in breakers_of(b)))
        assert all(br.state == "open" for br in breakers_of(b))
        breakers_of(a).set_mode("auto")
        await eventually(lambda: all(br.mode == "auto" for br in breakers_of(b)))
        assert {br.state for br in breakers_of(b)} == {"half_open"}


async def test_a_late_starter_adopts_the_stored_state(
    redis_url: str, redis_client: aioredis.Redis
) -> None:
    clock = FakeClock()
    async with process(redis_url, clock) as a:
        trip(breakers_of(a)["reads"])
        breakers_of(a).set_mode("force_closed", group="writes")
        await eventually(lambda: not a._pending)
        stored = await redis_client.hgetall(a.key("reads"))
        assert stored[b"state"] == b"open"
        assert stored[b"mode"] == b"auto"
        assert float(stored[b"opened_at"]) == clock.time()
        async with process(redis_url, clock) as late:
            await eventually(lambda: late.subscribed)
            assert breakers_of(late)["reads"].state == "open"
            assert breakers_of(late)["writes"].mode == "force_closed"


async def test_own_messages_and_garbage_are_ignored(
    redis_url: str, redis_client: aioredis.Redis
) -> None:
    clock = FakeClock()
    async with process(redis_url, clock) as a:
        await eventually(lambda: a.subscribed)
        for junk in (
            b"not json",
            b"[]",
            b'{"group": "reads", "state": "weird", "mode": "auto"}',
            b'{"group": "nope", "state": "open", "mode": "auto"}',
            b'{"group": "reads", "state": "open", "mode": "auto", "opened_at": "x"}',
        ):
            await redis_client.publish(a.channel, junk)
        mine = (
            b'{"group": "reads", "state": "open", "mode": "force_open", "opened_at": null,'
            b' "origin": "' + a.instance_id.encode() + b'"}'
        )
        await redis_client.publish(a.channel, mine)
        # a message after the junk proves the junk was read and skipped
        await redis_client.publish(
            a.channel, b'{"group": "writes", "state": "open", "mode": "force_open", "origin": "x"}'
        )
        await eventually(lambda: breakers_of(a)["writes"].mode == "force_open")
        assert breakers_of(a)["reads"].mode == "auto"
        assert breakers_of(a)["reads"].state == "closed"
        assert a.subscribed


async def test_no_redis_means_local_state_only() -> None:
    clock = FakeClock()
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    async with process(url, clock) as a:
        await asyncio.sleep(0.1)  # let it fail to connect a few times
        assert not a.subscribed
        trip(breakers_of(a)["reads"])  # never raises into the request path
        breakers_of(a).set_mode("force_open", group="writes")
        assert breakers_of(a)["writes"].state == "open"


async def test_survives_redis_being_killed_and_catches_up(own_redis: RedisServer) -> None:
    clock = FakeClock()
    async with process(own_redis.url, clock) as a, process(own_redis.url, clock) as b:
        await eventually(lambda: a.subscribed and b.subscribed)
        own_redis.kill()
        await eventually(lambda: not a.subscribed and not b.subscribed)
        trip(breakers_of(a)["writes"])  # published later, when Redis is back
        assert breakers_of(b)["writes"].state == "closed"
        own_redis.start()
        await eventually(lambda: breakers_of(b)["writes"].state == "open", timeout=20.0)
        await eventually(lambda: a.subscribed and b.subscribed)
