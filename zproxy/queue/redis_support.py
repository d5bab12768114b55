"""Small Redis pieces of the queue: its client (no retries, a waiting pool), raw commands,
and the mapping of redis-py errors to ``StoreUnavailable`` / ``NotDurable``."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError

from zproxy.errors import NotDurable, StoreUnavailable


async def command(client: Any, *args: Any) -> Any:
    """A raw command (redis-py leaves ``execute_command`` untyped)."""
    return await client.execute_command(*args)


def queue_redis_client(
    url: str,
    *,
    socket_timeout: float = 5.0,
    connect_timeout: float = 2.0,
    max_connections: int = 64,
    pool_wait: float = 2.0,
) -> aioredis.Redis:
    """A client for the queue: explicit timeouts, no automatic retries, and a pool that makes
    a burst of writes wait up to ``pool_wait`` for a connection (redis-py's default pool
    refuses the 101st concurrent command, which turned a burst of writes into 503s)."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=pool_wait,
        socket_timeout=socket_timeout,
        socket_connect_timeout=connect_timeout,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=30,
    )
    return aioredis.Redis.from_pool(pool)


def sha_hex(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def opt_float(value: Any) -> float | None:
    return None if value in (None, b"", "") else float(text(value))


def _config_value(reply: Any) -> str:
    """The value of a ``CONFIG GET name`` reply (a [name, value] list, or a dict in RESP3)."""
    if isinstance(reply, dict):
        values = list(reply.values())
    elif isinstance(reply, list | tuple):
        values = list(reply[1:2])
    else:
        return ""
    return text(values[0]).lower() if values else ""


def fsync_always(appendonly: Any, appendfsync: Any) -> bool:
    """Both ``CONFIG GET`` replies say every write is fsynced before it is acknowledged."""
    return _config_value(appendonly) == "yes" and _config_value(appendfsync) == "always"


def waitaof_confirmed(reply: Any) -> bool:
    """WAITAOF answers [local fsyncs, replica fsyncs]; we need >= 1 local."""
    return isinstance(reply, list | tuple) and bool(reply) and int(reply[0]) >= 1


@contextlib.asynccontextmanager
async def mapped_errors() -> AsyncIterator[None]:
    try:
        yield
    except ResponseError as exc:
        if "WAITAOF" in str(exc):
            raise NotDurable(f"WAITAOF refused: {exc}") from exc
        raise StoreUnavailable(f"redis refused: {exc}") from exc
    except RedisError as exc:
        raise StoreUnavailable(f"redis unavailable: {type(exc).__name__}") from exc
