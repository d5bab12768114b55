"""The collaborators one running zproxy shares, built once by ``zproxy.app`` (the composition
root) and handed to the edges. Nothing here creates anything: it only holds references."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis

from zproxy.clock import Clock
from zproxy.config import Settings
from zproxy.errors import StoreUnavailable
from zproxy.observability.metrics import Metrics
from zproxy.upstream.client import UpstreamClient

if TYPE_CHECKING:
    from zproxy.identity import Identities
    from zproxy.policy.keys import Hasher
    from zproxy.store.cache import CacheStore
    from zproxy.store.coalesce import Coalescer
    from zproxy.upstream.breaker import BreakerSet
    from zproxy.upstream.gateway import Gateway
    from zproxy.writes_service import WriteService


@dataclass(slots=True)
class Services:
    settings: Settings
    metrics: Metrics
    clock: Clock
    upstream: UpstreamClient
    redis: Redis
    hasher: Hasher
    identities: Identities
    cache: CacheStore
    coalescer: Coalescer
    breakers: BreakerSet
    gateway: Gateway
    writes: WriteService | None = None
    #: Async checks returning a reason when zproxy is not ready (for /readyz).
    readiness_checks: list[Callable[[], Awaitable[str | None]]] = field(default_factory=list)
    #: Called before /metrics renders, to refresh gauges read from Redis.
    metrics_refreshers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    #: Awaited in reverse order at shutdown (background loops).
    stoppers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    #: Background tasks (revalidations) kept referenced until they finish.
    background: set[asyncio.Task[Any]] = field(default_factory=set)


async def invalidate(services: Services, tags: list[str]) -> int:
    """After a successful write (live or replayed) or a callout: every identity's cached
    entries under ``tags`` are soft-purged, since the data changed for all who can see it.
    They are fetched again while Zuora answers and still served stale-if-error while it is
    down (better old data, marked so, than an error). Best effort: with Redis down they
    expire by their TTL. Tenants are not told apart; over-purging only costs a fetch."""
    try:
        return await services.cache.invalidate_tags(tags)
    except StoreUnavailable:
        services.metrics.on_redis_error("cache_purge")
        return 0
