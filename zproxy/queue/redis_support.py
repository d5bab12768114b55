"""Small Redis pieces of the queue: its client (``zproxy.store.connect``: one retry on a fresh
connection, a waiting pool), raw commands and reply parsing. Redis errors are mapped by
``zproxy.store._errors.mapped``, the one mapping."""

from __future__ import annotations

import hashlib
from typing import Any

import redis.asyncio as aioredis

from zproxy.store.connect import redis_client


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
    """A client for the queue: explicit timeouts, one retry of a command that failed on a
    dead connection (a Redis restart must not fail an outcome's record), and a pool that
    makes a burst of writes wait up to ``pool_wait`` for a connection."""
    return redis_client(
        url,
        socket_timeout=socket_timeout,
        connect_timeout=connect_timeout,
        max_connections=max_connections,
        pool_wait=pool_wait,
    )


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


def waitaof_confirmed(reply: Any, replicated: bool = False) -> bool:
    """WAITAOF answers [local fsyncs, replica fsyncs]; we need >= 1 local (and, replicated,
    >= 1 replica)."""
    if not isinstance(reply, list | tuple) or len(reply) < 1 or int(reply[0]) < 1:
        return False
    return not replicated or (len(reply) > 1 and int(reply[1]) >= 1)
