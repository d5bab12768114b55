"""The one way zproxy builds a Redis client (the cache/main client and the queue's client),
for one Redis (``redis://``, ``rediss://``, ``unix://``), a Sentinel-monitored primary
(``redis+sentinel://``: ``Sentinel(...).master_for(name)``, which asks the sentinels for the
primary on every new connection and drops connections to a demoted one) or a Cluster
(``redis+cluster://``: ``RedisCluster(startup_nodes=...)``, which follows MOVED/ASK and
re-reads the slot map after a failover).

Every client retries a command that failed on a connection error or timeout once, on a fresh
connection, after a short exponential backoff (redis-py's ``Retry``: the failed connection is
disconnected and the command re-sent), and health-checks a connection idle longer than
``HEALTH_CHECK_INTERVAL`` before using it. So a pooled connection left dead by a Redis restart
costs one retry, never a 503.

Retrying a command that may have run is safe for every command zproxy sends: cache writes
overwrite, the queue's enqueue is deduped on its idempotency key, its outcome scripts are
fenced by the claim's token and ``FINISH`` answers 1 again for the claim that finished it.

A ``RedisCluster`` is handed out typed as ``Redis``: it has the same command methods, and the
few places that differ (pipelines with ``target_nodes``, per-primary scans) ask ``is_cluster``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Final, cast

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from zproxy.config.redis_url import RedisTarget, parse_redis_url
from zproxy.store.sends import TracedRetry

#: Seconds a pooled connection may sit idle before it is PINGed ahead of its next command.
HEALTH_CHECK_INTERVAL: Final = 2
#: Retries after the first failure (each on a fresh connection).
RETRIES: Final = 1


def retry_policy() -> Retry:
    """One retry, 50 ms then doubling, capped at 0.5 s; it tells ``store.sends`` whether a
    failed call may have reached Redis."""
    return TracedRetry(ExponentialBackoff(cap=0.5, base=0.05), RETRIES)


def is_cluster(client: object) -> bool:
    return isinstance(client, RedisCluster)


async def warm(client: aioredis.Redis) -> None:
    """On a Cluster, read the slot map once, before the first concurrent commands: redis-py's
    lazy first initialisation, raced by several commands at once (under uvloop), failed some
    of them with ``ConnectionError``. A Cluster not reachable yet is left to initialise on its
    first command (zproxy starts unready); other clients need nothing."""
    if isinstance(client, RedisCluster):
        with contextlib.suppress(RedisError, OSError):
            await client.initialize()


def redis_client(
    url: str,
    *,
    socket_timeout: float,
    connect_timeout: float,
    max_connections: int,
    pool_wait: float,
) -> aioredis.Redis:
    """A client for ``url``. One Redis: a blocking pool, where under load a caller waits up to
    ``pool_wait`` for a connection (redis-py's default pool refuses the command past
    ``max_connections``). Sentinel and Cluster use redis-py's own pools."""
    target = parse_redis_url(url)
    common: dict[str, Any] = {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": connect_timeout,
        "retry": retry_policy(),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
        "health_check_interval": HEALTH_CHECK_INTERVAL,
    }
    if target.mode == "sentinel":
        return _sentinel_client(target, common, max_connections)
    if target.mode == "cluster":
        return _cluster_client(target, common, max_connections)
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=pool_wait, **common
    )
    return aioredis.Redis.from_pool(pool)


def _sentinel_client(
    target: RedisTarget, common: dict[str, Any], max_connections: int
) -> aioredis.Redis:
    tls: dict[str, Any] = {"ssl": True} if target.tls else {}
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        list(target.hosts),
        sentinel_kwargs={
            "socket_timeout": common["socket_timeout"],
            "socket_connect_timeout": common["socket_connect_timeout"],
            **tls,
        },
    )
    client = sentinel.master_for(
        target.master_name,
        redis_class=_SentinelRedis,
        username=target.username,
        password=target.password,
        db=target.db,
        max_connections=max_connections,
        **tls,
        **common,
    )
    client.manager = sentinel
    return cast(aioredis.Redis, client)


class _SentinelRedis(aioredis.Redis):
    """The primary's client; closing it also closes its connections to the sentinels."""

    manager: Sentinel | None = None

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        if self.manager is not None:
            await self.manager.aclose()


def _cluster_client(
    target: RedisTarget, common: dict[str, Any], max_connections: int
) -> aioredis.Redis:
    cluster = RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in target.hosts],
        username=target.username,
        password=target.password,
        ssl=target.tls,
        max_connections=max_connections,
        require_full_coverage=False,
        **common,
    )
    return cast(aioredis.Redis, cluster)


def raise_if_cancelled() -> None:
    """Re-raise a cancellation that was swallowed. redis-py's ``get_message(timeout=...)`` can
    lose a ``cancel()`` that lands as its own timeout fires (Python 3.11's ``asyncio.timeout``
    turns both into one ``TimeoutError``, which redis-py answers with None). A listening loop
    calls this after each wait, so that stopping it never hangs."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
