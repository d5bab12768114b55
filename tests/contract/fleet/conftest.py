"""The contract suites again, on a Sentinel-monitored primary and on a 3-primary Cluster.

One Sentinel set and one Cluster per session (start-up is bounded by the sets themselves;
both are stopped, by their own pids, when the session ends); each test starts on an emptied
keyspace. ``harness`` and ``queue`` override the parent conftest's fixtures of the same names,
so the imported contract tests run here unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.harness import RedisHarness
from tests.support.queue import KEY
from zproxy.clock import FakeClock
from zproxy.queue.crypto import Cipher
from zproxy.queue.partitioned import PartitionedWriteQueue
from zproxy.queue.redis_queue import queue_redis_client
from zproxy.queue.store import WriteQueue
from zproxy.store.connect import redis_client
from zproxy.store.redis import KeyLayout, RedisCacheStore
from zproxy.testing.redis_sets import Binaries, ClusterSet, SentinelSet

TOPOLOGIES = ["sentinel", "cluster"]


@pytest.fixture(scope="session")
def fleet_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    root: Path = tmp_path_factory.mktemp("fleet")
    binaries = Binaries.find()
    sentinel = SentinelSet(root / "sentinel", binaries=binaries)
    cluster = ClusterSet(root / "cluster", binaries=binaries)
    try:
        sentinel.start()
        cluster.start()
        yield {"sentinel": sentinel.url, "cluster": cluster.url}
    finally:
        cluster.stop()
        sentinel.stop()


@dataclass
class FleetHarness(RedisHarness):
    """Reads TTLs where the store keeps the key (``{P}`` hash tags on a Cluster)."""

    layout: KeyLayout

    async def ttl_of(self, key: str) -> float | None:
        return await super().ttl_of(self.layout.entry(key))

    async def expire(self, key: str) -> None:
        await super().expire(self.layout.entry(key))


async def _flushed(url: str):  # type: ignore[no-untyped-def]
    client = redis_client(url, socket_timeout=5, connect_timeout=5, max_connections=32, pool_wait=5)
    await client.flushall()  # a Cluster client sends it to every primary
    return client


@pytest.fixture(params=TOPOLOGIES)
async def harness(
    request: pytest.FixtureRequest, fleet_urls: dict[str, str]
) -> AsyncIterator[FleetHarness]:
    client = await _flushed(fleet_urls[request.param])
    store = RedisCacheStore(client)
    yield FleetHarness(store, client, store.layout)
    await client.aclose()


@pytest.fixture(params=TOPOLOGIES)
async def queue(
    request: pytest.FixtureRequest, fleet_urls: dict[str, str], clock: FakeClock
) -> AsyncIterator[WriteQueue]:
    client = await _flushed(fleet_urls[request.param])
    await client.aclose()
    queue_client = queue_redis_client(fleet_urls[request.param])
    q = PartitionedWriteQueue(
        queue_client, Cipher({"k1": KEY}), partitions=4, clock=clock, reclaim_idle_ms=0
    )
    status = await q.init()
    assert status.ok, status.reason
    yield q
    await queue_client.aclose()
