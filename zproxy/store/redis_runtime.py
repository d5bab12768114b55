"""The Redis connection of one running zproxy: the embedded server's lifecycle and the shared
cache secret.

Part of the store layer; ``zproxy.app`` (the composition root) opens the connection here once
and hands the client to everything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator

import structlog
from redis.asyncio import Redis

from zproxy.config.model import Settings
from zproxy.errors import ConfigError
from zproxy.store.connect import redis_client, warm
from zproxy.store.embedded import RedisServer

log = structlog.get_logger("zproxy.app")
_SECRET_KEY = "zproxy:cache-secret"  # noqa: S105 - a Redis key name, not a secret


@contextlib.asynccontextmanager
async def redis_connection(settings: Settings) -> AsyncIterator[tuple[Redis, str]]:
    """Start the embedded redis-server when asked to, connect, and clean up both."""
    embedded: RedisServer | None = None
    url = settings.redis.url
    if url == "embedded":
        embedded = RedisServer(settings.data_dir.absolute() / "redis")
        await asyncio.to_thread(embedded.start)
        url = embedded.url
        log.info("embedded_redis_started", binary=embedded.binary, socket=str(embedded.socket_path))
    timeout = settings.redis.socket_timeout
    # Blocking pool: under load callers wait briefly for a connection instead of failing;
    # a command on a connection a Redis restart left dead is retried once on a fresh one.
    client = redis_client(
        url,
        socket_timeout=timeout,
        connect_timeout=timeout,
        max_connections=256,
        pool_wait=timeout,
    )
    await warm(client)
    watcher = asyncio.create_task(_keep_running(embedded)) if embedded is not None else None
    try:
        yield client, url
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        await client.aclose()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


async def _keep_running(embedded: RedisServer) -> None:
    """The embedded redis-server died (OOM killer, kill -9): start it again on the same data
    (the AOF brings the queue back) instead of staying unready until zproxy is restarted."""
    backoff = 0.5
    while True:
        await asyncio.sleep(1.0)
        if embedded.running():
            backoff = 0.5
            continue
        log.error("embedded_redis_exited", code=embedded.proc.returncode if embedded.proc else None)
        try:
            await asyncio.to_thread(embedded.start)
            log.info("embedded_redis_restarted")
        except ConfigError as exc:
            log.error("embedded_redis_restart_failed", reason="; ".join(exc.problems))
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)


async def cache_secret(settings: Settings, redis: Redis) -> bytes:
    """The per-deployment key for identity hashes: configured, else shared through Redis."""
    if settings.cache.secret:
        return settings.cache.secret.encode()
    try:
        await redis.set(_SECRET_KEY, secrets.token_hex(32), nx=True)
        value = await redis.get(_SECRET_KEY)
        if value:
            return value if isinstance(value, bytes) else str(value).encode()
    except Exception as exc:
        log.warning("cache_secret_unshared", error=type(exc).__name__)
    return secrets.token_bytes(32)
