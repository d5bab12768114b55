"""Breaker state shared through a Redis Cluster and a Sentinel-monitored primary: two
BreakerSets, each with its own client built by ``store.connect`` (as zproxy builds it), stand
for two processes. On the Cluster the keys and the sharded channel share the ``{breaker}`` slot;
on Sentinel the subscription follows a promotion after ``kill -9`` of the primary."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from tests.support.fakes import Transitions, breakers_of, trip
from zproxy.clock import FakeClock
from zproxy.store.connect import redis_client
from zproxy.testing.redis_sets import Binaries, ClusterSet, SentinelSet
from zproxy.upstream.breaker import BreakerSet
from zproxy.upstream.breaker_sync import BreakerSync


@pytest.fixture(scope="module")
def binaries() -> Binaries:
    return Binaries.find()


@pytest.fixture
def cluster(tmp_path: Path, binaries: Binaries) -> Iterator[ClusterSet]:
    with ClusterSet(tmp_path / "cluster", binaries=binaries) as c:
        yield c


@pytest.fixture
def sentinels(tmp_path: Path, binaries: Binaries) -> Iterator[SentinelSet]:
    with SentinelSet(tmp_path / "sentinel", binaries=binaries) as s:
        yield s


async def eventually(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll until ``predicate`` holds; a generous bound, not a timing assertion."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


@asynccontextmanager
async def process(url: str, clock: FakeClock) -> AsyncIterator[BreakerSync]:
    """One zproxy process's breakers and sync, on its own client for ``url``."""
    client = redis_client(url, socket_timeout=2, connect_timeout=1, max_connections=8, pool_wait=2)
    sync = BreakerSync(client, BreakerSet(clock), backoff=0.05, max_backoff=0.5)
    await sync.start()
    try:
        yield sync
    finally:
        await sync.stop()
        await client.aclose()


async def test_cluster_keys_and_channel_share_one_slot(cluster: ClusterSet) -> None:
    clock = FakeClock()
    async with process(cluster.url, clock) as a:
        slots = {key_slot(a.key(b.group).encode()) for b in breakers_of(a)}
        assert slots == {key_slot(a.channel.encode())}
        breakers_of(a).set_mode("force_open", group="writes")
        await eventually(lambda: not a._pending)  # the HSET + SPUBLISH transaction ran
        client = a._redis
        assert isinstance(client, RedisCluster)
        stored = await client.hgetall(a.key("writes"))
        assert stored[b"mode"] == b"force_open"


async def test_cluster_forced_mode_and_transition_reach_the_other_process(
    cluster: ClusterSet,
) -> None:
    clock = FakeClock()
    async with process(cluster.url, clock) as a, process(cluster.url, clock) as b:
        await eventually(lambda: a.subscribed and b.subscribed)
        seen = Transitions()
        breakers_of(b).add_listener(seen)
        trip(breakers_of(a)["writes"])
        await eventually(lambda: breakers_of(b)["writes"].state == "open")
        assert seen.seen == [("writes", "closed", "open")]
        assert breakers_of(b)["reads"].state == "closed"

        breakers_of(b).set_mode("force_open")  # and back the other way
        await eventually(lambda: all(br.mode == "force_open" for br in breakers_of(a)))
        breakers_of(b).set_mode("auto")
        await eventually(lambda: all(br.mode == "auto" for br in breakers_of(a)))


async def test_cluster_late_starter_adopts_the_stored_state(cluster: ClusterSet) -> None:
    clock = FakeClock()
    async with process(cluster.url, clock) as a:
        breakers_of(a).set_mode("force_closed", group="writes")
        trip(breakers_of(a)["reads"])
        await eventually(lambda: not a._pending)
        async with process(cluster.url, clock) as late:
            await eventually(lambda: late.subscribed)
            assert breakers_of(late)["writes"].mode == "force_closed"
            assert breakers_of(late)["reads"].state == "open"


async def test_sentinel_sharing_survives_a_promotion(sentinels: SentinelSet) -> None:
    clock = FakeClock()
    async with process(sentinels.url, clock) as a, process(sentinels.url, clock) as b:
        await eventually(lambda: a.subscribed and b.subscribed)
        breakers_of(a).set_mode("force_open", group="writes")
        await eventually(lambda: breakers_of(b)["writes"].mode == "force_open")

        old = await asyncio.to_thread(sentinels.kill_primary)
        await asyncio.to_thread(sentinels.wait_for_promotion, old)
        # Both re-subscribe on the promoted replica by themselves.
        await eventually(lambda: a.subscribed and b.subscribed, timeout=30)
        breakers_of(b).set_mode("force_closed", group="reads")
        await eventually(lambda: breakers_of(a)["reads"].mode == "force_closed", timeout=30)
        breakers_of(a).set_mode("auto", group="writes")
        await eventually(lambda: breakers_of(b)["writes"].mode == "auto", timeout=30)
