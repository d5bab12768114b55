"""The Sentinel fixture is a real one: redis-py finds the primary through it, a replica
acknowledges writes, and after ``kill -9`` of the primary a client reaches the promoted replica,
which holds everything acknowledged by ``WAIT 1`` before the kill."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError, TimeoutError

from tests.support import eventually
from zproxy.testing.redis_sets import Binaries, RedisSetError, SentinelSet

pytestmark = pytest.mark.slow


@pytest.fixture
async def sentinel(sentinel_set: SentinelSet) -> AsyncIterator[Sentinel]:
    client = Sentinel(sentinel_set.sentinel_addresses, socket_timeout=1.0)
    yield client
    await client.aclose()


def test_url_names_every_sentinel_and_the_primary_set(sentinel_set: SentinelSet) -> None:
    url = urlsplit(sentinel_set.url)
    assert url.scheme == "redis+sentinel"
    assert url.path == "/zproxy"
    hosts = [tuple(h.split(":")) for h in url.netloc.split(",")]
    assert [(h, int(p)) for h, p in hosts] == sentinel_set.sentinel_addresses
    assert len(hosts) == 3
    assert all(h == "127.0.0.1" for h, _ in hosts)


async def test_a_client_finds_the_primary_and_a_replica_acknowledges(
    sentinel_set: SentinelSet, sentinel: Sentinel
) -> None:
    primary = sentinel.master_for("zproxy")
    assert await sentinel.discover_master("zproxy") == sentinel_set.data_nodes[0].address
    await primary.set("greeting", "hello")
    assert await primary.execute_command("WAIT", 1, 2000) == 1
    replica = sentinel.slave_for("zproxy")
    assert await replica.get("greeting") == b"hello"
    with pytest.raises(ReadOnlyError):
        await replica.set("greeting", "not on a replica")
    await primary.aclose()
    await replica.aclose()


async def test_after_kill_9_of_the_primary_a_client_reaches_the_promoted_replica(
    sentinel_set: SentinelSet, sentinel: Sentinel
) -> None:
    primary = sentinel.master_for("zproxy")
    for i in range(50):
        await primary.rpush("writes", f"w{i}")
    assert await primary.execute_command("WAIT", 1, 2000) == 1

    old = await asyncio.to_thread(sentinel_set.kill_primary)
    assert not sentinel_set.node_at(old).running()
    new = await asyncio.to_thread(sentinel_set.wait_for_promotion, old)
    assert new != old

    async def written_on_new_primary() -> bool:
        try:
            await primary.rpush("writes", "after")
        except (RedisConnectionError, TimeoutError):
            return False  # the pool re-asks the sentinels on its next connection
        return True

    await eventually(written_on_new_primary, what="a write through the same client")
    assert await sentinel.discover_master("zproxy") == new
    assert await primary.lrange("writes", 0, -1) == [f"w{i}".encode() for i in range(50)] + [
        b"after"
    ]
    await primary.aclose()


async def test_waitaof_on_the_primary_confirms_local_and_replica_fsync(
    sentinel_set: SentinelSet, redis_binaries: Binaries
) -> None:
    if not redis_binaries.has_waitaof:
        pytest.skip(
            f"{redis_binaries.server} is {'.'.join(map(str, redis_binaries.version))}: "
            "WAITAOF needs Redis >= 7.2 or Valkey"
        )
    host, port = sentinel_set.primary_address()
    client = aioredis.Redis(host=host, port=port)
    await client.set("durable", "yes")
    assert await client.execute_command("WAITAOF", 1, 1, 2000) == [1, 1]
    await client.aclose()


def test_stop_ends_every_process_it_started(tmp_path: Path, redis_binaries: Binaries) -> None:
    sentinels = SentinelSet(tmp_path / "s", binaries=redis_binaries)
    with sentinels:
        pids = [node.pid for node in sentinels.nodes]
        assert len(pids) == 5
        assert all(node.running() for node in sentinels.nodes)
    assert not any(node.running() for node in sentinels.nodes)
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)


def test_a_server_that_cannot_start_fails_clearly_and_leaves_nothing_running(
    tmp_path: Path, redis_binaries: Binaries
) -> None:
    broken = Binaries("/bin/false", redis_binaries.cli, redis_binaries.version)
    sentinels = SentinelSet(tmp_path / "s", binaries=broken)
    with pytest.raises(RedisSetError, match=r"exited at start-up .*redis\.log"):
        sentinels.start(timeout=10)
    assert not any(node.running() for node in sentinels.nodes)
