"""The one way zproxy builds a Redis client (the cache/main client and the queue's client).

Every client retries a command that failed on a connection error or timeout once, on a fresh
connection, after a short exponential backoff (redis-py's ``Retry``: the failed connection is
disconnected and the command re-sent), and health-checks a connection idle longer than
``HEALTH_CHECK_INTERVAL`` before using it. So a pooled connection left dead by a Redis restart
costs one retry, never a 503.

Retrying a command that may have run is safe for every command zproxy sends: cache writes
overwrite, the queue's enqueue is deduped on its idempotency key, its outcome scripts are
fenced by the claim's token and ``FINISH`` answers 1 again for the claim that finished it.
"""

from __future__ import annotations

from typing import Final

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

#: Seconds a pooled connection may sit idle before it is PINGed ahead of its next command.
HEALTH_CHECK_INTERVAL: Final = 2
#: Retries after the first failure (each on a fresh connection).
RETRIES: Final = 1


def retry_policy() -> Retry:
    """One retry, 50 ms then doubling, capped at 0.5 s."""
    return Retry(ExponentialBackoff(cap=0.5, base=0.05), RETRIES)


def redis_client(
    url: str,
    *,
    socket_timeout: float,
    connect_timeout: float,
    max_connections: int,
    pool_wait: float,
) -> aioredis.Redis:
    """A client on a blocking pool: under load a caller waits up to ``pool_wait`` for a
    connection (redis-py's default pool refuses the command past ``max_connections``)."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=pool_wait,
        socket_timeout=socket_timeout,
        socket_connect_timeout=connect_timeout,
        retry=retry_policy(),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        health_check_interval=HEALTH_CHECK_INTERVAL,
    )
    return aioredis.Redis.from_pool(pool)
