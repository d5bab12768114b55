"""The fleet-wide concurrency cap against a real Redis: two ``FleetLimiter`` instances on their
own Redis clients stand for two zproxy processes; a crashed process is a real process killed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from zproxy.clock import FakeClock
from zproxy.store.embedded import RedisServer, free_port
from zproxy.upstream.fleet_limiter import FleetLimiter
from zproxy.upstream.limiter import ConcurrencyLimiter, LimiterConfig, LimiterRejected, Reason

SCOPE = "tenant-test"
ROOT = Path(__file__).resolve().parents[3]


class Events:
    """A ``LimiterListener`` that remembers what it was told."""

    def __init__(self) -> None:
        self.rejected: list[tuple[str, Reason]] = []
        self.waited: list[tuple[str, Reason]] = []

    def on_wait(self, pool: str, reason: Reason, seconds: float) -> None:
        self.waited.append((pool, reason))

    def on_reject(self, pool: str, reason: Reason) -> None:
        self.rejected.append((pool, reason))


@asynccontextmanager
async def process(
    url: str,
    pools: Mapping[str, int],
    *,
    max_wait: float = 5.0,
    lease: float = 10.0,
    clock: FakeClock | None = None,
    listener: Events | None = None,
) -> AsyncIterator[FleetLimiter]:
    """One zproxy process's limiter, on its own Redis client."""
    client = aioredis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    config = LimiterConfig(pools=dict(pools), max_wait=max_wait)
    local = ConcurrencyLimiter(config, clock or FakeClock(), listener=listener)
    limiter = FleetLimiter(local, client, scope=SCOPE, lease=lease, listener=listener)
    try:
        yield limiter
    finally:
        await limiter.close()
        await client.aclose()


async def test_two_processes_sharing_a_cap_never_exceed_it(redis_url: str) -> None:
    cap = 3
    pools = {"default": cap, "zoql": 2}
    holding, most = 0, 0

    async def call(limiter: FleetLimiter) -> None:
        nonlocal holding, most
        slot = await limiter.acquire("default")
        holding += 1
        most = max(most, holding)
        try:
            await asyncio.sleep(0.03)
        finally:
            holding -= 1
            limiter.release(slot)

    async with process(redis_url, pools) as a, process(redis_url, pools) as b:
        await asyncio.gather(*(call(a if i % 2 else b) for i in range(24)))
        assert most == cap  # each process alone would have let 3 + 3 through
        assert not a.fallback
        assert not b.fallback
        await a.close()  # waits for the background removals
        await b.close()
        assert await a.fleet_in_flight("default") == 0


async def test_a_call_over_the_fleet_cap_is_refused_after_max_wait(redis_url: str) -> None:
    pools = {"default": 2}
    events = Events()
    async with (
        process(redis_url, pools) as a,
        process(redis_url, pools, max_wait=0.1, listener=events) as b,
    ):
        held = [await a.acquire("default"), await a.acquire("default")]
        assert await b.fleet_in_flight("default") == 2
        with pytest.raises(LimiterRejected) as refused:
            await b.acquire("default")
        assert refused.value.reason == "concurrency"
        assert events.rejected == [("default", "concurrency")]
        assert b.in_flight("default") == 0  # the local slot was handed back
        a.release(held[0])
        slot = await b.acquire("default")  # woken by polling, within max_wait
        b.release(slot)
        a.release(held[1])


async def test_pools_are_capped_separately(redis_url: str) -> None:
    pools = {"default": 1, "zoql": 1}
    async with process(redis_url, pools, max_wait=0.05) as a, process(redis_url, pools) as b:
        zoql = await a.acquire("zoql")
        default = await b.acquire("default")
        with pytest.raises(LimiterRejected):
            await a.acquire("zoql")
        a.release(zoql)
        b.release(default)


_HOLDER = textwrap.dedent(
    """
    import asyncio, sys
    import redis.asyncio as aioredis
    from zproxy.clock import FakeClock
    from zproxy.upstream.fleet_limiter import FleetLimiter
    from zproxy.upstream.limiter import ConcurrencyLimiter, LimiterConfig

    async def main() -> None:
        client = aioredis.Redis.from_url(sys.argv[1])
        local = ConcurrencyLimiter(LimiterConfig(pools={"default": 2}), FakeClock())
        limiter = FleetLimiter(local, client, scope=sys.argv[2], lease=float(sys.argv[3]))
        await limiter.acquire("default")
        await limiter.acquire("default")
        print("held", flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
    """
)


async def test_a_crashed_process_slots_free_themselves_after_their_lease(redis_url: str) -> None:
    lease = 0.6
    holder = subprocess.Popen(  # noqa: ASYNC220 - a short-lived child, killed below
        [sys.executable, "-c", _HOLDER, redis_url, SCOPE, str(lease)],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert holder.stdout is not None
        line = await asyncio.to_thread(holder.stdout.readline)
        assert line.strip() == b"held"
        async with process(redis_url, {"default": 2}, max_wait=0.0) as b:
            assert await b.fleet_in_flight("default") == 2
            with pytest.raises(LimiterRejected):
                await b.acquire("default")  # the live holder renews its leases
            await asyncio.sleep(lease * 2)
            with pytest.raises(LimiterRejected):
                await b.acquire("default")
            holder.send_signal(signal.SIGKILL)  # a crash: nothing is handed back
            holder.wait(timeout=10)
            async with process(redis_url, {"default": 2}, max_wait=lease * 5) as c:
                first = await c.acquire("default")  # waits out the dead process's lease
                second = await c.acquire("default")
                assert await c.fleet_in_flight("default") == 2
                c.release(first)
                c.release(second)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=10)
        if holder.stdout is not None:
            holder.stdout.close()


async def test_a_long_call_keeps_its_slot_past_the_lease(redis_url: str) -> None:
    lease = 0.3
    pools = {"default": 1}
    async with (
        process(redis_url, pools, lease=lease) as a,
        process(redis_url, pools, max_wait=0.0) as b,
    ):
        slot = await a.acquire("default")
        for _ in range(6):  # 1.2 s: four leases long
            await asyncio.sleep(lease / 1.5)
            with pytest.raises(LimiterRejected):
                await b.acquire("default")
        a.release(slot)
        await a.close()  # waits for the background removal
        b.release(await b.acquire("default"))


async def test_redis_down_falls_back_to_the_per_process_cap(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis", port=free_port(), appendonly=False)
    server.start()
    clock = FakeClock()
    try:
        async with process(server.url, {"default": 2}, max_wait=0.0, clock=clock) as a:
            fleet = await a.acquire("default")
            assert await a.fleet_in_flight("default") == 1
            server.kill()
            a.release(fleet)  # its removal fails quietly: the lease would free it
            first = await a.acquire("default")
            assert a.fallback
            second = await a.acquire("default")
            with pytest.raises(LimiterRejected):
                await a.acquire("default")  # the in-process cap still holds
            a.release(first)
            a.release(second)

            server.start()
            clock.advance(1.0)  # redis_retry: Redis is tried again
            again = await a.acquire("default")
            assert not a.fallback
            assert await a.fleet_in_flight("default") == 1
            a.release(again)
    finally:
        server.kill()
