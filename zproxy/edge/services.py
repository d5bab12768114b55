"""The collaborators one running zproxy shares, built once by ``zproxy.app`` (the composition
root) and handed to the edges. Nothing here creates anything: it only holds references."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis

from zproxy.clock import Clock
from zproxy.config.model import Settings
from zproxy.observability.metrics import Metrics
from zproxy.upstream.client import UpstreamClient

if TYPE_CHECKING:
    from zproxy.edge.identity import Identities
    from zproxy.policy.keys import Hasher
    from zproxy.queue.service import WriteService
    from zproxy.store.cache import CacheStore
    from zproxy.store.coalesce import Coalescer
    from zproxy.upstream.breaker import BreakerSet
    from zproxy.upstream.gateway import Gateway


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
