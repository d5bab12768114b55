"""The Cluster fixture is a real one: three primaries share the slots, keys spread over all
three, and keys with one hash tag stay in one slot (so multi-key commands work on them)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from redis.asyncio.cluster import ClusterNode, RedisCluster

from zproxy.testing.redis_sets import Binaries, ClusterSet, RedisSetError

pytestmark = pytest.mark.slow


@pytest.fixture
async def cluster(cluster_set: ClusterSet) -> AsyncIterator[RedisCluster]:
    client = RedisCluster(
        startup_nodes=[ClusterNode(h, p) for h, p in cluster_set.addresses[:1]],
        socket_timeout=2.0,
    )
    yield client
    await client.aclose()


def test_url_names_every_node(cluster_set: ClusterSet) -> None:
    url = urlsplit(cluster_set.url)
    assert url.scheme == "redis+cluster"
    hosts = [h.split(":") for h in url.netloc.split(",")]
    assert [("127.0.0.1", int(p)) for _, p in hosts] == cluster_set.addresses
    assert len(hosts) == 3


async def test_keys_spread_over_the_three_primaries(
    cluster_set: ClusterSet, cluster: RedisCluster
) -> None:
    primaries = cluster_set.primaries()
    assert len(primaries) == 3
    for i in range(60):
        await cluster.set(f"account:{i}", str(i))
    counts = {node.port: node.command("DBSIZE") for node in primaries}
    assert all(isinstance(n, int) and n > 0 for n in counts.values()), counts
    assert sum(int(str(n)) for n in counts.values()) == 60
    assert {cluster.get_node_from_key(f"account:{i}").port for i in range(60)} == set(counts)
    # Discovered from one startup node, the client knows every primary.
    assert {n.port for n in cluster.get_primaries()} == set(counts)
    assert await cluster.get("account:41") == b"41"


async def test_one_hash_tag_is_one_slot_so_multi_key_commands_work(
    cluster: RedisCluster,
) -> None:
    keys = [f"{{account:7}}:{part}" for part in ("entry", "meta", "lock")]
    assert len({cluster.keyslot(k) for k in keys}) == 1
    await cluster.mset_nonatomic({k: k for k in keys})
    node = cluster.get_node_from_key(keys[0])
    # MGET is sent as one command to the node owning the slot: no CROSSSLOT error.
    assert await cluster.execute_command("MGET", *keys, target_nodes=node) == [
        k.encode() for k in keys
    ]


def test_a_failed_create_stops_the_nodes_it_started(
    tmp_path: Path, redis_binaries: Binaries
) -> None:
    broken = Binaries(redis_binaries.server, "/bin/false", redis_binaries.version)
    cluster = ClusterSet(tmp_path / "c", binaries=broken)
    with pytest.raises(RedisSetError, match="--cluster create failed"):
        cluster.start(timeout=10)
    assert len(cluster.nodes) == 3
    assert not any(node.running() for node in cluster.nodes)
