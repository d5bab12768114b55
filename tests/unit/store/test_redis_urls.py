"""``ZPROXY_REDIS_URL``: which topology each URL names, and the one-line refusal of a bad one."""

from __future__ import annotations

import pytest
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.sentinel import SentinelConnectionPool

from zproxy.config.load import load_settings
from zproxy.config.redis_url import parse_redis_url
from zproxy.errors import ConfigError
from zproxy.store.connect import redis_client


@pytest.mark.parametrize(
    ("url", "mode", "hosts", "master", "tls"),
    [
        ("embedded", "embedded", (), "", False),
        ("redis://h:6379/0", "standalone", (), "", False),
        ("unix:///tmp/r.sock", "standalone", (), "", False),
        (
            "redis+sentinel://a:26379,b:26380/zp",
            "sentinel",
            (("a", 26379), ("b", 26380)),
            "zp",
            False,
        ),
        ("rediss+sentinel://u:p@a:1/zp/2", "sentinel", (("a", 1),), "zp", True),
        (
            "redis+cluster://a:7000,b:7001,c:7002",
            "cluster",
            (("a", 7000), ("b", 7001), ("c", 7002)),
            "",
            False,
        ),
        ("rediss+cluster://[::1]:7000", "cluster", (("::1", 7000),), "", True),
    ],
)
def test_each_url_names_its_topology(
    url: str, mode: str, hosts: tuple[tuple[str, int], ...], master: str, tls: bool
) -> None:
    target = parse_redis_url(url)
    assert (target.mode, target.hosts, target.master_name, target.tls) == (mode, hosts, master, tls)


def test_sentinel_credentials_and_db_are_read_and_never_displayed() -> None:
    target = parse_redis_url("redis+sentinel://app:s%40cret@a:1,b:2/main/3")
    assert (target.username, target.password, target.db) == ("app", "s@cret", 3)
    assert "cret" not in target.display
    assert target.display == "redis+sentinel://a:1,b:2/main"


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://a:1,b:2",  # no master name
        "redis+sentinel://a:1/",  # empty master name
        "redis+sentinel://a/zp",  # no port
        "redis+sentinel://a:1,,b:2/zp",  # empty host
        "redis+sentinel://a:99999/zp",  # port out of range
        "redis+sentinel://a:1/zp/x",  # db not a number
        "redis+cluster://a:1/0",  # a cluster has one database
        "redis+cluster://",  # no hosts
        "memcached://a:1",
        "redis+sentinal://a:1/zp",
    ],
)
def test_a_malformed_url_stops_start_up_naming_the_setting(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, env={"ZPROXY_REDIS_URL": url})
    (problem,) = [p for p in caught.value.problems if "redis" in p.lower()]
    assert "ZPROXY_REDIS_URL" in problem or "redis.url" in problem
    assert "\n" not in problem


def test_the_password_of_a_refused_url_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, env={"ZPROXY_REDIS_URL": "redis+sentinel://u:hunter2@a:1"})
    assert "hunter2" not in " ".join(caught.value.problems)


def test_durability_setting_is_local_or_replicated() -> None:
    settings = load_settings(None, env={"ZPROXY_QUEUE_DURABILITY": "replicated"})
    assert settings.queue.durability == "replicated"
    assert load_settings(None, env={}).queue.durability == "local"
    with pytest.raises(ConfigError) as caught:
        load_settings(None, env={"ZPROXY_QUEUE_DURABILITY": "paranoid"})
    assert any("ZPROXY_QUEUE_DURABILITY" in p for p in caught.value.problems)


async def test_sentinel_and_cluster_urls_build_their_clients() -> None:
    sentinel = redis_client(
        "redis+sentinel://127.0.0.1:1,127.0.0.1:2/zp",
        socket_timeout=1,
        connect_timeout=1,
        max_connections=4,
        pool_wait=1,
    )
    assert isinstance(sentinel.connection_pool, SentinelConnectionPool)
    assert sentinel.connection_pool.service_name == "zp"
    await sentinel.aclose()
    cluster = redis_client(
        "redis+cluster://127.0.0.1:1,127.0.0.1:2",
        socket_timeout=1,
        connect_timeout=1,
        max_connections=4,
        pool_wait=1,
    )
    assert isinstance(cluster, RedisCluster)
    await cluster.aclose()
